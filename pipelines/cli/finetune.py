"""`bertprep finetune TASK`: fine-tune BERT on a downstream task; one module per task.

Each task module has HELP, DESCRIPTION, `add_arguments(parser)` and `run(args) -> int`, like the top-level
commands. `add_training_arguments` gives them the flags every task shares (the reference's names, plus
devices, precision, accumulation and the optimizer), and `training_options` turns them into
`finetuning.FinetuningOptions`.
"""
from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from pipelines.cli.flags import add_lower_case_flag, add_vocab_file_flag
from pipelines.cli.pretrain import add_device_arguments, add_loop_arguments
from pipelines.errors import UsageError

if TYPE_CHECKING:
    import tensorflow as tf

    from bert_model.config import BertConfig
    from bert_model.finetuning import FinetuningOptions
    from vocab.tokenization import FullTokenizer

HELP = "fine-tune BERT on a downstream task (classify: GLUE-style classification and regression; squad: SQuAD 1.1/2.0)"
DESCRIPTION = ("Fine-tunes a BERT checkpoint (public BERT, the miniatures, or `bertprep pretrain` output) with the "
               "flags and file formats of the reference scripts. `bertprep finetune TASK --help` lists a task's flags.")

# Imported on use, as the top-level commands.
TASKS = {
    "classify": "pipelines.cli.finetune_classify",
    "squad": "pipelines.cli.finetune_squad",
}


def task_module(name: str) -> ModuleType:
    return importlib.import_module(TASKS[name])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in TASKS:
        module = task_module(name)
        module.add_arguments(tasks.add_parser(name, allow_abbrev=False, help=module.HELP,
                                              description=module.DESCRIPTION))


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    return task_module(args.task).run(args)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The reference's model and training flags (defaults as run_classifier.py) plus devices and optimizer."""
    model = parser.add_argument_group("model")
    model.add_argument("--bert_config_file", required=True, metavar="FILE|NAME",
                       help="bert_config.json of the pretrained model, or a released model's shape by name "
                       "(bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large, L-<layers>_H-<hidden>) "
                       "with the vocab file's size as vocab_size")
    add_vocab_file_flag(model, required=True, help="the model's vocab.txt")
    add_lower_case_flag(model, help="lower-case and strip accents (uncased models); --do_lower_case=false for "
                        "cased models")
    model.add_argument("--init_checkpoint",
                       help="weights to start from (reference layout: a prefix or a folder such as a `bertprep "
                       "pretrain` or fine-tuning --output_dir); without --do_train the default is --output_dir")
    model.add_argument("--max_seq_length", type=int, default=128, help="tokens per sequence, [CLS] and [SEP] included")
    model.add_argument("--output_dir", required=True, help="checkpoints, records, results (or gs://)")

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


def load_model_config(args: argparse.Namespace, tokenizer: FullTokenizer) -> BertConfig:
    """--bert_config_file (a file, or a name sized by the vocab), checked against --max_seq_length and the vocab."""
    from bert_model.config import load_config

    config = load_config(args.bert_config_file, lambda: len(tokenizer.vocab))
    if args.max_seq_length > config.max_position_embeddings:
        raise UsageError(f"--max_seq_length {args.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    if len(tokenizer.vocab) > config.vocab_size:
        raise UsageError(f"{args.vocab_file} has {len(tokenizer.vocab)} tokens but the model's vocab_size is "
                         f"{config.vocab_size}: give the vocab the model was trained with")
    return config


def save_model_config(config: BertConfig, output_dir: str) -> None:
    """OUTPUT_DIR/bert_config.json beside the checkpoints, so that the folder describes its model."""
    import posixpath

    import tensorflow as tf

    tf.io.gfile.makedirs(output_dir)
    config.to_json_file(posixpath.join(output_dir, "bert_config.json"))


def training_options(args: argparse.Namespace, strategy: tf.distribute.Strategy, train_examples: int) -> FinetuningOptions:
    """FinetuningOptions for `train_examples` examples (0: no training) from the shared flags."""
    from bert_model.distribution import mixed_precision_policy
    from bert_model.finetuning import FinetuningOptions, steps_for_epochs, warmup_for

    steps = steps_for_epochs(train_examples, args.train_batch_size, args.num_train_epochs, args.accumulation_steps)
    try:
        return FinetuningOptions(
            output_dir=args.output_dir, train_steps=steps, batch_size=args.train_batch_size,
            learning_rate=args.learning_rate, warmup_steps=warmup_for(steps, args.warmup_proportion),
            optimizer=args.optimizer, accumulation_steps=args.accumulation_steps,
            precision=mixed_precision_policy(strategy) if args.mixed_precision else "float32",
            steps_per_loop=args.iterations_per_loop, save_checkpoints_steps=args.save_checkpoints_steps,
            keep_checkpoints=args.keep_checkpoints, seed=args.seed, jit_compile=args.jit_compile,
            progress_seconds=args.progress_seconds)
    except ValueError as error:
        raise UsageError(str(error)) from None
