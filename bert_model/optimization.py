"""Optimizers for BERT pretraining: the reference AdamW and its schedule, LAMB, gradient accumulation.

`AdamW` reproduces the reference `AdamWeightDecayOptimizer` (no bias
correction, weight decay added to the Adam direction before the learning
rate scales it) and `WarmupLinearDecay` its learning rate; `LAMB` is You et
al. 2019 for large batches. Both clip the global gradient norm (1.0 in the
reference) after summing the gradients over replicas.

They are plain `tf.Module`s rather than `keras.optimizers.Optimizer`
subclasses because the training loop is a custom one under `tf.distribute`
and `jit_compile`, and there Keras 3's optimizer gets in the way: it clips and
accumulates gradients per replica, before the cross-replica sum, so the
clipped norm is not the global batch's; it matches weight-decay exclusions
against a variable's short name ("gamma", "bias"), which lacks the layer
("LayerNorm"); and it must be built inside the strategy scope. Here the order
is explicit (all-reduce, clip, update each variable where it lives through
`strategy.extended.update`), `build` enters the variables' own strategy
scope, and the state is ordinary variables that `tf.train.Checkpoint` saves
and restores exactly: the step counter and one list per moment, in the order
of the variables given to `build`.

Gradients are summed over replicas, as Keras does: scale each replica's loss
by 1 / global batch size (`tf.nn.compute_average_loss`).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import tensorflow as tf

# The reference's exclusions, searched (as regular expressions) in the variable path.
_NO_DECAY_PATTERNS = ("LayerNorm", "layer_norm", "bias")

LearningRate = float | Callable[[tf.Tensor], tf.Tensor]


def excluded_from_weight_decay(path: str) -> bool:
    """The reference rule: no weight decay for LayerNorm parameters and biases.

    `path` is what `variable_path` gives, e.g. "bert/encoder/layer_0/output/LayerNorm/gamma";
    Keras' own `LayerNormalization` layers are named "layer_normalization…", which "layer_norm" matches.
    """
    return any(re.search(pattern, path) for pattern in _NO_DECAY_PATTERNS)


def variable_path(variable: Any) -> str:
    """A Keras 3 variable's `path` (its short `name` lacks the layers), else a tf.Variable's name without ":0"."""
    if isinstance(variable, keras.Variable):
        return variable.path
    return re.sub(r":\d+$", "", variable.name)


def _tf_variable(variable: Any) -> tf.Variable:
    # Keras 3 wraps a tf.Variable (a MirroredVariable under MirroredStrategy); updates go to that.
    return variable.value if isinstance(variable, keras.Variable) else variable


class WarmupLinearDecay:
    """The reference learning rate: linear warmup from 0, then linear decay to 0 at `total_steps`.

    As in the reference, the decay runs from step 0 and warmup only overrides
    the first `warmup_steps` steps: at step s, lr = peak * s / warmup_steps while
    s < warmup_steps, else peak * (1 - min(s, total_steps) / total_steps). So
    the first update (step 0) has lr 0, and the rate drops slightly from the
    warmup line to the decay line at the end of warmup.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        if total_steps <= 0 or warmup_steps < 0:
            raise ValueError(f"need total_steps > 0 and warmup_steps >= 0, got {total_steps} and {warmup_steps}")
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        decayed = self.peak * (1.0 - tf.minimum(step, self.total_steps) / self.total_steps)
        if not self.warmup_steps:
            return decayed
        return tf.where(step < self.warmup_steps, self.peak * step / self.warmup_steps, decayed)


