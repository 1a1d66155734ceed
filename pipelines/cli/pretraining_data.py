"""`bertprep pretraining-data`: documents -> masked-LM / next-sentence TFRecords, one folder per length."""
from __future__ import annotations

import argparse
import dataclasses

from apache_beam.io.filesystems import FileSystems

from formats.corpus_files import DOCUMENTS_FILES
from formats.pretraining_data import METADATA_FILE, DatasetMetadata
from pipelines import progress
from pipelines.cli.beam_command import (
    add_handoff_flag,
    check_output_writable,
    check_worker_readable,
    distribution,
    run_pipeline,
)
from pipelines.cli.flags import add_bool_flag, add_lower_case_flag, add_overwrite_argument, add_vocab_file_flag
from pipelines.errors import UsageError
from pipelines.handoff import handoff_space
from pipelines.output_folder import StageRun
from pipelines.pretraining import pipeline as pretraining_pipeline
from pipelines.pretraining.datasets import written_metadata
from pipelines.pretraining.inputs import BERT_TEXT, resolve_inputs
from pipelines.pretraining.instances import InstanceOptions
from pipelines.pretraining.options import PretrainingDataOptions
from pipelines.pretraining.tokens import load_tokenizer

HELP = "documents -> masked-LM / next-sentence TFRecords (OUT/seq128, OUT/seq512, ...)"
DESCRIPTION = (
    "Tokenizes the corpus stage's documents (or reference-format text given as bert-text:PATTERN) once and "
    "writes, for every --lengths entry, OUT/seqL/part-*.tfrecord in the schema the reference run_pretraining.py "
    "parses, plus OUT/seqL/metadata.json. Deterministic: the same input and --seed give byte-identical shards "
    "on any runner and worker count."
)
DEFAULT_LENGTHS = "128:20,512:80"
DEFAULT_DUPE_FACTOR = 5
# create_pretraining_data.py's defaults, used with its interface (--output_file).
REFERENCE_LENGTH = (128, 20)
REFERENCE_DUPE_FACTOR = 10


def parse_lengths(text: str) -> list[tuple[int, int]]:
    """"128:20,512:80" -> [(128, 20), (512, 80)]."""
    lengths = []
    for item in text.split(","):
        try:
            size, predictions = (int(part) for part in item.split(":"))
        except ValueError:
            raise UsageError(f"--lengths entry {item!r} is not MAX_SEQ_LENGTH:MAX_PREDICTIONS (e.g. 128:20)") from None
        if size < 5 or predictions < 1 or predictions > size:
            raise UsageError(f"--lengths entry {item!r}: need max_seq_length >= 5 and 1 <= max_predictions <= it")
        lengths.append((size, predictions))
    if len({size for size, _ in lengths}) != len(lengths):
        raise UsageError(f"--lengths {text!r} names a length twice")
    return lengths


def resolve_lengths(args: argparse.Namespace) -> list[tuple[int, int]]:
    """--lengths, or the one length of --max_seq_length/--max_predictions_per_seq (the reference's flags)."""
    single = args.max_seq_length is not None or args.max_predictions_per_seq is not None
    if single and args.lengths:
        raise UsageError("give either --lengths or --max_seq_length/--max_predictions_per_seq, not both")
    if single or (not args.lengths and getattr(args, "output_file", None)):
        size = REFERENCE_LENGTH[0] if args.max_seq_length is None else args.max_seq_length
        predictions = REFERENCE_LENGTH[1] if args.max_predictions_per_seq is None else args.max_predictions_per_seq
        return parse_lengths(f"{size}:{predictions}")
    return parse_lengths(args.lengths or DEFAULT_LENGTHS)


def resolve_dupe_factor(args: argparse.Namespace) -> int:
    if args.dupe_factor is not None:
        return args.dupe_factor
    return REFERENCE_DUPE_FACTOR if getattr(args, "output_file", None) else DEFAULT_DUPE_FACTOR


