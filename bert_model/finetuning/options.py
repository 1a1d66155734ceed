"""How a fine-tuning run trains: `FinetuningOptions`, its steps and warmup as the reference counts them, and
the model config a task takes."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from bert_model.config import BertConfig, ConfigError
from bert_model.init_checkpoint import model_config
from bert_model.training import check_training_options

if TYPE_CHECKING:
    from bert_model.transformers_format.folder import TransformersSettings


def steps_for_epochs(num_examples: int, batch_size: int, num_epochs: float, accumulation_steps: int = 1) -> int:
    """Optimizer steps for `num_epochs` over `num_examples`, as the reference counts them:
    int(num_examples / examples_per_step * num_epochs), at least 1."""
    return max(1, int(num_examples / (batch_size * accumulation_steps) * num_epochs))


def warmup_for(train_steps: int, warmup_proportion: float) -> int:
    """The reference's warmup: int(train_steps * warmup_proportion)."""
    if not 0 <= warmup_proportion <= 1:
        raise ValueError(f"warmup_proportion must be in [0, 1], got {warmup_proportion}")
    return int(train_steps * warmup_proportion)


def load_task_config(config_file: str | None, folder: TransformersSettings | None, vocab_size: int, vocab_file: str,
                     max_seq_length: int) -> BertConfig:
    """The model of `config_file` (a bert_config.json, or a released model's name sized by the vocab's
    `vocab_size` tokens), or without one the transformers `folder`'s (`init_checkpoint.model_config`, which refuses
    a config file that differs from the folder's); ConfigError unless it takes `max_seq_length` tokens and every id
    of `vocab_file`."""
    config = model_config(config_file, folder, lambda: vocab_size)
    if max_seq_length > config.max_position_embeddings:
        raise ConfigError(f"--max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                          f"{config.max_position_embeddings}")
    if vocab_size > config.vocab_size:
        raise ConfigError(f"{vocab_file} has {vocab_size} tokens but the model's vocab_size is "
                          f"{config.vocab_size}: give the vocab the model was trained with")
    return config


@dataclasses.dataclass(frozen=True)
class FinetuningOptions:
    """How to train. `batch_size` is global (all replicas) and per micro-batch; an optimizer step sees
    batch_size * accumulation_steps examples. `precision` is one of distribution.PRECISIONS. A call of the
    training loop runs at most `steps_per_loop` steps, fewer when they would take more than
    `progress_seconds` (`progress.LoopPacer`)."""

    output_dir: str
    train_steps: int
    batch_size: int
    learning_rate: float = 5e-5
    warmup_steps: int = 0
    optimizer: str = "adamw"
    accumulation_steps: int = 1
    precision: str = "float32"
    initial_loss_scale: float = 2.0 ** 15
    steps_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoints: int = 5
    seed: int = 12345
    jit_compile: bool = False
    progress_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_training_options(self)
