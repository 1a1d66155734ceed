"""`bertprep pretrain`: pretrain BERT on `bertprep pretraining-data` output, as run_pretraining.py does,
with run_pretraining.py's flags."""
from __future__ import annotations

import argparse
import hashlib
import logging
import time
from typing import TYPE_CHECKING

from bert_model.reference_defaults import REFERENCE_MAX_PREDICTIONS_PER_SEQ, REFERENCE_MAX_SEQ_LENGTH
from pipelines.cli.flags import add_bool_flag, add_vocab_file_flag
from pipelines.errors import UsageError

if TYPE_CHECKING:
    import tensorflow as tf

    from bert_model.input_pipeline import DynamicMasking
    from bert_model.pretraining_files import PretrainingFiles

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
# run_pretraining.py's defaults, where ours are the same.
_REFERENCE_TRAIN_STEPS = 100_000
_REFERENCE_LOOP = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("data and model (run_pretraining.py's flags, and ours)")
    data = io.add_mutually_exclusive_group(required=True)
    data.add_argument("--input_file", metavar="FILE,...",
                      help="TFRecord files, comma-separated, globs allowed (the reference's flag): `bertprep "
                      "pretraining-data` output, or the reference create_pretraining_data.py's, which has no "
                      "metadata.json (then --max_seq_length and --max_predictions_per_seq say its lengths)")
    data.add_argument("--data", metavar="OUT/seqL", help="a `bertprep pretraining-data` folder (metadata.json and "
                      "the shards it lists)")
    io.add_argument("--bert_config_file", required=True, metavar="FILE|NAME",
                    help="bert_config.json of the model to train, or a released model's shape by name: "
                    "bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large, or L-<layers>_H-<hidden> "
                    "(layers 2,4,...,12; hidden 128, 256, 512, 768); a name takes its vocab_size from the data's "
                    "metadata.json (or --vocab_file), and the resolved config is written to "
                    "OUTPUT_DIR/bert_config.json")
    io.add_argument("--output_dir", required=True, help="checkpoints, TensorBoard logs and eval results (or gs://)")
    io.add_argument("--init_checkpoint",
                    help="start from these weights (reference layout: a prefix, or a folder such as a previous "
                    "phase's --output_dir); ignored when --output_dir already holds a checkpoint to resume")
    io.add_argument("--max_seq_length", type=int,
                    help="checked against the data; default the data's metadata.json, or for files without one "
                    f"the reference's {REFERENCE_MAX_SEQ_LENGTH}")
    io.add_argument("--max_predictions_per_seq", type=int,
                    help="checked against the data; default the data's metadata.json, or for files without one "
                    f"the reference's {REFERENCE_MAX_PREDICTIONS_PER_SEQ}")
    add_bool_flag(io, "--no_nsp", help="train the masked LM only (needed for data made with --no_nsp)")
    add_bool_flag(io, "--dynamic_masking", help="draw fresh masks for every batch")
    add_vocab_file_flag(io, help="the data's vocab.txt: for --dynamic_masking (default: metadata's vocab_file), "
                        "and for a --bert_config_file name on files without metadata.json (its size is the "
                        "vocab_size)")

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


def add_loop_arguments(group: argparse._ActionsContainer) -> None:
    """--iterations_per_loop and --progress_seconds: how long each call of a training loop runs."""
    group.add_argument("--iterations_per_loop", "--steps_per_loop", dest="iterations_per_loop", type=int,
                       default=_REFERENCE_LOOP,
                       help="steps per tf.function call at most (the reference's TPUEstimator loop); fewer when "
                       "they would take longer than --progress_seconds, and the first call runs one step")
    group.add_argument("--progress_seconds", type=float, default=30.0,
                       help="a progress line (step, loss, examples/s, elapsed, ETA) at least about this often, "
                       "where one step takes less")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Devices, precision and the reference's TPU flags: those of every training command."""
    device = parser.add_argument_group("devices (with the reference's TPU flags)")
    device.add_argument("--strategy", choices=("default", "mirrored", "tpu"), default="default",
                        help="mirrored: all local GPUs; tpu: as --use_tpu")
    add_bool_flag(device, "--use_tpu", help="train on a Cloud TPU named by --tpu_name (or addressed by --master)")
    device.add_argument("--tpu_name", "--tpu", dest="tpu_name", metavar="NAME",
                        help="Cloud TPU name, grpc:// address, or 'local' on a TPU VM; giving it selects the TPU")
    device.add_argument("--tpu_zone", help="GCE zone of the Cloud TPU (default: from the metadata server)")
    device.add_argument("--gcp_project", help="project of the Cloud TPU (default: from the metadata server)")
    device.add_argument("--tpu_job_name", help="the TPU worker's job name, if not the default")
    device.add_argument("--master", help="with --use_tpu and no --tpu_name: the TPU's grpc:// address")
    device.add_argument("--num_tpu_cores", type=int, default=8,
                        help="accepted as the reference's; TPUStrategy uses every core of the TPU (a different "
                        "count is reported)")
    add_bool_flag(device, "--mixed_precision",
                  help="bfloat16 compute on TPU and CPU, float16 with dynamic loss scaling on GPU")
    add_bool_flag(device, "--jit_compile", help="compile the forward and backward pass with XLA")


