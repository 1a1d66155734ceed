"""The flags every TensorFlow training command shares (`pretrain`, `finetune classify`, `finetune squad`):
devices and precision with the reference's TPU flags, the loop's pacing, and fine-tuning's model and
training flags with the reference's names; and their translation into bert_model's options."""
from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from pipelines.cli.flags import add_bool_flag, add_lower_case_flag, add_vocab_file_flag
from pipelines.errors import UsageError

if TYPE_CHECKING:
    import tensorflow as tf

    from bert_model.classification.labels import TaskLabels
    from bert_model.config import BertConfig
    from bert_model.finetuning import FinetuningOptions
    from vocab.tokenization import FullTokenizer

# run_pretraining.py's --iterations_per_loop default.
_REFERENCE_LOOP = 1000


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
    from bert_model.distribution import DeviceOptions, strategy_for_devices

    devices = DeviceOptions(strategy=args.strategy, use_tpu=args.use_tpu, tpu_name=args.tpu_name,
                            master=args.master, tpu_zone=args.tpu_zone, gcp_project=args.gcp_project,
                            tpu_job_name=args.tpu_job_name, num_tpu_cores=args.num_tpu_cores)
    try:
        return strategy_for_devices(devices)
    except ValueError as error:
        raise UsageError(str(error)) from None


def precision(args: argparse.Namespace, strategy: tf.distribute.Strategy) -> str:
    """The dtype policy of --mixed_precision on `strategy`'s devices, else float32."""
    from bert_model.distribution import mixed_precision_policy

    return mixed_precision_policy(strategy) if args.mixed_precision else "float32"


def add_export_transformers_flag(group: argparse._ActionsContainer) -> None:
    """--export_transformers HF_DIR: the trained model as a transformers folder, as `bertprep export` writes it."""
    group.add_argument("--export_transformers", metavar="HF_DIR",
                       help="at the end of a successful run, also write the model as a Hugging Face transformers "
                       "folder here (as `bertprep export` does); OUTPUT_DIR keeps the reference layout")


def export_to_transformers(args: argparse.Namespace, checkpoint: str, config: BertConfig, vocab_file: str,
                           do_lower_case: bool, labels: TaskLabels | None = None) -> str:
    """Writes `checkpoint` to --export_transformers; the summary's words for it."""
    import tensorflow as tf

    from bert_model.transformers_format.export import export_transformers

    try:
        report = export_transformers(checkpoint, args.export_transformers, vocab_file=vocab_file,
                                     do_lower_case=do_lower_case, config=config, labels=labels)
    except (ValueError, tf.errors.NotFoundError) as error:
        raise UsageError(f"--export_transformers: {error}") from None
    return f"exported {report.architecture} to {report.output_dir}"


@dataclasses.dataclass(frozen=True)
class TaskModel:
    """The model a fine-tuning run starts from: its vocab and casing (the flags', else those of the transformers
    folder given as --init_checkpoint), the tokenizer they make, and its config."""

    vocab_file: str
    do_lower_case: bool
    tokenizer: FullTokenizer
    config: BertConfig


def task_model(args: argparse.Namespace) -> TaskModel:
    """The transformers folder given as --init_checkpoint; --vocab_file and --do_lower_case, or the folder's
    where a flag is absent (`init_checkpoint.vocab_file`, `init_checkpoint.lower_case`); the tokenizer of that
    vocab and casing, and the config for --max_seq_length (`finetuning.load_task_config`). ConfigError naming the
    flag to give when there is no folder to take a file from, VocabError for a vocab that cannot be read."""
    from bert_model.finetuning import load_task_config
    from bert_model.init_checkpoint import init_folder, lower_case, vocab_file
    from vocab.tokenization import FullTokenizer

    folder = init_folder(args.init_checkpoint)
    vocab, do_lower_case = vocab_file(args.vocab_file, folder), lower_case(args.do_lower_case, folder)
    tokenizer = FullTokenizer(vocab, do_lower_case=do_lower_case)
    config = load_task_config(args.bert_config_file, folder, len(tokenizer.vocab), vocab, args.max_seq_length)
    return TaskModel(vocab, do_lower_case, tokenizer, config)