def add_pretraining_arguments(parser: argparse.ArgumentParser) -> None:
    """The instance flags, shared with `bertprep run`."""
    group = parser.add_argument_group("instances (the reference create_pretraining_data.py's names and defaults, "
                                      "except where said)")
    group.add_argument("--lengths", metavar="L:P,...",
                       help=f"max_seq_length:max_predictions_per_seq of every dataset to write; default "
                       f"{DEFAULT_LENGTHS} (with --output_file: {REFERENCE_LENGTH[0]}:{REFERENCE_LENGTH[1]})")
    group.add_argument("--max_seq_length", type=int, metavar="L",
                       help=f"write one length (the reference's flag; default {REFERENCE_LENGTH[0]}); "
                       "instead of --lengths")
    group.add_argument("--max_predictions_per_seq", type=int, metavar="P",
                       help=f"masked positions at most, with --max_seq_length (default {REFERENCE_LENGTH[1]})")
    group.add_argument("--dupe_factor", type=int,
                       help=f"rounds over the corpus, each with fresh masks. Default {REFERENCE_DUPE_FACTOR} with "
                       f"--output_file, as the reference; {DEFAULT_DUPE_FACTOR} with --output, where two lengths "
                       "are written from one run (half the time and disk; the BERT README's own example uses 5)")
    group.add_argument("--masked_lm_prob", type=float, default=0.15)
    group.add_argument("--short_seq_prob", type=float, default=0.1,
                       help="share of documents-rounds with a random shorter target length")
    add_bool_flag(group, "--whole_word_mask", true_aliases=("--do_whole_word_mask",),
                  help="mask whole words (Chinese words found with jieba); 80/10/10 decided per word (the "
                  "reference's later --do_whole_word_mask is accepted too)")
    add_lower_case_flag(group, help="lowercase and strip accents (uncased vocab); --do_lower_case=false for a "
                        "cased vocab")
    group.add_argument("--seed", "--random_seed", dest="seed", type=int, default=12345,
                       help="every random choice derives from it (--random_seed: the reference's name)")
    add_bool_flag(group, "--no_nsp",
                  help="no next-sentence prediction: sequences packed from consecutive sentences to the full "
                  "length (RoBERTa's FULL-SENTENCES), segment_ids and next_sentence_labels all 0")
    group.add_argument("--num_shards", type=int, default=0,
                       help="TFRecord shards per length; 0 = about 64 MB each")
    group.add_argument("--compression", choices=("none", "gzip"), default="none")
    add_handoff_flag(group, "documents, requests and instances", "OUT/.bertprep-pretraining-data-*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", action="append", metavar="PATH",
                    help=f"the corpus stage's output folder or {DOCUMENTS_FILES.glob} files (glob, gs://), or "
                    "bert-text:PATTERN for reference-format text (a sentence per line, blank line between "
                    "documents); repeatable")
    io.add_argument("--input_file", action="append", metavar="FILE,...",
                    help="reference-format text files, comma-separated, globs allowed (the reference's flag: "
                    "the same as --input bert-text:FILE for each)")
    add_vocab_file_flag(io, required=True, help="vocab.txt (e.g. from bertprep vocab)")
    io.add_argument("--output", help="output folder; gets one seqL/ folder per length")
    io.add_argument("--output_file", metavar="FILE,...",
                    help="instead of --output, as the reference: write one length's instances to these TFRecord "
                    "files (comma-separated, in one folder, one shard each) and metadata.json beside them")
    add_overwrite_argument(io)
    add_pretraining_arguments(parser)


def pretraining_options(args: argparse.Namespace, output: str, vocab_path: str, sha256: str,
                        input_stats: dict) -> PretrainingDataOptions:
    if not 0 < args.masked_lm_prob < 1 or not 0 <= args.short_seq_prob <= 1:
        raise UsageError("--masked_lm_prob must be in (0, 1) and --short_seq_prob in [0, 1]")
    if resolve_dupe_factor(args) < 1 or args.num_shards < 0:
        raise UsageError("--dupe_factor must be >= 1 and --num_shards >= 0")
    lengths = tuple(
        InstanceOptions(size, predictions, args.masked_lm_prob, args.short_seq_prob, args.whole_word_mask,
                        nsp=not args.no_nsp)
        for size, predictions in resolve_lengths(args))
    return PretrainingDataOptions(
        output=output.rstrip("/"), lengths=lengths, dupe_factor=resolve_dupe_factor(args), seed=args.seed,
        do_lower_case=args.do_lower_case, num_shards=args.num_shards,
        compression=None if args.compression == "none" else args.compression,
        vocab_file=vocab_path, vocab_sha256=sha256, input_stats=input_stats)


