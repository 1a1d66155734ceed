"""Dynamic loss scaling for float16 training, around the optimizers of `optimization`.

float16 gradients underflow to zero, so the loss is multiplied by `scale`
before differentiation and the gradients divided by it before the update.
When the gradients of any replica hold an inf or NaN (the scale was too
large), the update is skipped on every replica and the scale halved; after
`growth_interval` finite steps in a row it is doubled. This is Keras's
LossScaleOptimizer algorithm; that class wraps Keras optimizers only, and the
optimizers here are tf.Modules.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import tensorflow as tf

from bert_model.optimization import LAMB, AdamW


class DynamicLossScale(tf.Module):
    """Wraps an optimizer: `apply_gradients` takes the gradients of `scale_loss(loss)`.

    Create it in the strategy's scope. A skipped step leaves the variables and
    the optimizer's state (its iterations too) untouched. `scale` and
    `good_steps` are variables, so checkpoints hold them.
    """

    def __init__(self, optimizer: AdamW | LAMB, initial_scale: float = 2.0 ** 15, growth_interval: int = 2000,
                 name: str = "loss_scale") -> None:
        super().__init__(name=name)
        if initial_scale < 1 or growth_interval < 1:
            raise ValueError(f"need initial_scale >= 1 and growth_interval >= 1, got {initial_scale}, {growth_interval}")
        self.optimizer = optimizer
        self.growth_interval = growth_interval
        self.scale = tf.Variable(initial_scale, dtype=tf.float32, trainable=False, name="scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")

    def scale_loss(self, loss: tf.Tensor) -> tf.Tensor:
        return loss * self.scale

    def apply_gradients(self, grads_and_vars: Iterable[tuple[tf.Tensor | None, Any]]) -> None:
        """Unscales the gradients, then updates with the optimizer or, if any replica's are not finite, skips.

        Call in replica context, as the optimizer's own apply_gradients.
        """
        context = tf.distribute.get_replica_context()
        if context is None:
            raise RuntimeError("apply_gradients needs replica context: call it inside strategy.run")
        pairs = [(grad, var) for grad, var in grads_and_vars if grad is not None]
        grads = [tf.convert_to_tensor(grad) / self.scale for grad, _ in pairs]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(grad)) for grad in grads])
        # Every replica must take the same branch, as the update all-reduces: count the overflowing ones.
        overflows = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
        update = functools.partial(self._apply_or_skip, variables=[var for _, var in pairs])
        context.merge_call(update, args=(overflows, grads))

    def _apply_or_skip(self, strategy: tf.distribute.Strategy, overflows: Any, grads: Any,
                       variables: Sequence[Any]) -> None:
        # Cross-replica context: one branch for all replicas, which then apply in replica context again.
        def apply() -> None:
            strategy.extended.call_for_each_replica(
                lambda replica_grads: self.optimizer.apply_gradients(zip(replica_grads, variables)), args=(grads,))
            grow = self.good_steps + 1 >= self.growth_interval
            self.scale.assign(tf.where(grow, self.scale * 2.0, self.scale))
            self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), self.good_steps + 1))

        def skip() -> None:
            self.scale.assign(tf.maximum(self.scale / 2.0, 1.0))
            self.good_steps.assign(0)

        tf.cond(strategy.experimental_local_results(overflows)[0] == 0, apply, skip)
