"""The distributed fine-tuning step: each replica's share of the global batch's mean task loss and its
gradients, for `training.TrainingStep`'s update, accumulation and loop call."""
from __future__ import annotations

import tensorflow as tf

from bert_model.finetuning.head import LossFn
from bert_model.training import Training, TrainingStep


class FinetuningStep(TrainingStep):
    """`loop(iterator, steps)`, a tf.function: `steps` optimizer steps of `accumulation_steps` micro-batches
    each, advancing the global step; returns the mean `loss`. The per-example losses of `loss_fn` are
    averaged over the global `batch_size`, so any number of replicas computes the single-device update."""

    def __init__(self, training: Training, strategy: tf.distribute.Strategy, loss_fn: LossFn, *, batch_size: int,
                 accumulation_steps: int, jit_compile: bool) -> None:
        super().__init__(training, strategy, ("loss",), accumulation_steps)
        self.loss_fn, self.batch_size = loss_fn, batch_size
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=jit_compile)

    def _loss_and_gradients(self, features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor],
                                                                         list[tf.Tensor | None]]:
        model, loss_scale = self.training.model, self.training.loss_scale
        with tf.GradientTape() as tape:
            per_example = self.loss_fn(model(features, training=True), features)
            # This replica's share of the global batch's mean loss: replicas' gradients sum to the global one.
            loss = tf.reduce_sum(tf.cast(per_example, tf.float32)) / self.batch_size
            objective = loss if loss_scale is None else loss_scale.scale_loss(loss)
        return {"loss": loss}, tape.gradient(objective, model.trainable_variables)

    def replica_gradients(self, features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], list]:
        """This replica's share of the global batch's mean loss, and its gradients."""
        return self._gradients(features)
