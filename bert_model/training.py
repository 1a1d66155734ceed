"""What pretraining and fine-tuning share: the checks of their options, the model with its optimizer,
accumulator, loss scale and step, built in one place, the distributed train step and loop call that update
them, and the JSON results file they write."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from bert_model.distribution import PRECISIONS, dtype_policy
from bert_model.loss_scale import DynamicLossScale
from bert_model.optimization import LAMB, AdamW, GradientAccumulator, WarmupLinearDecay

OPTIMIZERS = {"adamw": AdamW, "lamb": LAMB}
EVAL_RESULTS = "eval_results.json"

_COUNTS = ("train_steps", "batch_size", "accumulation_steps", "steps_per_loop", "save_checkpoints_steps",
           "keep_checkpoints")


def check_training_options(options: Any) -> None:
    """Raises ValueError, naming the field, unless `options` (PretrainingOptions or fine-tuning's) has
    counts of at least 1, warmup within the steps, a positive learning rate, a known optimizer and precision."""
    for name in _COUNTS:
        if getattr(options, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(options, name)}")
    if not 0 <= options.warmup_steps <= options.train_steps:
        raise ValueError(f"warmup_steps must be in [0, train_steps {options.train_steps}], got {options.warmup_steps}")
    if options.learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {options.learning_rate}")
    if options.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {options.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if options.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {options.precision!r}; use one of {', '.join(PRECISIONS)}")
    if options.progress_seconds <= 0:
        raise ValueError(f"progress_seconds must be positive, got {options.progress_seconds}")


class Training(NamedTuple):
    """A model and what trains it, all created where `build_training` says."""

    model: Any
    schedule: WarmupLinearDecay
    optimizer: AdamW | LAMB
    accumulator: GradientAccumulator | None
    loss_scale: DynamicLossScale | None
    global_step: tf.Variable


def build_training(build_model: Callable[[], Any], options: Any, strategy: tf.distribute.Strategy) -> Training:
    """Seeds Keras with `options.seed`, builds the model in the strategy's scope under the dtype policy of
    `options.precision`, then the optimizer of `options.optimizer` on the reference schedule, the gradient
    accumulator (accumulation_steps > 1), the loss scale (mixed_float16) and a global step at 0."""
    keras.utils.set_random_seed(options.seed)  # weights and dropout seeds
    with dtype_policy(options.precision), strategy.scope():
        model = build_model()
        model.build()
    schedule = WarmupLinearDecay(options.learning_rate, options.warmup_steps, options.train_steps)
    optimizer = OPTIMIZERS[options.optimizer](schedule)
    optimizer.build(model.trainable_variables)
    accumulator = None
    if options.accumulation_steps > 1:
        accumulator = GradientAccumulator(options.accumulation_steps)
        accumulator.build(model.trainable_variables)
    with strategy.scope():
        loss_scale = (DynamicLossScale(optimizer, options.initial_loss_scale)
                      if options.precision == "mixed_float16" else None)
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    return Training(model, schedule, optimizer, accumulator, loss_scale, global_step)


def replica_sums(strategy: tf.distribute.Strategy, per_replica: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Per-replica values summed over the replicas."""
    return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for name, value in per_replica.items()}


class TrainingStep:
    """`loop(iterator, steps)`, a tf.function: `steps` optimizer steps of `accumulation_steps` micro-batches
    each, advancing the global step; returns the mean of each of `loss_names` over the steps.

    A subclass gives `replica_gradients(features)`: this replica's part of the global batch's losses (one
    per name of `loss_names`) and its gradients; summed over replicas, both are the global batch's.
    Accumulation averages the micro-batches' losses and applies their mean gradient once per step.
    """

    def __init__(self, training: Training, strategy: tf.distribute.Strategy, loss_names: tuple[str, ...],
                 accumulation_steps: int) -> None:
        self.training, self.strategy = training, strategy
        self.loss_names, self.accumulation_steps = loss_names, accumulation_steps
        self.loop = tf.function(self._loop)

    @property
    def updater(self) -> AdamW | LAMB | DynamicLossScale:
        """What applies the gradients: the loss scale when there is one, around the optimizer."""
        training = self.training
        return training.optimizer if training.loss_scale is None else training.loss_scale

    def replica_gradients(self, features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], list]:
        """This replica's part of the global batch's losses, and its gradients (the subclass's loss)."""
        raise NotImplementedError

    def _replica_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        losses, grads = self.replica_gradients(features)
        self.updater.apply_gradients(zip(grads, self.training.model.trainable_variables))
        return losses

    def _replica_accumulate(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        losses, grads = self.replica_gradients(features)
        self.training.accumulator.add(grads)
        return losses

    def _train_step(self, iterator: Iterator) -> dict[str, tf.Tensor]:
        """One optimizer step; the losses of its global batch (averaged over the micro-batches)."""
        accumulator = self.training.accumulator
        if accumulator is None:
            return replica_sums(self.strategy, self.strategy.run(self._replica_step, args=(next(iterator),)))
        micro_batches = self.accumulation_steps
        losses = {name: tf.constant(0.0) for name in self.loss_names}
        for _ in tf.range(micro_batches):
            micro = replica_sums(self.strategy, self.strategy.run(self._replica_accumulate, args=(next(iterator),)))
            losses = {name: losses[name] + micro[name] / micro_batches for name in self.loss_names}
        # One update per step, with the micro-batches' mean gradient.
        self.strategy.run(lambda: accumulator.apply(self.updater, self.training.model.trainable_variables))
        return losses

    def advance(self, steps: tf.Tensor) -> None:
        """Counts `steps` (int64) optimizer steps taken: the global step."""
        self.training.global_step.assign_add(steps)

    def _loop(self, iterator: Iterator, steps: tf.Tensor) -> dict[str, tf.Tensor]:
        totals = {name: tf.constant(0.0) for name in self.loss_names}
        for _ in tf.range(steps):
            losses = self._train_step(iterator)
            totals = {name: totals[name] + losses[name] for name in self.loss_names}
        self.advance(tf.cast(steps, tf.int64))
        return {name: total / tf.cast(steps, tf.float32) for name, total in totals.items()}


def write_results(path: str, results: dict[str, Any]) -> None:
    """`results` as indented JSON with sorted keys (eval_results.json), local or gs://."""
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
