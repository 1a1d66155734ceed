"""`bertprep pretrain`: pretrain BERT on `bertprep pretraining-data` output, as run_pretraining.py does."""
from __future__ import annotations

import argparse
import hashlib
import logging
from typing import TYPE_CHECKING

from pipelines.cli_common import UsageError
from pipelines.pretraining_metadata import DatasetMetadata

if TYPE_CHECKING:
    from bert_model.input_pipeline import DynamicMasking

_log = logging.getLogger(__name__)

HELP = "pretrain BERT (masked LM + next sentence) on OUT/seqL shards, on CPU, GPUs or a TPU"
DESCRIPTION = (
    "Trains a BERT with the reference's losses, AdamW (or LAMB) and learning-rate schedule on a folder that "
    "`bertprep pretraining-data` wrote, under tf.distribute. Checkpoints go to --output_dir every "
    "--save_checkpoints_steps; running the same command again resumes exactly where the last one stopped. "
    "OUTPUT_DIR/bert_model.ckpt and bert_config.json are in the reference layout (--init_checkpoint of a "
    "later phase, extract-features). Two phases: train at seq128, then at seq512 with --init_checkpoint "
    "pointing at the first phase's --output_dir."
)
_MAX_EVAL_STEPS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("data and model")
    io.add_argument("--data", required=True, metavar="OUT/seqL", help="folder with metadata.json and the shards")
    io.add_argument("--bert_config_file", required=True, help="bert_config.json of the model to train")
    io.add_argument("--output_dir", required=True, help="checkpoints, TensorBoard logs and eval results (or gs://)")
    io.add_argument("--init_checkpoint",
                    help="start from these weights (reference layout: a prefix, or a folder such as a previous "
                    "phase's --output_dir); ignored when --output_dir already holds a checkpoint to resume")
    io.add_argument("--max_seq_length", type=int, help="checked against the data (default: the data's)")
    io.add_argument("--max_predictions_per_seq", type=int, help="checked against the data (default: the data's)")
    io.add_argument("--no_nsp", dest="next_sentence", action="store_false",
                    help="train the masked LM only (needed for data made with --no_nsp)")
    io.add_argument("--dynamic_masking", action="store_true", help="draw fresh masks for every batch")
    io.add_argument("--vocab_file", help="with --dynamic_masking: the data's vocab.txt (default: metadata's vocab_file)")

    train = parser.add_argument_group("training (defaults as the reference run_pretraining.py)")
    train.add_argument("--train_steps", type=int, required=True, help="optimizer steps")
    train.add_argument("--batch_size", type=int, default=32, help="sequences per step and micro-batch, all replicas")
    train.add_argument("--learning_rate", type=float, default=5e-5, help="peak learning rate")
    train.add_argument("--warmup_steps", type=int, help="linear warmup steps (default: 10%% of --train_steps)")
    train.add_argument("--optimizer", choices=("adamw", "lamb"), default="adamw",
                       help="adamw: the reference's; lamb: for large batches")
    train.add_argument("--accumulation_steps", type=int, default=1, metavar="K",
                       help="micro-batches per step: K times --batch_size sequences per update")
    train.add_argument("--save_checkpoints_steps", type=int, default=1000)
    train.add_argument("--keep_checkpoints", type=int, default=5, help="training checkpoints kept")
    train.add_argument("--steps_per_loop", type=int, default=100,
                       help="steps per tf.function call (TPUEstimator's iterations_per_loop); also how often "
                       "losses are logged")
    train.add_argument("--seed", type=int, default=12345, help="weights, data order, dropout and masks derive from it")

    add_device_arguments(parser)

    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument("--do_eval", action="store_true", help="write OUTPUT_DIR/eval_results.json after training")
    evaluation.add_argument("--eval_data", metavar="OUT/seqL", help="data to evaluate on (default: --data)")
    evaluation.add_argument("--eval_batch_size", type=int, default=8)
    evaluation.add_argument("--max_eval_steps", type=int, help=f"eval batches at most (default {_MAX_EVAL_STEPS})")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--strategy, --tpu, --mixed_precision, --jit_compile: the flags of every training command."""
    device = parser.add_argument_group("devices")
    device.add_argument("--strategy", choices=("default", "mirrored", "tpu"), default="default",
                        help="mirrored: all local GPUs; tpu: needs --tpu")
    device.add_argument("--tpu", metavar="NAME", help="Cloud TPU name, grpc:// address, or 'local' on a TPU VM")
    device.add_argument("--mixed_precision", action="store_true",
                        help="bfloat16 compute on TPU and CPU, float16 with dynamic loss scaling on GPU")
    device.add_argument("--jit_compile", action="store_true", help="compile the forward and backward pass with XLA")


def _dynamic_masking(args: argparse.Namespace, metadata: DatasetMetadata) -> DynamicMasking:
    """The masking of --dynamic_masking, from the vocab the data was made with (its SHA-256 is checked)."""
    import tensorflow as tf

    from bert_model.input_pipeline import DynamicMasking
    from vocab.tokenization import parse_vocab

    path = args.vocab_file or metadata.vocab_file
    if not tf.io.gfile.exists(path):
        raise UsageError(f"--dynamic_masking needs the data's vocab; {path} does not exist: give --vocab_file")
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    if metadata.vocab_sha256 and hashlib.sha256(data).hexdigest() != metadata.vocab_sha256:
        raise UsageError(f"{path} is not the vocab {args.data} was made with (its SHA-256 differs from "
                         "metadata.json's vocab_sha256): give that vocab as --vocab_file")
    return DynamicMasking.from_vocab(parse_vocab(data, path), metadata.masked_lm_prob)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    # Imported here so that the other subcommands start without TensorFlow.
    import tensorflow as tf

    from bert_model.checkpoints import CheckpointError
    from bert_model.config import BertConfig, ConfigError
    from bert_model.distribution import make_strategy, mixed_precision_policy
    from bert_model.input_pipeline import PretrainingDataError, read_metadata
    from bert_model.pretraining import PretrainingOptions, PretrainingRun
    from vocab.tokenization import VocabError

    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    if (args.eval_data or args.max_eval_steps) and not args.do_eval:
        raise UsageError("--eval_data and --max_eval_steps need --do_eval")
    eval_data = args.eval_data or args.data
    try:
        config = BertConfig.from_json_file(args.bert_config_file)
        metadata = read_metadata(args.data)
        strategy = make_strategy(args.strategy, args.tpu)
        options = PretrainingOptions(
            data_dir=args.data, output_dir=args.output_dir, train_steps=args.train_steps,
            batch_size=args.batch_size, learning_rate=args.learning_rate,
            warmup_steps=args.train_steps // 10 if args.warmup_steps is None else args.warmup_steps,
            optimizer=args.optimizer, accumulation_steps=args.accumulation_steps,
            precision=mixed_precision_policy(strategy) if args.mixed_precision else "float32",
            init_checkpoint=args.init_checkpoint, steps_per_loop=args.steps_per_loop,
            save_checkpoints_steps=args.save_checkpoints_steps, keep_checkpoints=args.keep_checkpoints,
            seed=args.seed, dynamic_masking=_dynamic_masking(args, metadata) if args.dynamic_masking else None,
            next_sentence=args.next_sentence, jit_compile=args.jit_compile, max_seq_length=args.max_seq_length,
            max_predictions_per_seq=args.max_predictions_per_seq)
        pretraining = PretrainingRun(config, options, strategy)
        if args.do_eval:  # before training, not after it
            pretraining.check_data(eval_data)
    except (ConfigError, PretrainingDataError, CheckpointError, VocabError, ValueError,
            tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    _log.info("training on %d replicas in %s", strategy.num_replicas_in_sync, options.precision)
    losses = pretraining.train()
    results = (pretraining.evaluate(eval_data, args.eval_batch_size, args.max_eval_steps or _MAX_EVAL_STEPS)
               if args.do_eval else {})
    summary = f"{args.output_dir}: step {pretraining.step} of {args.train_steps}"
    if losses:
        summary += f", loss {losses['loss']:.4f} at {losses['examples_per_second']:.1f} examples/s"
    if results:
        summary += "; eval " + ", ".join(f"{name} {value:.4f}" for name, value in results.items() if name != "global_step")
    print(summary)
    return 0
