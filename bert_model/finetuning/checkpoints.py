"""The weights a fine-tuning run starts from (a pretrained or fine-tuned checkpoint, with a report of what
was loaded) and the checkpoints it writes: OUTPUT_DIR/model.ckpt-STEP in the reference layout."""
from __future__ import annotations

import dataclasses
import logging
import posixpath

import numpy as np
import tensorflow as tf

from bert_model.checkpoints import CheckpointError, LoadReport, assign_checkpoint, save_checkpoint
from bert_model.finetuning.head import HeadModel
from bert_model.init_checkpoint import open_init_checkpoint

_log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "model.ckpt"


@dataclasses.dataclass(frozen=True)
class InitReport:
    """What `initialize_from_checkpoint` took from a checkpoint: the encoder's report, the head weights it
    loaded (a fine-tuned checkpoint) and those that start from their initializers (a pretrained one)."""

    encoder: LoadReport
    head_loaded: tuple[str, ...]
    head_initialized: tuple[str, ...]
    global_step: int | None = None  # the checkpoint's, when it has one

    def summary(self) -> str:
        text = f"{len(self.encoder.loaded)} encoder variables from {self.encoder.checkpoint}"
        if self.head_loaded:
            text += f"; head from the checkpoint: {', '.join(self.head_loaded)}"
        if self.head_initialized:
            text += f"; head newly initialized: {', '.join(self.head_initialized)}"
        return text


def initialize_from_checkpoint(model: HeadModel, path: str) -> InitReport:
    """Loads a checkpoint into `model`: the encoder (`checkpoints.assign_checkpoint`) and every head weight
    the checkpoint has.

    `path` may be a public BERT checkpoint, a `bertprep pretrain` OUTPUT_DIR, a fine-tuning OUTPUT_DIR
    (its latest model.ckpt-N) or a transformers BERT folder (`init_checkpoint.open_init_checkpoint`). Raises
    CheckpointError, before assigning anything, when a head weight's shape differs (e.g. a checkpoint
    fine-tuned with another number of labels).
    """
    arrays = open_init_checkpoint(path)
    shapes = arrays.shapes
    head = model.head_variables()
    for name, variable in head.items():
        if name in shapes and list(shapes[name]) != list(variable.shape):
            raise CheckpointError(f"{arrays.location}: {name} has shape {list(shapes[name])} but this task's head "
                                  f"expects {list(variable.shape)} (fine-tuned with another number of labels?)")
    encoder = assign_checkpoint(model.bert, arrays)
    loaded = [name for name in head if name in shapes]
    for name in loaded:
        head[name].assign(np.asarray(arrays.read(name)).astype(head[name].dtype))
    step = int(arrays.read("global_step")) if "global_step" in shapes else None
    report = InitReport(encoder, tuple(loaded), tuple(name for name in head if name not in shapes), step)
    _log.info("initialized %s", report.summary())
    return report


class FinetuningCheckpoints:
    """The weights of `model` and the `global_step` of a run: loaded to start from, and saved to
    `output_dir` keeping this run's latest `keep_checkpoints`."""

    def __init__(self, model: HeadModel, global_step: tf.Variable, output_dir: str, keep_checkpoints: int) -> None:
        self.model, self.global_step = model, global_step
        self.output_dir, self.keep_checkpoints = output_dir, keep_checkpoints
        self._saved: list[str] = []

    @property
    def step(self) -> int:
        return int(self.global_step.numpy())

    def initialize(self, path: str) -> InitReport:
        """`initialize_from_checkpoint(self.model, path)`: the weights to fine-tune from; the step stays 0."""
        return initialize_from_checkpoint(self.model, path)

    def restore(self, path: str) -> InitReport:
        """Loads a fine-tuned checkpoint to evaluate or predict with: its weights and its global_step."""
        report = self.initialize(path)
        self.global_step.assign(report.global_step or 0)
        return report

    def start(self, init_checkpoint: str | None, training: bool) -> InitReport | None:
        """The weights a run starts from. Training: those of `init_checkpoint`, or without one the
        initializers' (with a warning). Evaluating or predicting: the fine-tuned ones of `init_checkpoint`,
        by default the latest in OUTPUT_DIR."""
        if training and init_checkpoint:
            return self.initialize(init_checkpoint)
        if training:
            _log.warning("no --init_checkpoint: training from randomly initialized weights")
            return None
        return self.restore(init_checkpoint or self.output_dir)

    def save(self) -> str:
        """Writes OUTPUT_DIR/model.ckpt-STEP (encoder and head under reference names, and global_step), points
        OUTPUT_DIR/checkpoint at it and deletes this run's checkpoints beyond `keep_checkpoints`; returns its prefix."""
        step = self.step
        prefix = posixpath.join(self.output_dir, f"{CHECKPOINT_PREFIX}-{step}")
        save_checkpoint(self.model.bert, prefix, global_step=step, extra=self.model.head_variables())
        # Only this run's own checkpoints are pruned: an earlier run's may have higher steps.
        self._saved = [path for path in self._saved if path != prefix] + [prefix]
        for old in self._saved[: -self.keep_checkpoints]:
            for name in tf.io.gfile.glob(old + ".*"):
                tf.io.gfile.remove(name)
        kept = self._saved = self._saved[-self.keep_checkpoints:]
        # The state file (a CheckpointState text proto) that tf.train.latest_checkpoint reads, so OUTPUT_DIR
        # works as --init_checkpoint.
        lines = [f'model_checkpoint_path: "{posixpath.basename(prefix)}"']
        lines += [f'all_model_checkpoint_paths: "{posixpath.basename(path)}"' for path in kept]
        with tf.io.gfile.GFile(posixpath.join(self.output_dir, "checkpoint"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        _log.info("saved %s", prefix)
        return prefix
