"""bert_model.optimization: the reference AdamW and schedule (reference code as oracle), LAMB, accumulation,
MirroredStrategy, XLA and checkpoints.

Run as a script, this file trains under MirroredStrategy on two logical CPUs
and prints the results as JSON: logical devices must be configured before
TensorFlow initializes its devices, so that test runs in a subprocess and
leaves this pytest process alone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_model.optimization import (
    LAMB,
    AdamW,
    GradientAccumulator,
    WarmupLinearDecay,
    excluded_from_weight_decay,
    variable_path,
)
from tests.support.paths import REPO

# A 3x2 linear layer with bias and a LayerNorm-like gain: kernel decays, bias and gamma do not.
INITIAL = {
    "layer/kernel": np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], np.float32),
    "layer/bias": np.array([0.1, -0.2], np.float32),
    "layer/LayerNorm/gamma": np.array([1.0, 0.8], np.float32),
}
X = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 2.0], [-1.5, 1.0, 0.0], [2.0, 0.0, 1.0]], np.float32)
TARGET = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]], np.float32)
# The loss is multiplied by these per step so that some global gradient norms exceed the clip norm 1.0.
LOSS_SCALES = [4.0, 0.05, 3.0, 0.1, 2.0, 0.02, 1.0, 0.5]


def _loss(kernel, bias, gamma, x=X, target=TARGET):
    return tf.reduce_mean(tf.square((tf.matmul(x, kernel) + bias) * gamma - target))


def _variables() -> list[tf.Variable]:
    return [tf.Variable(value, name=name) for name, value in INITIAL.items()]


def _gradients(variables, scale=1.0, x=X, target=TARGET) -> list[tf.Tensor]:
    with tf.GradientTape() as tape:
        loss = scale * _loss(*variables, x=x, target=target)
    return tape.gradient(loss, variables)


# ---------------------------------------------------------------------------
# AdamW + schedule + clipping against the reference create_optimizer
# ---------------------------------------------------------------------------


def _reference_trajectory(peak: float, warmup: int, total: int) -> list[list[np.ndarray]]:
    """Runs the reference `create_optimizer` in a TF1 graph; the values of the variables after each step."""
    reference = pytest.importorskip("bert.optimization")  # its own `import tensorflow.compat.v1` runs on TF2
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        variables = [v1.get_variable(name, initializer=value) for name, value in INITIAL.items()]
        scale = v1.placeholder(tf.float32, [])
        train_op = reference.create_optimizer(scale * _loss(*variables), peak, total, warmup, use_tpu=False)
        # The reference increments global_step in the train op without a control dependency on the
        # learning-rate read; one inter-op thread makes that read come first, as intended, every time.
        config = v1.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=1)
        with v1.Session(config=config) as session:
            session.run(v1.global_variables_initializer())
            trajectory = []
            for value in LOSS_SCALES:
                session.run(train_op, {scale: value})
                trajectory.append(session.run(variables))
    return trajectory


def test_adamw_schedule_and_clipping_match_the_reference_create_optimizer():
    peak, warmup, total = 0.1, 3, 6  # steps 6 and 7 run past total: lr 0
    expected = _reference_trajectory(peak, warmup, total)
    variables = _variables()
    optimizer = AdamW(WarmupLinearDecay(peak, warmup, total))
    optimizer.build(variables)
    norms = []
    for step, scale in enumerate(LOSS_SCALES):
        grads = _gradients(variables, scale)
        norms.append(float(tf.linalg.global_norm(grads)))
        optimizer.apply_gradients(zip(grads, variables))
        for name, ours, theirs in zip(INITIAL, variables, expected[step]):
            np.testing.assert_allclose(ours.numpy(), theirs, rtol=2e-6, atol=1e-7, err_msg=f"{name} step {step}")
    assert max(norms) > 1.0 > min(norms)  # clipped and unclipped steps both happened
    assert not np.allclose(expected[-1][0], INITIAL["layer/kernel"])
    assert int(optimizer.iterations) == len(LOSS_SCALES)


@pytest.mark.parametrize("step, expected", [
    (0, 0.0), (50, 5e-5), (99, 9.9e-5),
    (100, 9e-5),  # end of warmup: the decay line, measured from step 0 as in the reference
    (550, 4.5e-5), (1000, 0.0), (1500, 0.0),
])
def test_warmup_linear_decay_values(step, expected):
    assert float(WarmupLinearDecay(1e-4, 100, 1000)(step)) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_schedule_without_warmup_starts_at_the_peak_and_rejects_bad_steps():
    schedule = WarmupLinearDecay(2.0, 0, 4)
    assert [float(schedule(step)) for step in range(5)] == [2.0, 1.5, 1.0, 0.5, 0.0]
    with pytest.raises(ValueError, match="total_steps"):
        WarmupLinearDecay(1.0, 10, 0)


# ---------------------------------------------------------------------------
# Weight-decay exclusion
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path, excluded", [
    ("bert/encoder/layer_0/attention/output/LayerNorm/gamma", True),
    ("bert/embeddings/LayerNorm/beta", True),
    ("model/layer_normalization_3/gamma", True),
    ("bert/encoder/layer_0/output/dense/bias", True),
    ("cls/predictions/output_bias", True),
    ("bert/encoder/layer_0/output/dense/kernel", False),
    ("bert/embeddings/word_embeddings", False),
    ("cls/seq_relationship/output_weights", False),
])
def test_exclusion_rule_on_paths(path, excluded):
    assert excluded_from_weight_decay(path) is excluded


def test_keras_variables_decay_by_path_with_zero_gradients():
    # With zero gradients the Adam direction is 0, so only weight decay moves a variable.
    layers = [keras.Input((3,)), keras.layers.Dense(2, name="dense"), keras.layers.LayerNormalization()]
    variables = keras.Sequential(layers, name="model").trainable_variables
    assert [variable_path(v) for v in variables][:2] == ["model/dense/kernel", "model/dense/bias"]
    before = [v.numpy().copy() for v in variables]
    optimizer = AdamW(0.5, weight_decay_rate=0.1)
    optimizer.build(variables)
    optimizer.apply_gradients((tf.zeros_like(v), v) for v in variables)
    np.testing.assert_allclose(variables[0].numpy(), before[0] * (1 - 0.5 * 0.1), rtol=1e-6)
    for variable, value in zip(variables[1:], before[1:]):  # bias, layer_normalization gamma and beta
        np.testing.assert_array_equal(variable.numpy(), value)


def test_custom_exclusion_predicate():
    variables = _variables()
    optimizer = AdamW(0.5, weight_decay_rate=0.1, exclude_from_weight_decay=lambda path: "kernel" in path)
    optimizer.build(variables)
    optimizer.apply_gradients((tf.zeros_like(v), v) for v in variables)
    np.testing.assert_array_equal(variables[0].numpy(), INITIAL["layer/kernel"])
    np.testing.assert_allclose(variables[1].numpy(), INITIAL["layer/bias"] * 0.95, rtol=1e-6)


# ---------------------------------------------------------------------------
# LAMB against numpy
# ---------------------------------------------------------------------------


def _numpy_lamb(values, grads_per_step, lr, decays, wd=0.01, b1=0.9, b2=0.999, eps=1e-6):
    values = [v.astype(np.float64) for v in values]
    m = [np.zeros_like(v) for v in values]
    v2 = [np.zeros_like(v) for v in values]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v2[i] = b2 * v2[i] + (1 - b2) * g * g
            update = (m[i] / (1 - b1 ** t)) / (np.sqrt(v2[i] / (1 - b2 ** t)) + eps)
            ratio = 1.0
            if decays[i]:
                update = update + wd * values[i]
                w_norm, u_norm = np.linalg.norm(values[i]), np.linalg.norm(update)
                ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
            values[i] = values[i] - lr * ratio * update
    return values


def test_lamb_matches_numpy_over_several_steps():
    variables = _variables()
    optimizer = LAMB(0.05, clip_norm=None)
    optimizer.build(variables)
    grads_per_step = []
    for scale in LOSS_SCALES[:5]:
        grads = _gradients(variables, scale)
        grads_per_step.append([g.numpy().astype(np.float64) for g in grads])
        optimizer.apply_gradients(zip(grads, variables))
    expected = _numpy_lamb(list(INITIAL.values()), grads_per_step, 0.05, decays=[True, False, False])
    for variable, value in zip(variables, expected):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-5)  # float32 vs float64


def test_lamb_trust_ratio_sets_the_step_norm_and_is_one_for_zero_weights():
    kernel = tf.Variable(INITIAL["layer/kernel"], name="kernel")
    zeros = tf.Variable(tf.zeros([3]), name="zeros")
    bias = tf.Variable(tf.zeros([3]), name="bias")
    optimizer = LAMB(0.01, weight_decay_rate=0.0, clip_norm=None)
    optimizer.build([kernel, zeros, bias])
    grad = tf.constant([1e3, -2e-3, 5.0])  # very different magnitudes: the direction is about ±1 each
    optimizer.apply_gradients([(tf.fill([3, 2], 50.0), kernel), (grad, zeros), (grad, bias)])
    # ||Δw|| = lr * ||w||, whatever the gradient's scale.
    step = np.linalg.norm(kernel.numpy() - INITIAL["layer/kernel"])
    assert step == pytest.approx(0.01 * np.linalg.norm(INITIAL["layer/kernel"]), rel=1e-5)
    # ||w|| = 0: ratio 1, the plain bias-corrected Adam step; the excluded bias takes the same step.
    direction = np.sign(grad.numpy()) * np.abs(grad.numpy()) / (np.abs(grad.numpy()) + 1e-6)
    np.testing.assert_allclose(zeros.numpy(), -0.01 * direction, rtol=1e-5)
    np.testing.assert_allclose(bias.numpy(), zeros.numpy())


# ---------------------------------------------------------------------------
# Gradient accumulation, XLA, checkpoints
# ---------------------------------------------------------------------------


def _batches(count: int, size: int, seed: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
    rng = np.random.default_rng(seed)
    return [(tf.constant(rng.normal(size=(size, 3)), tf.float32), tf.constant(rng.normal(size=(size, 2)), tf.float32))
            for _ in range(count)]


# Adam's direction hardly depends on the gradient's scale; a large epsilon and no clipping make it do so,
# so that a sum taken for the mean would show.
SCALE_SENSITIVE = {"epsilon": 0.1, "clip_norm": None}


@pytest.mark.parametrize("make_optimizer", [lambda: AdamW(0.05, **SCALE_SENSITIVE), lambda: LAMB(0.05)],
                         ids=["adamw", "lamb-clipped"])
def test_accumulating_k_micro_batches_equals_one_step_on_their_mean(make_optimizer):
    k, micro = 3, _batches(6, 4, seed=1)
    big = [(tf.concat([x for x, _ in micro[i:i + k]], 0), tf.concat([y for _, y in micro[i:i + k]], 0))
           for i in range(0, len(micro), k)]
    direct, accumulated = _variables(), _variables()
    direct_opt, accumulated_opt = make_optimizer(), make_optimizer()
    direct_opt.build(direct)
    accumulated_opt.build(accumulated)
    accumulator = GradientAccumulator(k)
    accumulator.build(accumulated)

    @tf.function(jit_compile=True)
    def micro_step(x, y):
        accumulator.add(_gradients(accumulated, 5.0, x, y))  # scale 5: LAMB clips the mean gradient
        if accumulator.ready:
            accumulator.apply(accumulated_opt, accumulated)

    applied_after = []
    for x, y in micro:
        micro_step(x, y)
        applied_after.append(int(accumulated_opt.iterations))
    for x, y in big:
        direct_opt.apply_gradients(zip(_gradients(direct, 5.0, x, y), direct))
    assert applied_after == [0, 0, 1, 1, 1, 2]
    assert int(accumulator.count) == 0
    for ours, theirs in zip(accumulated, direct):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer_class", [AdamW, LAMB])
def test_train_step_compiles_with_xla_and_matches_eager(optimizer_class):
    eager, compiled = _variables(), _variables()
    schedule = WarmupLinearDecay(0.1, 1, 10)
    eager_opt, compiled_opt = optimizer_class(schedule), optimizer_class(schedule)
    eager_opt.build(eager)
    compiled_opt.build(compiled)

    @tf.function(jit_compile=True)
    def step(scale):
        compiled_opt.apply_gradients(zip(_gradients(compiled, scale), compiled))

    assert "HloModule" in step.experimental_get_compiler_ir(tf.constant(1.0))(stage="hlo")
    for scale in LOSS_SCALES[:4]:
        step(tf.constant(scale))
        eager_opt.apply_gradients(zip(_gradients(eager, scale), eager))
    for ours, theirs in zip(compiled, eager):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-7)
    assert not np.allclose(compiled[0].numpy(), INITIAL["layer/kernel"])


@pytest.mark.parametrize("optimizer_class", [AdamW, LAMB])
def test_checkpoint_restores_the_exact_optimizer_state(optimizer_class, tmp_path):
    def trainer():
        variables = _variables()
        optimizer = optimizer_class(WarmupLinearDecay(0.1, 2, 20))
        return variables, optimizer, tf.train.Checkpoint(variables=variables, optimizer=optimizer)

    variables, optimizer, checkpoint = trainer()
    optimizer.build(variables)
    for scale in LOSS_SCALES[:3]:
        optimizer.apply_gradients(zip(_gradients(variables, scale), variables))
    path = checkpoint.write(str(tmp_path / "ckpt"))
    for scale in LOSS_SCALES[3:5]:
        optimizer.apply_gradients(zip(_gradients(variables, scale), variables))

    restored, restored_opt, restored_checkpoint = trainer()
    status = restored_checkpoint.read(path)
    restored_opt.build(restored)  # restoring before build works too: the slots are restored on creation
    status.assert_consumed()
    assert int(restored_opt.iterations) == 3
    for scale in LOSS_SCALES[3:5]:
        restored_opt.apply_gradients(zip(_gradients(restored, scale), restored))
    assert int(restored_opt.iterations) == int(optimizer.iterations) == 5
    for ours, theirs in zip(restored + restored_opt._m + restored_opt._v, variables + optimizer._m + optimizer._v):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_checkpoint_restores_a_half_done_accumulation(tmp_path):
    def trainer():
        variables, optimizer, accumulator = _variables(), AdamW(0.1), GradientAccumulator(2)
        optimizer.build(variables)
        accumulator.build(variables)
        return variables, optimizer, accumulator, tf.train.Checkpoint(optimizer=optimizer, accumulator=accumulator)

    variables, optimizer, accumulator, checkpoint = trainer()
    accumulator.add(_gradients(variables, 2.0))
    path = checkpoint.write(str(tmp_path / "ckpt"))
    restored, restored_opt, restored_accumulator, restored_checkpoint = trainer()
    restored_checkpoint.read(path).assert_consumed()
    assert int(restored_accumulator.count) == 1 and not restored_accumulator.ready
    for accumulating, opt, accumulated in ((accumulator, optimizer, variables),
                                           (restored_accumulator, restored_opt, restored)):
        accumulating.add(_gradients(accumulated, 0.5))
        assert accumulating.ready
        accumulating.apply(opt, accumulated)
    for ours, theirs in zip(restored, variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert not np.allclose(restored[0].numpy(), INITIAL["layer/kernel"])


def test_misuse_is_reported():
    variables = _variables()
    optimizer = AdamW(0.1)
    with pytest.raises(RuntimeError, match="build"):
        optimizer.apply_gradients(zip(_gradients(variables), variables))
    optimizer.build(variables[:2])
    with pytest.raises(ValueError, match="layer/LayerNorm/gamma"):
        optimizer.apply_gradients(zip(_gradients(variables), variables))
    with pytest.raises(ValueError, match=">= 1"):
        GradientAccumulator(0)


# ---------------------------------------------------------------------------
# MirroredStrategy on two logical CPUs (in a subprocess)
# ---------------------------------------------------------------------------


def test_mirrored_strategy_on_two_cpus_matches_one_device():
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, __file__], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["replicas"] == 2
    for name in ("adamw", "lamb", "accumulated"):
        mirrored, single = results[name]
        for ours, theirs, start in zip(mirrored, single, INITIAL.values()):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=name)
            assert not np.allclose(ours, start)


def _train_on_two_cpus() -> dict:
    """Trains under MirroredStrategy (2 replicas) and on one device; the final variables of each."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    global_batch = 8
    batches = _batches(4, global_batch, seed=2)

    def replica_grads(variables, x, y):
        with tf.GradientTape() as tape:
            per_example = tf.reduce_mean(tf.square((tf.matmul(x, variables[0]) + variables[1]) * variables[2] - y), 1)
            loss = 3.0 * tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        return tape.gradient(loss, variables)

    def run(make_optimizer, accumulate: bool) -> list[list[np.ndarray]]:
        with strategy.scope():
            mirrored = _variables()
        single = _variables()
        mirrored_opt, single_opt = make_optimizer(), make_optimizer()
        mirrored_opt.build(mirrored)  # outside the scope on purpose: build enters the variables' strategy
        single_opt.build(single)
        data = tf.data.Dataset.from_tensor_slices(tuple(tf.concat(parts, 0) for parts in zip(*batches)))
        inputs = iter(strategy.experimental_distribute_dataset(data.batch(global_batch)))
        if accumulate:
            accumulator = GradientAccumulator(2)
            accumulator.build(mirrored)

            @tf.function
            def step(batch):
                strategy.run(lambda x, y: accumulator.add(replica_grads(mirrored, x, y)), args=batch)
                if accumulator.ready:
                    strategy.run(lambda: accumulator.apply(mirrored_opt, mirrored))
        else:
            @tf.function
            def step(batch):
                strategy.run(lambda x, y: mirrored_opt.apply_gradients(zip(replica_grads(mirrored, x, y), mirrored)),
                             args=batch)
        for _ in batches:
            step(next(inputs))
        # One device: the mean gradient of each group of micro-batches (its loss takes the group's size).
        group = 2 if accumulate else 1
        for i in range(0, len(batches), group):
            x, y = (tf.concat(parts, 0) for parts in zip(*batches[i:i + group]))
            grads = [g / group for g in replica_grads(single, x, y)]
            single_opt.apply_gradients(zip(grads, single))
        assert mirrored_opt.iterations.numpy() == len(batches) // group
        return [[v.numpy().tolist() for v in mirrored], [v.numpy().tolist() for v in single]]

    schedule = WarmupLinearDecay(0.1, 1, 10)
    return {"replicas": strategy.num_replicas_in_sync, "adamw": run(lambda: AdamW(schedule), False),
            "lamb": run(lambda: LAMB(schedule), False),
            "accumulated": run(lambda: AdamW(schedule, **SCALE_SENSITIVE), True)}


if __name__ == "__main__":
    print(json.dumps(_train_on_two_cpus()))
