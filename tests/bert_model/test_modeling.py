"""The Keras BERT: sizes from Tiny to Large, masking, dropout, tied MLM weights,
the run_pretraining losses, XLA and MirroredStrategy.

Numerical agreement with the reference model is checked in test_bert_checkpoints.py.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_model.checkpoints import load_checkpoint, save_checkpoint
from bert_model.config import BertConfig
from bert_model.modeling import BertPretrainer, pretraining_losses
from tests.support.reference_modeling import TINY_CONFIG, random_weight, sample_batch


def _split_cpu_in_two() -> None:
    # MirroredStrategy needs two devices; logical CPUs can only be made before TF starts its runtime.
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:  # already initialized: the MirroredStrategy test checks what it got
        pass


_split_cpu_in_two()
CONFIG = BertConfig.from_dict(TINY_CONFIG)


@pytest.fixture(scope="module")
def pretrainer() -> BertPretrainer:
    keras.utils.set_random_seed(7)
    model = BertPretrainer(CONFIG)
    model.build()
    # Larger weights than the initializer's make every input visibly matter.
    rng = np.random.default_rng(7)
    for weight in model.weights:
        weight.assign(random_weight(weight.path, list(weight.shape), rng))
    return model


def _count(weights: list) -> int:
    return sum(int(np.prod(weight.shape)) for weight in weights)


def _heads_size(config: BertConfig) -> int:
    hidden = config.hidden_size
    # transform dense + LayerNorm + output bias (no output matrix: tied), NSP [2, hidden] + bias
    return hidden * hidden + hidden + 2 * hidden + config.vocab_size + 2 * hidden + 2


@pytest.mark.parametrize("layers, hidden, encoder_size", [
    (2, 128, 4_385_920),  # BERT-Tiny
    (12, 768, 109_482_240),  # BERT-Base
    (24, 1024, 335_141_888),  # BERT-Large
])
def test_published_sizes_build_with_their_parameter_counts(layers, hidden, encoder_size):
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=hidden // 64, intermediate_size=4 * hidden, type_vocab_size=2)
    # Variables get shapes but no values (BERT-Large's would take 1.3 GB and seconds);
    # clear_session drops them from Keras's list of variables to initialize later.
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = BertPretrainer(config)
            model.build()
        assert _count(model.bert.weights) == encoder_size
        assert _count(model.weights) == encoder_size + _heads_size(config)
        assert len({id(weight) for weight in model.weights}) == len(model.weights)
    finally:
        keras.backend.clear_session()


def test_outputs_have_the_documented_shapes_and_pooled_is_tanh_dense_of_cls(pretrainer):
    batch = sample_batch()
    outputs = pretrainer(batch)
    assert outputs["sequence_output"].shape == (2, 8, 32)
    assert outputs["pooled_output"].shape == (2, 32)
    assert len(outputs["encoder_outputs"]) == 2
    np.testing.assert_array_equal(outputs["encoder_outputs"][-1], outputs["sequence_output"])
    assert outputs["masked_lm_logits"].shape == (2, 3, 120)
    assert outputs["next_sentence_logits"].shape == (2, 2)
    pooler = pretrainer.bert.pooler.dense
    cls = outputs["sequence_output"].numpy()[:, 0]
    np.testing.assert_allclose(outputs["pooled_output"], np.tanh(cls @ pooler.kernel.numpy() + pooler.bias.numpy()),
                               atol=1e-6)


def test_padding_is_not_attended_to(pretrainer):
    batch = sample_batch()
    other_padding = dict(batch, input_ids=np.where(batch["input_mask"] == 1, batch["input_ids"], 7))
    first, second = pretrainer.bert(batch), pretrainer.bert(other_padding)
    np.testing.assert_allclose(first["sequence_output"][1, :5], second["sequence_output"][1, :5], atol=1e-6)
    np.testing.assert_allclose(first["pooled_output"], second["pooled_output"], atol=1e-6)
    unmasked = pretrainer.bert(dict(other_padding, input_mask=np.ones_like(batch["input_mask"])))
    assert np.abs(unmasked["pooled_output"][1] - first["pooled_output"][1]).max() > 1e-3


def test_missing_mask_and_segments_mean_all_ones_and_zeros(pretrainer):
    ids = sample_batch()["input_ids"]
    implicit = pretrainer.bert({"input_ids": ids})
    explicit = pretrainer.bert({"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)})
    np.testing.assert_array_equal(implicit["sequence_output"], explicit["sequence_output"])


def test_dropout_only_in_training(pretrainer):
    batch = sample_batch()
    inference = [pretrainer.bert(batch)["sequence_output"].numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = pretrainer.bert(batch, training=True)["sequence_output"].numpy()
    assert np.abs(training - inference[0]).max() > 1e-2


def test_masked_lm_output_weights_are_the_word_embeddings(pretrainer):
    batch = sample_batch()
    assert [w.path for w in pretrainer.weights if tuple(w.shape) == (120, 32)] == [
        pretrainer.bert.embeddings.word_embeddings.path]
    with tf.GradientTape() as tape:
        loss = pretraining_losses(pretrainer(batch), batch)["masked_lm_loss"]
    gradient = tf.convert_to_tensor(tape.gradient(loss, pretrainer.bert.embeddings.word_embeddings))
    # Rows of ids that are no input token get gradient only through the output projection.
    unseen = sorted(set(range(120)) - set(batch["input_ids"].ravel()))
    assert np.abs(gradient.numpy()[unseen]).sum(axis=1).min() > 0


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_losses_weight_predictions_as_run_pretraining(pretrainer):
    batch = sample_batch()
    outputs = pretrainer(batch)
    losses = pretraining_losses(outputs, batch)
    log_probs = _log_softmax(outputs["masked_lm_logits"].numpy().astype(np.float64))
    per_prediction = -np.take_along_axis(log_probs, batch["masked_lm_ids"][..., None], axis=-1)[..., 0]
    weights = batch["masked_lm_weights"]
    np.testing.assert_allclose(losses["masked_lm_loss"], (weights * per_prediction).sum() / (weights.sum() + 1e-5),
                               rtol=1e-5)
    nsp = -np.take_along_axis(_log_softmax(outputs["next_sentence_logits"].numpy().astype(np.float64)),
                              batch["next_sentence_labels"], axis=-1).mean()
    np.testing.assert_allclose(losses["next_sentence_loss"], nsp, rtol=1e-5)
    np.testing.assert_allclose(losses["loss"], losses["masked_lm_loss"] + losses["next_sentence_loss"], rtol=1e-6)
    # A padding prediction (weight 0) does not count, whatever its label.
    relabeled = dict(batch, masked_lm_ids=np.where(weights == 0, 99, batch["masked_lm_ids"]).astype(np.int32))
    np.testing.assert_allclose(pretraining_losses(outputs, relabeled)["masked_lm_loss"], losses["masked_lm_loss"])


def _loss_and_gradients(model: BertPretrainer, features: dict, training: bool = False) -> tuple:
    with tf.GradientTape() as tape:
        loss = pretraining_losses(model(features, training=training), features)["loss"]
    return loss, [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]


def test_xla_compiled_training_step_matches_eager(pretrainer):
    batch = {name: tf.constant(value) for name, value in sample_batch().items()}
    compiled = tf.function(lambda features, training: _loss_and_gradients(pretrainer, features, training),
                           jit_compile=True)
    loss, gradients = compiled(batch, False)
    eager_loss, eager_gradients = _loss_and_gradients(pretrainer, batch)
    np.testing.assert_allclose(loss, eager_loss, rtol=1e-5)
    for gradient, eager in zip(gradients, eager_gradients):
        np.testing.assert_allclose(gradient, eager, atol=1e-5)
    dropped = [float(compiled(batch, True)[0]) for _ in range(2)]
    assert np.isfinite(dropped).all() and dropped[0] != dropped[1]


def test_mirrored_strategy_step_matches_one_device(pretrainer, tmp_path):
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    if len(devices) < 2:
        pytest.skip("needs two logical CPUs, which must be configured before TF initializes")
    strategy = tf.distribute.MirroredStrategy(devices[:2])
    with strategy.scope():
        model = BertPretrainer(CONFIG)
        model.build()
    # The weights reach the mirrored variables through a reference-layout checkpoint.
    load_checkpoint(model, save_checkpoint(pretrainer, str(tmp_path / "model.ckpt")))
    batch = sample_batch()

    @tf.function
    def step(features, training):
        def replica_step(replica_features):
            return _loss_and_gradients(model, replica_features, training)
        losses, gradients = strategy.run(replica_step, args=(features,))
        return strategy.experimental_local_results(losses), strategy.reduce("MEAN", gradients, axis=None)

    def distributed(features):
        dataset = tf.data.Dataset.from_tensor_slices(features).batch(2)
        return next(iter(strategy.experimental_distribute_dataset(dataset)))

    losses, gradients = step(distributed(batch), False)
    halves = [{name: value[i:i + 1] for name, value in batch.items()} for i in (0, 1)]
    with tf.GradientTape() as tape:
        expected = [pretraining_losses(pretrainer(half), half)["loss"] for half in halves]
        mean = (expected[0] + expected[1]) / 2
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    for gradient, single in zip(gradients, tape.gradient(mean, pretrainer.trainable_variables), strict=True):
        np.testing.assert_allclose(gradient, tf.convert_to_tensor(single), atol=1e-5)
    # The same example on both replicas: equal losses without dropout, different masks with it.
    same_example_twice = {name: np.concatenate([value[:1], value[:1]]) for name, value in batch.items()}
    inference, _ = step(distributed(same_example_twice), False)
    np.testing.assert_allclose(inference[0], inference[1], rtol=1e-6)
    training, _ = step(distributed(same_example_twice), True)
    assert abs(float(training[0]) - float(training[1])) > 1e-3


def test_mixed_bfloat16_computes_in_bfloat16_with_float32_logits(pretrainer):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = BertPretrainer(CONFIG)
        mixed.build()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(pretrainer.get_weights())
    batch = sample_batch()
    outputs, reference = mixed(batch), pretrainer(batch)
    assert outputs["sequence_output"].dtype == tf.bfloat16
    assert all(weight.dtype == "float32" for weight in mixed.weights)
    assert outputs["masked_lm_logits"].dtype == tf.float32 and outputs["next_sentence_logits"].dtype == tf.float32
    # bfloat16 keeps about 3 significant digits.
    np.testing.assert_allclose(outputs["masked_lm_logits"], reference["masked_lm_logits"], atol=0.1)

