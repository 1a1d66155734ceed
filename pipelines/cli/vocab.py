"""`bertprep vocab`: learn a WordPiece vocabulary, or check one against a model config."""
from __future__ import annotations

import argparse
import dataclasses
import json

from apache_beam.io.filesystems import FileSystems

from formats.corpus_files import DOCUMENTS_FILES
from pipelines import progress, vocab_pipeline
from pipelines.cli.beam_command import (
    add_handoff_flag,
    add_input_arguments,
    check_output_writable,
    check_worker_paths,
    command_parameters,
    distribution,
    input_files,
    read_options,
    run_pipeline,
)
from pipelines.cli.flags import add_lower_case_flag, add_overwrite_argument
from pipelines.errors import UsageError
from pipelines.handoff import handoff_space
from pipelines.output_folder import Output, StageRun, run_identity

HELP = "learn a WordPiece vocabulary (vocab.txt + vocab_stats.json), or --check one"
DESCRIPTION = (
    "Counts words with BERT's basic tokenization across the inputs (Beam) and learns a WordPiece vocabulary "
    "on one worker, or trains SentencePiece on a uniform sample and converts it to WordPiece format. "
    f"Inputs: the corpus stage's documents (parquet:OUT/{DOCUMENTS_FILES.glob}) or any --input format. "
    "With --check VOCAB --bert_config_file CONFIG it validates a vocab file against a model config instead."
)
# BERT's specials; the learned pieces come after them and the unused slots.
_NUM_SPECIALS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = add_input_arguments(parser, required=False)
    add_overwrite_argument(io)
    add_handoff_flag(io, "documents", "OUT/.bertprep-vocab-*")
    learn = parser.add_argument_group("learning")
    learn.add_argument("--vocab_size", type=int, default=30522, help="lines in vocab.txt (BERT-base: 30522)")
    learn.add_argument("--method", choices=vocab_pipeline.METHODS, default="wordpiece",
                       help="wordpiece: learn from distributed word counts; sentencepiece: train SentencePiece "
                       "on a uniform sample of lines and convert its pieces to ## form")
    add_lower_case_flag(learn, help="lowercase and strip accents, as BERT uncased; --nodo_lower_case (or --cased) "
                        "keeps case and accents")
    learn.add_argument("--num_unused", type=int, default=99, help="[unusedN] slots after [PAD], for users to repurpose")
    learn.add_argument("--min_word_count", type=int, default=2, help="words seen fewer times are pruned before learning")
    learn.add_argument("--max_words", type=int, default=2_000_000,
                       help="at most this many distinct words (the most frequent) reach the learner")
    learn.add_argument("--min_char_count", type=int, default=1,
                       help="characters seen at least this often are always in the vocab (with their ## form)")
    learn.add_argument("--sentencepiece_model_type", choices=("unigram", "bpe"), default="unigram")
    learn.add_argument("--sample_lines", type=int, default=1_000_000, help="sentencepiece: lines in the training sample")
    learn.add_argument("--holdout_percent", type=float, default=2.0,
                       help="share of documents held out to measure UNK rate and pieces per word")
    learn.add_argument("--seed", type=int, default=12345, help="seeds the held-out split and the sample")
    check = parser.add_argument_group("checking a vocabulary")
    check.add_argument("--check", metavar="VOCAB", help="validate this vocab file instead of learning one")
    check.add_argument("--bert_config_file", help="with --check: a bert_config.json whose vocab_size must match")


def check_vocab(vocab_path: str, config_path: str | None) -> str:
    """A one-line verdict; raises UsageError saying what to change."""
    from bert_model.tf_env import import_tensorflow

    tf = import_tensorflow()

    from vocab.tokenization import VocabError, load_vocab

    try:
        vocab = load_vocab(vocab_path)
    except VocabError as error:
        raise UsageError(str(error)) from None
    if not config_path:
        return f"{vocab_path}: {len(vocab)} tokens, specials present, no duplicates"
    with tf.io.gfile.GFile(config_path) as handle:
        config_size = json.load(handle).get("vocab_size")
    if config_size != len(vocab):
        raise UsageError(
            f"{vocab_path} has {len(vocab)} tokens but {config_path} says vocab_size {config_size}: "
            "set vocab_size in the config to the vocab's size (a mismatch gives wrong embeddings, or NaNs on TPU)"
        )
    return f"{vocab_path}: {len(vocab)} tokens, matches vocab_size in {config_path}"


def vocab_options(args: argparse.Namespace) -> vocab_pipeline.VocabOptions:
    if args.vocab_size <= args.num_unused + _NUM_SPECIALS:
        raise UsageError(
            f"--vocab_size {args.vocab_size} leaves no room for pieces after {args.num_unused + _NUM_SPECIALS} "
            "special and unused tokens; raise --vocab_size or lower --num_unused"
        )
    if not 0 <= args.holdout_percent < 100:
        raise UsageError("--holdout_percent must be in [0, 100)")
    return vocab_pipeline.VocabOptions(
        output=args.output.rstrip("/"),
        vocab_size=args.vocab_size,
        read=read_options(args),
        method=args.method,
        do_lower_case=args.do_lower_case,
        num_unused=args.num_unused,
        min_word_count=args.min_word_count,
        max_words=args.max_words,
        min_char_count=args.min_char_count,
        sentencepiece_model_type=args.sentencepiece_model_type,
        sample_lines=args.sample_lines,
        holdout_percent=args.holdout_percent,
        seed=args.seed,
        wiki_cleaner=args.wiki_cleaner,
    )


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if args.check:
        print(check_vocab(args.check, args.bert_config_file))
        return 0
    if not args.input or not args.output:
        raise UsageError("give --input and --output to learn a vocabulary (or --check VOCAB to check one)")
    options = vocab_options(args)
    files = input_files(args)
    check_worker_paths(beam_args, files, options.output)
    check_output_writable(options.output)
    output = Output(options.output, vocab_pipeline.STATS_FILE, (vocab_pipeline.VOCAB_FILE,),
                    run_identity("vocab", command_parameters(args), {f.path: f.size for f in files}))
    with StageRun("vocab", options.output, [output], args.overwrite) as stage, \
            handoff_space(stage.staging.work) as handoff_folder:
        made = bool(stage.pending)
        options = dataclasses.replace(options, **distribution(args.handoff, beam_args, handoff_folder))
        if made:
            if not run_pipeline(beam_args, lambda pipeline: vocab_pipeline.build_pipeline(
                    pipeline, files, options, stage.staging, output.run), "vocab", progress.file_totals(files)):
                return 0
            if not FileSystems.exists(f"{options.output}/{vocab_pipeline.STATS_FILE}"):  # nothing learned
                with FileSystems.open(vocab_pipeline.error_stats(stage.staging)) as handle:
                    raise UsageError(f"no vocabulary learned: {json.loads(handle.read())['error']}")
    with FileSystems.open(f"{options.output}/{vocab_pipeline.STATS_FILE}") as handle:
        result = json.loads(handle.read())
    heldout = result["heldout"]
    print(
        f"{'wrote' if made else 'kept'} {options.output}/{vocab_pipeline.VOCAB_FILE} ({result['vocab_size']} tokens, {options.method}, "
        f"learned in {result['learning_seconds']} s from {result['distinct_words']} distinct words); "
        f"{'held-out' if heldout['held_out_documents'] else 'training'} UNK rate {heldout['unk_rate']:.4%}, "
        f"{heldout['pieces_per_word']:.3f} pieces per word"
    )
    return 0
