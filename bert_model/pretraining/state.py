"""The checkpoints of a pretraining OUTPUT_DIR: the whole training state under training/ (restored to
resume), and the weights in the reference layout beside it."""
from __future__ import annotations

import logging
import posixpath

import tensorflow as tf

from bert_model.checkpoints import CheckpointError, save_checkpoint
from bert_model.config import CONFIG_FILE, BertConfig, ConfigError, config_differences
from bert_model.init_checkpoint import load_init_checkpoint
from bert_model.training import Training

_log = logging.getLogger(__name__)

TRAINING_STATE_DIR = "training"
REFERENCE_CHECKPOINT = "bert_model.ckpt"


class TrainingState:
    """What a training checkpoint holds (weights and dropout seeds, optimizer, loss scale, step and
    `batches_consumed`, the global micro-batches read so far), and where it goes in `output_dir`."""

    def __init__(self, training: Training, strategy: tf.distribute.Strategy, config: BertConfig, output_dir: str,
                 keep_checkpoints: int) -> None:
        self.training, self.config, self.output_dir = training, config, output_dir
        with strategy.scope():
            # Global micro-batches read so far; a resumed run skips them.
            self.batches_consumed = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_consumed")
        # Keras 3 models do not expose all their variables (encoder layers, dropout seeds) to
        # tf.train.Checkpoint's object graph, so the checkpoint lists them, in the model's order.
        # The accumulator is left out: steps are whole within one call, so it is empty at every checkpoint.
        state = {"model": list(training.model.variables), "optimizer": training.optimizer,
                 "global_step": training.global_step, "batches_consumed": self.batches_consumed}
        if training.loss_scale is not None:
            state["loss_scale"] = training.loss_scale
        self.checkpoint = tf.train.Checkpoint(**state)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, posixpath.join(output_dir, TRAINING_STATE_DIR), keep_checkpoints)

    @property
    def step(self) -> int:
        """The optimizer steps taken, skipped float16 steps included."""
        return int(self.training.global_step.numpy())

    def restore(self, init_checkpoint: str | None) -> None:
        """Restores the latest training checkpoint of `output_dir`, else loads `init_checkpoint` (weights
        only, optimizer fresh, as the reference does). A checkpoint of another model raises CheckpointError."""
        latest = self.manager.latest_checkpoint
        if latest:
            self._check_same_model(latest)
            try:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
                raise CheckpointError(
                    f"{self.output_dir} holds a checkpoint ({latest}) that does not fit this model or "
                    f"these options ({str(error).splitlines()[0][:200]}): give a new --output_dir, or the config "
                    "and flags it was trained with to resume it") from None
            _log.info("resuming from %s at step %d%s", latest, self.step,
                      " (init_checkpoint not loaded)" if init_checkpoint else "")
        elif init_checkpoint:
            report = load_init_checkpoint(self.training.model, init_checkpoint)
            _log.info("initialized %d variables from %s", len(report.loaded), report.checkpoint)

    def _check_same_model(self, checkpoint: str) -> None:
        """Refuses an OUTPUT_DIR whose checkpoint belongs to another model, before restoring fails on it."""
        fix = ("give a new --output_dir for this model, or the config that checkpoint was trained with to "
               "resume it")
        saved_config = posixpath.join(self.output_dir, CONFIG_FILE)
        if tf.io.gfile.exists(saved_config):
            try:
                differences = config_differences(self.config, BertConfig.from_json_file(saved_config))
            except ConfigError:
                differences = []
            if differences:
                raise CheckpointError(f"{self.output_dir} holds a checkpoint of another model ({checkpoint}; this "
                                      f"run's config vs its {CONFIG_FILE}: {', '.join(differences)}): {fix}")

    def save(self) -> str:
        """Writes the training checkpoint and the reference-layout one; returns the training checkpoint's path."""
        step = self.step
        path = self.manager.save(checkpoint_number=step)
        save_checkpoint(self.training.model, posixpath.join(self.output_dir, REFERENCE_CHECKPOINT), global_step=step)
        _log.info("saved %s and %s", path, REFERENCE_CHECKPOINT)
        return path