class _MomentOptimizer(tf.Module):
    """Adam moments, decoupled weight decay, clipping and distribution; subclasses shape the update."""

    def __init__(self, learning_rate: LearningRate, weight_decay_rate: float = 0.01, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-6, clip_norm: float | None = 1.0,
                 exclude_from_weight_decay: Callable[[str], bool] = excluded_from_weight_decay,
                 name: str | None = None) -> None:
        super().__init__(name=name or type(self).__name__.lower())
        self._learning_rate = learning_rate
        self._weight_decay_rate = weight_decay_rate
        self._beta_1, self._beta_2, self._epsilon = beta_1, beta_2, epsilon
        self._clip_norm = clip_norm
        self._exclude = exclude_from_weight_decay
        self._slot_index: dict[int, int] = {}

    def build(self, variables: Sequence[Any]) -> None:
        """Creates the step counter and both moments of each variable, in its strategy's scope, next to it.

        Call once, before any training step, with the variables the steps update
        (e.g. `model.trainable_variables`); restore a checkpoint after or before
        this, with the variables in the same order.
        """
        if self._slot_index:
            raise RuntimeError(f"{self.name} is already built")
        targets = [_tf_variable(variable) for variable in variables]
        paths = [variable_path(variable) for variable in variables]
        strategy = _strategy_of(targets)
        with strategy.scope():
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations",
                                          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self._m = [_slot(strategy, target, f"{path}/adam_m") for target, path in zip(targets, paths)]
            self._v = [_slot(strategy, target, f"{path}/adam_v") for target, path in zip(targets, paths)]
        self._excluded = [self._exclude(path) for path in paths]
        self._slot_index = {id(target): index for index, target in enumerate(targets)}

    def apply_gradients(self, grads_and_vars: Iterable[tuple[tf.Tensor | None, Any]]) -> None:
        """Sums the gradients over replicas, clips their global norm and updates the variables.

        Call in replica context: inside `strategy.run`, or anywhere under the
        default strategy. Pairs whose gradient is None are skipped.
        """
        context = tf.distribute.get_replica_context()
        if context is None:
            raise RuntimeError(f"{self.name}.apply_gradients needs replica context: call it inside strategy.run")
        if not self._slot_index:
            raise RuntimeError(f"build {self.name} (optimizer.build(model.trainable_variables)) before applying")
        pairs = [(tf.convert_to_tensor(grad), _tf_variable(var)) for grad, var in grads_and_vars if grad is not None]
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, [grad for grad, _ in pairs])
        if self._clip_norm is not None:
            grads, _ = tf.clip_by_global_norm(grads, self._clip_norm)
        context.merge_call(self._apply_everywhere, args=(list(zip(grads, [var for _, var in pairs])),))

    def _apply_everywhere(self, strategy: tf.distribute.Strategy, grads_and_vars: list) -> None:
        step = self.iterations.read_value()
        rate = self._learning_rate
        lr = rate(step) if callable(rate) else tf.constant(rate, tf.float32)
        for grad, var in grads_and_vars:
            index = self._slot_index.get(id(var))
            if index is None:
                raise ValueError(f"{variable_path(var)} was not in the variables {self.name} was built with")
            update = functools.partial(self._update, excluded=self._excluded[index])
            strategy.extended.update(var, update, args=(grad, self._m[index], self._v[index], lr, step), group=False)
        self.iterations.assign_add(1)

    def _update(self, var: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, lr: tf.Tensor,
                step: tf.Tensor, excluded: bool) -> None:
        next_m = self._beta_1 * m + (1.0 - self._beta_1) * grad
        next_v = self._beta_2 * v + (1.0 - self._beta_2) * tf.square(grad)
        update = self._direction(next_m, next_v, step)
        if self._weight_decay_rate and not excluded:
            update += self._weight_decay_rate * var
        var.assign_sub(lr * self._scaled(var, update, excluded))
        m.assign(next_m)
        v.assign(next_v)

    def _direction(self, m: tf.Tensor, v: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _scaled(self, var: tf.Variable, update: tf.Tensor, excluded: bool) -> tf.Tensor:
        return update


def _strategy_of(variables: Sequence[tf.Variable]) -> tf.distribute.Strategy:
    # Distributed variables know their strategy, so build() works outside its scope too.
    for variable in variables:
        if isinstance(variable, tf.distribute.DistributedValues):
            return variable.distribute_strategy
    return tf.distribute.get_strategy()


def _slot(strategy: tf.distribute.Strategy, target: tf.Variable, name: str, **kwargs: Any) -> tf.Variable:
    """A zero variable shaped like `target`, placed with it (one per replica under MirroredStrategy)."""
    with strategy.extended.colocate_vars_with(target):
        return tf.Variable(tf.zeros(target.shape, target.dtype), trainable=False, name=name, **kwargs)


class AdamW(_MomentOptimizer):
    """The reference `AdamWeightDecayOptimizer`: Adam without bias correction, decoupled weight decay.

    update = m / (sqrt(v) + epsilon) (+ weight_decay_rate * w unless excluded); w -= lr * update.
    `exclude_from_weight_decay` gets each variable's path (see `variable_path`).
    """

    def _direction(self, m: tf.Tensor, v: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        return m / (tf.sqrt(v) + self._epsilon)


class LAMB(_MomentOptimizer):
    """LAMB (You et al. 2019): bias-corrected Adam plus weight decay, scaled per variable by a trust ratio.

    w -= lr * ||w|| / ||update|| * update, the ratio being 1 when either norm
    is 0. As in TensorFlow Addons' LAMB, variables excluded from weight decay
    (LayerNorm, biases) are excluded from the trust ratio too (ratio 1).
    """

    def _direction(self, m: tf.Tensor, v: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        t = tf.cast(step + 1, m.dtype)
        return (m / (1.0 - self._beta_1 ** t)) / (tf.sqrt(v / (1.0 - self._beta_2 ** t)) + self._epsilon)

    def _scaled(self, var: tf.Variable, update: tf.Tensor, excluded: bool) -> tf.Tensor:
        if excluded:
            return update
        weight_norm, update_norm = tf.norm(var), tf.norm(update)
        trusted = (weight_norm > 0) & (update_norm > 0)
        return tf.where(trusted, weight_norm / tf.where(trusted, update_norm, 1.0), 1.0) * update


class GradientAccumulator(tf.Module):
    """Sums the gradients of `steps` micro-batches, then applies their mean: a `steps`× larger batch.

    The sums are per-replica (sync-on-read) variables, so `add` needs no
    cross-replica communication; the optimizer's all-reduce happens once per
    `apply`. tf.distribute allows no cross-replica sync inside a conditional in
    replica context, so decide in cross-replica context:

        strategy.run(lambda: accumulator.add(tape_gradients(...)))
        if accumulator.ready:  # inside tf.function this is a tf.cond
            strategy.run(lambda: accumulator.apply(optimizer, model.trainable_variables))

    (Pass the variables through a closure: `strategy.run(args=...)` would hand
    each replica its own component.) Under the default strategy both calls can
    sit in one `tf.function(jit_compile=True)`. The sums and the micro-step
    count are checkpointable, so a resume mid-accumulation is exact.
    """

    def __init__(self, steps: int, name: str = "gradient_accumulator") -> None:
        super().__init__(name=name)
        if steps < 1:
            raise ValueError(f"accumulation steps must be >= 1, got {steps}")
        self.steps = steps

    def build(self, variables: Sequence[Any]) -> None:
        """Creates a zero sum per variable (same order as the gradients `add` gets) and the micro-step count."""
        targets = [_tf_variable(variable) for variable in variables]
        strategy = _strategy_of(targets)
        local = tf.VariableSynchronization.ON_READ  # each replica adds to its own copy
        with strategy.scope():
            self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="count", synchronization=local,
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self._sums = [_slot(strategy, target, f"{variable_path(variable)}/gradient_sum", synchronization=local,
                                aggregation=tf.VariableAggregation.SUM) for target, variable in zip(targets, variables)]

    @property
    def ready(self) -> tf.Tensor:
        """Whether `steps` micro-batches have been added since the last `apply`."""
        return self.count >= self.steps

    def add(self, grads: Sequence[tf.Tensor | None]) -> None:
        """Adds one micro-batch's gradients (None: no contribution) to this replica's sums."""
        for total, grad in zip(self._sums, grads, strict=True):
            if grad is not None:
                total.assign_add(tf.convert_to_tensor(grad))
        self.count.assign_add(1)

    def apply(self, optimizer: _MomentOptimizer, variables: Sequence[Any]) -> None:
        """Applies the mean gradient over the micro-batches with `optimizer`, then zeroes the sums."""
        optimizer.apply_gradients(zip([total / self.steps for total in self._sums], variables, strict=True))
        for total in self._sums:
            total.assign(tf.zeros_like(total))
        self.count.assign(0)
