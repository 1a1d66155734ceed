"""`bertprep pretrain`: pretrain BERT on `bertprep pretraining-data` output, as run_pretraining.py does,
with run_pretraining.py's flags."""
from __future__ import annotations

import argparse
import logging
import time
from typing import TYPE_CHECKING

from bert_model.reference_defaults import REFERENCE_MAX_PREDICTIONS_PER_SEQ, REFERENCE_MAX_SEQ_LENGTH
from pipelines.cli.flags import add_bool_flag, add_vocab_file_flag
from pipelines.cli.training_flags import (
    add_device_arguments,
    add_export_transformers_flag,
    add_loop_arguments,
    export_to_transformers,
    make_strategy,
    precision,
)
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from bert_model.pretraining.files import PretrainingFiles
    from bert_model.transformers_format.folder import TransformersSettings

_log = logging.getLogger(__name__)

HELP = "pretrain BERT (masked LM + next sentence) on OUT/seqL shards, on CPU, GPUs or a TPU"
DESCRIPTION = (
    "Trains a BERT with the reference's losses, AdamW (or LAMB) and learning-rate schedule on a folder that "
    "`bertprep pretraining-data` wrote (--data), or on TFRecord files as run_pretraining.py takes them "
    "(--input_file, also the reference create_pretraining_data.py's), under tf.distribute. run_pretraining.py's "
    "command lines run unchanged. Checkpoints go to --output_dir every --save_checkpoints_steps; running the "
    "same command again resumes exactly where the last one stopped. OUTPUT_DIR/bert_model.ckpt and "
    "bert_config.json are in the reference layout (--init_checkpoint of a later phase, extract-features). Two "
    "phases: train at seq128, then at seq512 with --init_checkpoint pointing at the first phase's --output_dir."
)
# run_pretraining.py's default, where ours is the same.
_REFERENCE_TRAIN_STEPS = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("data and model (run_pretraining.py's flags, and ours)")
    data = io.add_mutually_exclusive_group(required=True)
    data.add_argument("--input_file", metavar="FILE,...",
                      help="TFRecord files, comma-separated, globs allowed (the reference's flag): `bertprep "
                      "pretraining-data` output, or the reference create_pretraining_data.py's, which has no "
                      "metadata.json (then --max_seq_length and --max_predictions_per_seq say its lengths)")
    data.add_argument("--data", metavar="OUT/seqL", help="a `bertprep pretraining-data` folder (metadata.json and "
                      "the shards it lists)")
    io.add_argument("--bert_config_file", metavar="FILE|NAME",
                    help="bert_config.json of the model to train, or a released model's shape by name: "
                    "bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large, or L-<layers>_H-<hidden> "
                    "(layers 2,4,...,12; hidden 128, 256, 512, 768); a name takes its vocab_size from the data's "
                    "metadata.json (or --vocab_file), and the resolved config is written to "
                    "OUTPUT_DIR/bert_config.json (default: the config.json of a transformers folder given as "
                    "--init_checkpoint; required otherwise)")
    io.add_argument("--output_dir", required=True, help="checkpoints, TensorBoard logs and eval results (or gs://)")
    add_export_transformers_flag(io)
    io.add_argument("--init_checkpoint",
                    help="start from these weights (reference layout: a prefix, or a folder such as a previous "
                    "phase's --output_dir; or a transformers BERT folder: config.json, model.safetensors); ignored "
                    "when --output_dir already holds a checkpoint to resume")
    io.add_argument("--max_seq_length", type=int,
                    help="checked against the data; default the data's metadata.json, or for files without one "
                    f"the reference's {REFERENCE_MAX_SEQ_LENGTH}")
    io.add_argument("--max_predictions_per_seq", type=int,
                    help="checked against the data; default the data's metadata.json, or for files without one "
                    f"the reference's {REFERENCE_MAX_PREDICTIONS_PER_SEQ}")
    add_bool_flag(io, "--no_nsp", help="train the masked LM only (needed for data made with --no_nsp)")
    add_bool_flag(io, "--dynamic_masking", help="draw fresh masks for every batch")
    add_vocab_file_flag(io, help="the data's vocab.txt: for --dynamic_masking and --export_transformers (default: "
                        "metadata's vocab_file), and for a --bert_config_file name on files without metadata.json "
                        "(its size is the vocab_size)")

    train = parser.add_argument_group("training (run_pretraining.py's names and defaults, except where said)")
    add_bool_flag(train, "--do_train", default=True,
                  help="train (the reference's default is false, but training is what this command is for; "
                  "--do_train=false --do_eval evaluates only)")
    train.add_argument("--num_train_steps", "--train_steps", dest="num_train_steps", type=int,
                       default=_REFERENCE_TRAIN_STEPS, help="optimizer steps")
    train.add_argument("--train_batch_size", "--batch_size", dest="train_batch_size", type=int, default=32,
                       help="sequences per step and micro-batch, all replicas")
    train.add_argument("--learning_rate", type=float, default=5e-5, help="peak learning rate")
    train.add_argument("--num_warmup_steps", "--warmup_steps", dest="num_warmup_steps", type=int,
                       help="linear warmup steps; default 10%% of --num_train_steps, which is the reference's "
                       "10000 at its default 100000 steps (its fixed 10000 would keep a shorter run warming up "
                       "to its end)")
    train.add_argument("--optimizer", choices=("adamw", "lamb"), default="adamw",
                       help="adamw: the reference's; lamb: for large batches")
    train.add_argument("--accumulation_steps", type=int, default=1, metavar="K",
                       help="micro-batches per step: K times --train_batch_size sequences per update")
    train.add_argument("--save_checkpoints_steps", type=int, default=1000)
    train.add_argument("--keep_checkpoints", type=int, default=5, help="training checkpoints kept")
    add_loop_arguments(train)
    train.add_argument("--seed", type=int, default=12345, help="weights, data order, dropout and masks derive from it")

    add_device_arguments(parser)

    evaluation = parser.add_argument_group("evaluation")
    add_bool_flag(evaluation, "--do_eval", help="evaluate after training; writes OUTPUT_DIR/eval_results.json")
    evaluation.add_argument("--eval_data", metavar="FOLDER|FILE,...",
                            help="data to evaluate on, as --data or --input_file (default: the training data)")
    evaluation.add_argument("--eval_batch_size", type=int, default=8)
    evaluation.add_argument("--max_eval_steps", type=int, default=100, help="eval batches at most")


