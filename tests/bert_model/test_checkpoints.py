"""Reference-layout checkpoints: the reference model (bert-tensorflow, run in a
TF1 graph) writes one with tf.compat.v1.train.Saver; our model loads it and
must reproduce the reference's outputs. Then save -> load round trips, an
encoder-only checkpoint, refusals with clear errors, and the SavedModel."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bert_model.checkpoints import (
    CheckpointError,
    load_checkpoint,
    reference_variables,
    save_checkpoint,
)
from bert_model.config import BertConfig
from bert_model.export import export_saved_model
from bert_model.modeling import BertModel, BertPretrainer, pretraining_losses

pytest.importorskip("bert")
from tests.support.reference_modeling import TINY_CONFIG, run_reference, sample_batch

CONFIG = BertConfig.from_dict(TINY_CONFIG)
HEADS = (
    "cls/predictions/transform/dense/kernel", "cls/predictions/transform/dense/bias",
    "cls/predictions/transform/LayerNorm/gamma", "cls/predictions/transform/LayerNorm/beta",
    "cls/predictions/output_bias", "cls/seq_relationship/output_weights", "cls/seq_relationship/output_bias",
)
ATOL = 1e-5


@pytest.fixture(scope="module")
def batch() -> dict[str, np.ndarray]:
    return sample_batch()


@pytest.fixture(scope="module")
def full(tmp_path_factory, batch) -> tuple[str, dict]:
    """A pretraining checkpoint written by the reference (with heads, global_step
    and Adam slots) and the reference's outputs with its weights."""
    folder = tmp_path_factory.mktemp("reference")
    return str(folder), run_reference(TINY_CONFIG, batch, seed=1, checkpoint_prefix=f"{folder}/bert_model.ckpt")


@pytest.fixture(scope="module")
def encoder_only(tmp_path_factory, batch) -> tuple[str, dict]:
    prefix = f"{tmp_path_factory.mktemp('encoder')}/bert_model.ckpt"
    return prefix, run_reference(TINY_CONFIG, batch, seed=2, checkpoint_prefix=prefix, heads=False)


def _assert_encoder_matches(outputs: dict, reference: dict) -> None:
    np.testing.assert_allclose(outputs["sequence_output"], reference["sequence_output"], atol=ATOL)
    np.testing.assert_allclose(outputs["pooled_output"], reference["pooled_output"], atol=ATOL)
    for ours, theirs in zip(outputs["encoder_outputs"], reference["encoder_outputs"], strict=True):
        np.testing.assert_allclose(ours, theirs, atol=ATOL)


def test_pretrainer_reproduces_the_reference_model_and_losses(full, batch):
    folder, reference = full
    model = BertPretrainer(CONFIG)
    report = load_checkpoint(model, folder)  # a folder: found through Saver's `checkpoint` file
    assert report.checkpoint == f"{folder}/bert_model.ckpt"
    assert sorted(report.loaded) == sorted(reference["weights"])
    assert report.missing_heads == () and report.unused == ()  # global_step and adam_m/adam_v are skipped
    outputs = model(batch)
    _assert_encoder_matches(outputs, reference)
    # run_pretraining.py flattens predictions to [batch * predictions, vocab].
    masked_lm_log_probs = tf.nn.log_softmax(outputs["masked_lm_logits"]).numpy().reshape(-1, CONFIG.vocab_size)
    np.testing.assert_allclose(masked_lm_log_probs, reference["masked_lm_log_probs"], atol=ATOL)
    np.testing.assert_allclose(tf.nn.log_softmax(outputs["next_sentence_logits"]),
                               reference["next_sentence_log_probs"], atol=ATOL)
    losses = pretraining_losses(outputs, batch)
    np.testing.assert_allclose(losses["masked_lm_loss"], reference["masked_lm_loss"], rtol=1e-5)
    np.testing.assert_allclose(losses["next_sentence_loss"], reference["next_sentence_loss"], rtol=1e-5)


