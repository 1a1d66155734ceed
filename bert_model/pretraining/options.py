"""`PretrainingOptions`: how a pretraining run trains."""
from __future__ import annotations

import dataclasses

from bert_model.input_pipeline import DynamicMasking
from bert_model.training import check_training_options


@dataclasses.dataclass(frozen=True)
class PretrainingOptions:
    """How to train; the model's shape is the BertConfig's.

    `data_dir` is a pretraining-data folder or comma-separated TFRecord
    files and globs (`files.open_files`). `max_seq_length` and
    `max_predictions_per_seq` default to the data's (metadata.json), or the
    reference's 128 and 20 for files without one; data that differs is
    refused. `precision` is one of distribution.PRECISIONS; mixed_float16
    scales the loss dynamically from `initial_loss_scale`. A call of the
    training loop runs at most `steps_per_loop` steps, fewer when they would
    take more than `progress_seconds`.
    """

    data_dir: str
    output_dir: str
    train_steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    optimizer: str = "adamw"
    accumulation_steps: int = 1
    precision: str = "float32"
    initial_loss_scale: float = 2.0 ** 15
    init_checkpoint: str | None = None
    steps_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoints: int = 5
    seed: int = 12345
    dynamic_masking: DynamicMasking | None = None
    next_sentence: bool = True
    jit_compile: bool = False
    max_seq_length: int | None = None
    max_predictions_per_seq: int | None = None
    progress_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_training_options(self)