def _exported_tokenizer(args: argparse.Namespace, files: PretrainingFiles,
                        folder: TransformersSettings | None) -> tuple[str, bool]:
    """The vocab and casing --export_transformers writes: --vocab_file, else the data's metadata.json's vocab and
    casing; without metadata.json, the --init_checkpoint transformers `folder`'s, else lower-cased as the
    reference's default (`init_checkpoint.lower_case`); UsageError for a vocab not found."""
    import tensorflow as tf

    from bert_model.init_checkpoint import lower_case

    metadata = files.metadata
    path = args.vocab_file or (metadata.vocab_file if metadata else folder and folder.vocab_file)
    if not path:
        raise UsageError(f"--export_transformers writes the model's vocab, and {files.location} has no "
                         "metadata.json naming it: give --vocab_file")
    if not tf.io.gfile.exists(path):
        raise UsageError(f"--export_transformers writes the model's vocab; {path} does not exist: give --vocab_file")
    return path, metadata.do_lower_case if metadata else lower_case(None, folder)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other subcommands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.config import ConfigError
    from bert_model.init_checkpoint import init_folder, model_config
    from bert_model.input_pipeline import PretrainingDataError
    from bert_model.pretraining import PretrainingOptions, PretrainingRun
    from bert_model.pretraining.data import data_vocab_size, dynamic_masking_for
    from bert_model.pretraining.files import open_files
    from bert_model.progress import format_duration
    from vocab.tokenization import VocabError

    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    if not (args.do_train or args.do_eval):
        raise UsageError("nothing to do: --do_train=false needs --do_eval")
    if args.eval_data and not args.do_eval:
        raise UsageError("--eval_data needs --do_eval")
    data = args.input_file or args.data
    eval_data = args.eval_data or data
    try:
        files = open_files(data)
        if files.metadata is None:
            _log.info("%s: %d TFRecord files without a metadata.json, read as the reference's with "
                      "max_seq_length %d and max_predictions_per_seq %d", files.location, len(files.paths),
                      *files.lengths(args.max_seq_length, args.max_predictions_per_seq))
        folder = init_folder(args.init_checkpoint)
        config = model_config(args.bert_config_file, folder,
                              lambda: data_vocab_size(files, args.vocab_file, args.bert_config_file))
        exported_tokenizer = _exported_tokenizer(args, files, folder) if args.export_transformers else None
        strategy = make_strategy(args)
        options = PretrainingOptions(
            data_dir=data, output_dir=args.output_dir, train_steps=args.num_train_steps,
            batch_size=args.train_batch_size, learning_rate=args.learning_rate,
            warmup_steps=args.num_train_steps // 10 if args.num_warmup_steps is None else args.num_warmup_steps,
            optimizer=args.optimizer, accumulation_steps=args.accumulation_steps,
            precision=precision(args, strategy),
            init_checkpoint=args.init_checkpoint, steps_per_loop=args.iterations_per_loop,
            save_checkpoints_steps=args.save_checkpoints_steps, keep_checkpoints=args.keep_checkpoints,
            seed=args.seed,
            dynamic_masking=dynamic_masking_for(files, args.vocab_file) if args.dynamic_masking else None,
            next_sentence=not args.no_nsp, jit_compile=args.jit_compile, max_seq_length=args.max_seq_length,
            max_predictions_per_seq=args.max_predictions_per_seq, progress_seconds=args.progress_seconds)
        pretraining = PretrainingRun(config, options, strategy)
        if args.do_eval:  # before training, not after it
            pretraining.check_data(eval_data)
        _log.info("%s on %d replicas in %s", "training" if args.do_train else "evaluating",
                  strategy.num_replicas_in_sync, options.precision)
        if not args.do_train and not pretraining.step and not args.init_checkpoint:
            _log.warning("%s holds no checkpoint and no --init_checkpoint was given: evaluating randomly "
                         "initialized weights", args.output_dir)
        losses = pretraining.train() if args.do_train else {}
        results = pretraining.evaluate(eval_data, args.eval_batch_size, args.max_eval_steps) if args.do_eval else {}
    except (ConfigError, PretrainingDataError, CheckpointError, VocabError, ValueError,
            tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    summary = f"{args.output_dir}: step {pretraining.step} of {args.num_train_steps}"
    if losses:
        summary += (f", loss {losses['loss']:.4f}, {losses['overall_examples_per_second']:.1f} examples/s "
                    "over the run")
    if results:
        summary += "; eval " + ", ".join(f"{name} {value:.4f}" for name, value in results.items()
                                         if name != "global_step")
    if exported_tokenizer:
        summary += "; " + export_to_transformers(args, args.output_dir, config, *exported_tokenizer)
    print(f"{summary}; wall time {format_duration(time.perf_counter() - begin)}")
    return 0