def write_datasets(args: argparse.Namespace, beam_args: list[str], inputs: list[str], vocab_path: str,
                   output: str, shard_files: tuple[str, ...] = ()) -> list[DatasetMetadata]:
    """Runs the stage; returns the metadata of every dataset written (none when only a template was written).

    With `shard_files` (the reference's --output_file) the one length's shards get these names in `output`.
    """
    parquet, text, input_stats, sizes = resolve_inputs(inputs)
    # The vocab is read here and travels inside the pipeline, so only the documents must be on workers' reach.
    tokenizer, sha256 = load_tokenizer(vocab_path, args.do_lower_case)
    options = pretraining_options(args, output, vocab_path, sha256, input_stats)
    options = dataclasses.replace(options, inputs=sizes, shard_files=shard_files)
    check_worker_readable(beam_args, parquet + text, "--input")
    check_worker_readable(beam_args, [options.output], "--output")
    check_output_writable(options.output)
    folders = options.folders()
    with StageRun("pretraining-data", options.output, options.outputs(), args.overwrite) as stage, \
            handoff_space(stage.staging.work) as handoff_folder:
        pending = {output.folder for output in stage.pending}
        todo = dataclasses.replace(options, lengths=tuple(length for length in folders if folders[length] in pending),
                                   **distribution(args.handoff, beam_args, handoff_folder))
        if pending and not run_pipeline(beam_args, lambda pipeline: pretraining_pipeline.build_pipeline(
                pipeline, todo, tokenizer, parquet, text, stage.staging), "pretraining-data",
                progress.corpus_totals(input_stats, inputs)):
            return []
    written = {folder: written_metadata(folder) for folder in folders.values()}
    for folder, metadata in written.items():
        if folder not in pending:
            continue  # complete before this run, and said so
        counters = metadata.counters
        where = ", ".join(f"{folder}/{name}" for name in shard_files) or folder
        print(f"wrote {where}: {metadata.num_instances} instances in {metadata.num_shards} shards from "
              f"{counters.get('documents', 0)} documents ({counters.get('tokens', 0)} tokens); "
              f"dropped {counters.get('documents_dropped_no_tokens', 0)} documents and "
              f"{counters.get('sentences_dropped_no_tokens', 0)} sentences without tokens")
    written = list(written.values())
    if not any(metadata.num_instances for metadata in written):
        raise UsageError(f"no instances were made: the input had {written[0].counters.get('documents', 0)} "
                         "documents with tokens (see metadata.json counters)")
    return written


def write_output_files(args: argparse.Namespace, beam_args: list[str], inputs: list[str]) -> list[DatasetMetadata]:
    """The reference's interface: one length's instances in the named files (comma-separated, one shard
    each, in one folder) and metadata.json beside them."""
    targets = [path for path in args.output_file.split(",") if path]
    folders = {FileSystems.split(path)[0] for path in targets}
    names = tuple(FileSystems.split(path)[1] for path in targets)
    if len(folders) != 1 or len(set(names)) != len(names) or METADATA_FILE in names:
        raise UsageError(f"--output_file: give distinct files in one folder, none named {METADATA_FILE} (it is "
                         "written beside them)")
    if len(resolve_lengths(args)) != 1:
        raise UsageError("--output_file holds one length: give --max_seq_length and --max_predictions_per_seq, "
                         "or --output FOLDER to write several lengths")
    if args.num_shards not in (0, len(targets)):
        raise UsageError(f"--output_file names {len(targets)} files, one shard each; --num_shards "
                         f"{args.num_shards} contradicts it (leave it out)")
    one_shard_each = argparse.Namespace(**{**vars(args), "num_shards": len(targets)})
    return write_datasets(one_shard_each, beam_args, inputs, args.vocab_file, folders.pop() or ".", names)


def stage_inputs(args: argparse.Namespace) -> list[str]:
    """--input values plus every pattern of --input_file, as bert-text: inputs."""
    inputs = [*(args.input or []), *(f"{BERT_TEXT}:{pattern}"
                                     for value in args.input_file or [] for pattern in value.split(",") if pattern)]
    if not inputs:
        raise UsageError(f"give --input (a corpus folder or {DOCUMENTS_FILES.glob}) or --input_file (reference-format "
                         "text, as create_pretraining_data.py)")
    return inputs


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    inputs = stage_inputs(args)
    if bool(args.output) == bool(args.output_file):
        raise UsageError("give either --output FOLDER or --output_file FILE[,FILE...] (the reference's form)")
    if args.output_file:
        write_output_files(args, beam_args, inputs)
    else:
        write_datasets(args, beam_args, inputs, args.vocab_file, args.output)
    return 0