def finetuned_checkpoint(args: argparse.Namespace) -> str:
    """The checkpoint a fine-tuning run ended with: the latest in OUTPUT_DIR after training, else the one it
    evaluated or predicted with."""
    return args.output_dir if args.do_train else args.init_checkpoint or args.output_dir


def add_finetuning_arguments(parser: argparse.ArgumentParser, config_flags: tuple[str, ...] = ("--bert_config_file",),
                             checkpoint_flags: tuple[str, ...] = ("--init_checkpoint",)) -> None:
    """The reference's model and training flags (defaults as run_classifier.py) plus devices and optimizer;
    `config_flags` and `checkpoint_flags` name the model's config and starting weights (a command may give them
    names of its own besides the reference's)."""
    model = parser.add_argument_group("model")
    model.add_argument(*config_flags, dest="bert_config_file", metavar="FILE|NAME",
                       help="bert_config.json of the pretrained model, or a released model's shape by name "
                       "(bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large, L-<layers>_H-<hidden>) "
                       "with the vocab file's size as vocab_size (default: a transformers folder's config.json; "
                       "required otherwise)")
    add_vocab_file_flag(model, help="the model's vocab.txt (default: a transformers folder's; required otherwise)")
    add_lower_case_flag(model, default=None, help="lower-case and strip accents (uncased models); "
                        "--do_lower_case=false for cased models; without it a transformers folder's "
                        "tokenizer_config.json decides, else true")
    model.add_argument(*checkpoint_flags, dest="init_checkpoint",
                       help="weights to start from: reference layout (a prefix or a folder such as a `bertprep "
                       "pretrain` or fine-tuning --output_dir), or a transformers BERT folder (config.json, "
                       "model.safetensors, vocab.txt); without --do_train the default is --output_dir")
    model.add_argument("--max_seq_length", type=int, default=128, help="tokens per sequence, [CLS] and [SEP] included")
    model.add_argument("--output_dir", required=True, help="checkpoints, records, results (or gs://)")
    add_export_transformers_flag(model)

    train = parser.add_argument_group("training")
    train.add_argument("--train_batch_size", type=int, default=32, help="examples per micro-batch, all replicas")
    train.add_argument("--learning_rate", type=float, default=5e-5, help="peak learning rate")
    train.add_argument("--num_train_epochs", type=float, default=3.0)
    train.add_argument("--warmup_proportion", type=float, default=0.1, help="share of the steps with linear warmup")
    train.add_argument("--optimizer", choices=("adamw", "lamb"), default="adamw")
    train.add_argument("--accumulation_steps", type=int, default=1, metavar="K",
                       help="micro-batches per optimizer step: K times --train_batch_size examples per update")
    train.add_argument("--save_checkpoints_steps", type=int, default=1000)
    train.add_argument("--keep_checkpoints", type=int, default=5)
    add_loop_arguments(train)
    train.add_argument("--seed", type=int, default=12345, help="head initialization, data order and dropout")
    add_device_arguments(parser)


def finetuning_options(args: argparse.Namespace, strategy: tf.distribute.Strategy,
                       train_examples: int) -> FinetuningOptions:
    """FinetuningOptions for `train_examples` examples (0: no training) from the shared flags."""
    from bert_model.finetuning import FinetuningOptions, steps_for_epochs, warmup_for

    steps = steps_for_epochs(train_examples, args.train_batch_size, args.num_train_epochs, args.accumulation_steps)
    try:
        return FinetuningOptions(
            output_dir=args.output_dir, train_steps=steps, batch_size=args.train_batch_size,
            learning_rate=args.learning_rate, warmup_steps=warmup_for(steps, args.warmup_proportion),
            optimizer=args.optimizer, accumulation_steps=args.accumulation_steps,
            precision=precision(args, strategy), steps_per_loop=args.iterations_per_loop,
            save_checkpoints_steps=args.save_checkpoints_steps, keep_checkpoints=args.keep_checkpoints,
            seed=args.seed, jit_compile=args.jit_compile, progress_seconds=args.progress_seconds)
    except ValueError as error:
        raise UsageError(str(error)) from None
