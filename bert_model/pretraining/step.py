"""The distributed pretraining step: each replica's weighted share of the global batch's losses, its
gradients, the update (or accumulation over micro-batches), and the loop call that runs several steps."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import tensorflow as tf

from bert_model.loss_scale import DynamicLossScale
from bert_model.modeling import pretraining_losses
from bert_model.optimization import LAMB, AdamW
from bert_model.training import Training

# pretraining_losses divides the weighted masked-LM loss by (weights + this), as the reference does.
_LOSS_EPSILON = 1e-5


def replica_sums(strategy: tf.distribute.Strategy, per_replica: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Per-replica values summed over the replicas."""
    return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for name, value in per_replica.items()}


class PretrainingStep:
    """`loop(iterator, steps)`, a tf.function: `steps` optimizer steps of `accumulation_steps`
    micro-batches each, advancing the global step and `batches_consumed`; returns the mean losses."""

    def __init__(self, training: Training, strategy: tf.distribute.Strategy, batches_consumed: tf.Variable, *,
                 next_sentence: bool, accumulation_steps: int, jit_compile: bool) -> None:
        self.training, self.strategy, self.batches_consumed = training, strategy, batches_consumed
        self.next_sentence, self.accumulation_steps = next_sentence, accumulation_steps
        self.loss_names = ("loss", "masked_lm_loss") + (("next_sentence_loss",) if next_sentence else ())
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=jit_compile)
        self.loop = tf.function(self._loop)

    @property
    def updater(self) -> AdamW | LAMB | DynamicLossScale:
        """What applies the gradients: the loss scale when there is one, around the optimizer."""
        training = self.training
        return training.optimizer if training.loss_scale is None else training.loss_scale

    def _loss_and_gradients(self, features: dict[str, tf.Tensor], prediction_share: tf.Tensor,
                            sequence_share: tf.Tensor) -> tuple[dict[str, tf.Tensor], list[tf.Tensor | None]]:
        model, loss_scale = self.training.model, self.training.loss_scale
        with tf.GradientTape() as tape:
            losses = pretraining_losses(model(features, training=True), features)
            weighted = {"masked_lm_loss": losses["masked_lm_loss"] * prediction_share}
            if self.next_sentence:
                weighted["next_sentence_loss"] = losses["next_sentence_loss"] * sequence_share
            weighted["loss"] = tf.add_n(list(weighted.values()))
            objective = weighted["loss"] if loss_scale is None else loss_scale.scale_loss(weighted["loss"])
        return weighted, tape.gradient(objective, model.trainable_variables)

    def _replica_gradients(self, features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], list]:
        """This replica's weighted part of the global batch's losses, and its gradients; summed over
        replicas, both are the global batch's."""
        context = tf.distribute.get_replica_context()
        predictions = tf.reduce_sum(features["masked_lm_weights"]) + _LOSS_EPSILON
        all_predictions = context.all_reduce(tf.distribute.ReduceOp.SUM, predictions)
        return self._gradients(features, predictions / all_predictions,
                               tf.constant(1.0 / context.num_replicas_in_sync))

    def _replica_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        losses, grads = self._replica_gradients(features)
        self.updater.apply_gradients(zip(grads, self.training.model.trainable_variables))
        return losses

    def _replica_accumulate(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        losses, grads = self._replica_gradients(features)
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

    def _loop(self, iterator: Iterator, steps: tf.Tensor) -> dict[str, tf.Tensor]:
        totals = {name: tf.constant(0.0) for name in self.loss_names}
        for _ in tf.range(steps):
            losses = self._train_step(iterator)
            totals = {name: totals[name] + losses[name] for name in self.loss_names}
        steps = tf.cast(steps, tf.int64)
        self.training.global_step.assign_add(steps)
        self.batches_consumed.assign_add(steps * self.accumulation_steps)
        return {name: total / tf.cast(steps, tf.float32) for name, total in totals.items()}
