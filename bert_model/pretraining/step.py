"""The distributed pretraining step: each replica's weighted share of the global batch's masked-LM and
next-sentence losses and its gradients, for `training.TrainingStep`'s update, accumulation and loop call."""
from __future__ import annotations

import tensorflow as tf

from bert_model.modeling import pretraining_losses
from bert_model.training import Training, TrainingStep

# pretraining_losses divides the weighted masked-LM loss by (weights + this), as the reference does.
_LOSS_EPSILON = 1e-5


class PretrainingStep(TrainingStep):
    """`loop(iterator, steps)`, a tf.function: `steps` optimizer steps of `accumulation_steps`
    micro-batches each, advancing the global step and `batches_consumed`; returns the mean losses."""

    def __init__(self, training: Training, strategy: tf.distribute.Strategy, batches_consumed: tf.Variable, *,
                 next_sentence: bool, accumulation_steps: int, jit_compile: bool) -> None:
        super().__init__(training, strategy,
                         ("loss", "masked_lm_loss") + (("next_sentence_loss",) if next_sentence else ()),
                         accumulation_steps)
        self.batches_consumed, self.next_sentence = batches_consumed, next_sentence
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=jit_compile)

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

    def replica_gradients(self, features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], list]:
        """This replica's weighted part of the global batch's losses, and its gradients; summed over
        replicas, both are the global batch's."""
        context = tf.distribute.get_replica_context()
        predictions = tf.reduce_sum(features["masked_lm_weights"]) + _LOSS_EPSILON
        all_predictions = context.all_reduce(tf.distribute.ReduceOp.SUM, predictions)
        return self._gradients(features, predictions / all_predictions,
                               tf.constant(1.0 / context.num_replicas_in_sync))

    def advance(self, steps: tf.Tensor) -> None:
        """Counts `steps` (int64) optimizer steps taken: the global step, and their micro-batches in
        `batches_consumed`."""
        super().advance(steps)
        self.batches_consumed.assign_add(steps * self.accumulation_steps)