def test_encoder_loads_from_a_pretraining_checkpoint_and_reports_the_heads_unused(full, batch):
    folder, reference = full
    model = BertModel(CONFIG)
    report = load_checkpoint(model, f"{folder}/bert_model.ckpt.index")
    assert sorted(report.unused) == sorted(HEADS)
    _assert_encoder_matches(model(batch), reference)


def test_encoder_only_checkpoint_leaves_the_heads_initialized(encoder_only, batch):
    prefix, reference = encoder_only
    model = BertPretrainer(CONFIG)
    model.build()
    heads_before = {name: variable.numpy().copy() for name, variable in reference_variables(model).items()
                    if name.startswith("cls/")}
    report = load_checkpoint(model, prefix)
    assert sorted(report.missing_heads) == sorted(HEADS)
    _assert_encoder_matches(model(batch), reference)
    for name, before in heads_before.items():
        np.testing.assert_array_equal(reference_variables(model)[name].numpy(), before)


def test_a_shape_mismatch_names_the_variable_and_loads_nothing(full):
    folder, _ = full
    model = BertPretrainer(BertConfig.from_dict({**TINY_CONFIG, "intermediate_size": 48}))
    model.build()
    before = [weight.numpy().copy() for weight in model.weights]
    with pytest.raises(CheckpointError, match=r"bert/encoder/layer_0/intermediate/dense/kernel has shape \[32, 64\] "
                                              r"but the model expects \[32, 48\]"):
        load_checkpoint(model, folder)
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_an_object_based_checkpoint_is_refused_with_the_names_it_has(tmp_path):
    prefix = tf.train.Checkpoint(step=tf.Variable(3)).write(str(tmp_path / "object"))
    with pytest.raises(CheckpointError, match="lacks bert/embeddings/word_embeddings .*this one has e.g. .*step"):
        load_checkpoint(BertModel(CONFIG), prefix)


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=f"no checkpoint at {tmp_path}/nothing"):
        load_checkpoint(BertModel(CONFIG), str(tmp_path / "nothing"))


def test_save_writes_the_reference_layout_and_loads_back(full, batch, tmp_path):
    folder, reference = full
    model = BertPretrainer(CONFIG)
    load_checkpoint(model, folder)
    prefix = save_checkpoint(model, f"{tmp_path}/saved/model.ckpt-12", global_step=12)
    reader = tf.train.load_checkpoint(prefix)
    assert sorted(reader.get_variable_to_shape_map()) == sorted([*reference["weights"], "global_step"])
    assert reader.get_tensor("global_step") == 12
    for name, value in reference["weights"].items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)
    reloaded = BertPretrainer(CONFIG)
    load_checkpoint(reloaded, f"{tmp_path}/saved")  # a folder with one checkpoint and no state file
    np.testing.assert_array_equal(reloaded(batch)["masked_lm_logits"], model(batch)["masked_lm_logits"])


def test_saved_model_serves_pooled_and_sequence_output(full, batch, tmp_path):
    folder, reference = full
    model = BertModel(CONFIG)
    load_checkpoint(model, folder)
    serving = tf.saved_model.load(export_saved_model(model, str(tmp_path / "serving")))
    signature = serving.signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert sorted(inputs) == ["input_ids", "input_mask", "segment_ids"]
    assert {spec.dtype for spec in inputs.values()} == {tf.int32}
    outputs = signature(**{name: tf.constant(batch[name]) for name in inputs})
    np.testing.assert_allclose(outputs["sequence_output"], reference["sequence_output"], atol=ATOL)
    np.testing.assert_allclose(outputs["pooled_output"], reference["pooled_output"], atol=ATOL)
    shorter = signature(**{name: tf.constant(batch[name][:, :5]) for name in inputs})  # any sequence length
    assert shorter["sequence_output"].shape == (2, 5, 32)