def make_strategy(args: argparse.Namespace) -> tf.distribute.Strategy:
    """The strategy the device flags ask for; UsageError for flags that contradict each other."""
    from bert_model.distribution import make_strategy as strategy_for

    tpu = args.tpu_name or ((args.master or None) if args.use_tpu or args.strategy == "tpu" else None)
    if (args.use_tpu or args.strategy == "tpu") and not tpu:
        raise UsageError("--use_tpu (or --strategy tpu) needs the TPU's name (--tpu_name NAME, or 'local' on a "
                         "TPU VM) or its address (--master grpc://...)")
    if args.master and not tpu:
        _log.warning("--master %s is ignored: it addresses a TPU, and this run uses none (add --use_tpu)",
                     args.master)
    try:
        strategy = strategy_for(args.strategy if not tpu else "tpu", tpu, zone=args.tpu_zone,
                                project=args.gcp_project, job_name=args.tpu_job_name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if tpu and strategy.num_replicas_in_sync != args.num_tpu_cores:
        _log.warning("the TPU has %d cores, --num_tpu_cores says %d: training on all %d",
                     strategy.num_replicas_in_sync, args.num_tpu_cores, strategy.num_replicas_in_sync)
    return strategy


def _dynamic_masking(args: argparse.Namespace, files: PretrainingFiles) -> DynamicMasking:
    """The masking of --dynamic_masking, from the vocab the data was made with (its SHA-256 is checked
    where metadata.json records it)."""
    import tensorflow as tf

    from bert_model.input_pipeline import DynamicMasking
    from vocab.tokenization import parse_vocab

    metadata = files.metadata
    path = args.vocab_file or (metadata.vocab_file if metadata else None)
    if not path:
        raise UsageError(f"--dynamic_masking needs the data's vocab and {files.location} has no metadata.json "
                         "naming it: give --vocab_file")
    if not tf.io.gfile.exists(path):
        raise UsageError(f"--dynamic_masking needs the data's vocab; {path} does not exist: give --vocab_file")
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    if metadata and metadata.vocab_sha256 and hashlib.sha256(data).hexdigest() != metadata.vocab_sha256:
        raise UsageError(f"{path} is not the vocab {files.location} was made with (its SHA-256 differs from "
                         "metadata.json's vocab_sha256): give that vocab as --vocab_file")
    return DynamicMasking.from_vocab(parse_vocab(data, path), metadata.masked_lm_prob if metadata else 0.15)


def _vocab_size(args: argparse.Namespace, files: PretrainingFiles) -> int:
    """The vocab_size of a --bert_config_file name: the data's, from its metadata or from --vocab_file."""
    import tensorflow as tf

    from vocab.tokenization import parse_vocab

    if files.metadata is not None:
        return files.metadata.vocab_size
    if not args.vocab_file:
        raise UsageError(f"--bert_config_file {args.bert_config_file} takes its vocab_size from the data, and "
                         f"{files.location} has no metadata.json: give the vocab the data was made with as "
                         "--vocab_file, or a bert_config.json")
    with tf.io.gfile.GFile(args.vocab_file, "rb") as handle:
        return len(parse_vocab(handle.read(), args.vocab_file))


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other subcommands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.config import ConfigError, load_config
    from bert_model.distribution import mixed_precision_policy
    from bert_model.input_pipeline import PretrainingDataError
    from bert_model.pretraining import PretrainingOptions, PretrainingRun
    from bert_model.pretraining_files import open_files
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
        config = load_config(args.bert_config_file, lambda: _vocab_size(args, files))
        strategy = make_strategy(args)
        options = PretrainingOptions(
            data_dir=data, output_dir=args.output_dir, train_steps=args.num_train_steps,
            batch_size=args.train_batch_size, learning_rate=args.learning_rate,
            warmup_steps=args.num_train_steps // 10 if args.num_warmup_steps is None else args.num_warmup_steps,
            optimizer=args.optimizer, accumulation_steps=args.accumulation_steps,
            precision=mixed_precision_policy(strategy) if args.mixed_precision else "float32",
            init_checkpoint=args.init_checkpoint, steps_per_loop=args.iterations_per_loop,
            save_checkpoints_steps=args.save_checkpoints_steps, keep_checkpoints=args.keep_checkpoints,
            seed=args.seed, dynamic_masking=_dynamic_masking(args, files) if args.dynamic_masking else None,
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
    print(f"{summary}; wall time {format_duration(time.perf_counter() - begin)}")
    return 0
