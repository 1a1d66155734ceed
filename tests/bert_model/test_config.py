"""BertConfig reads and writes the reference bert_config.json; hidden_act names."""
from __future__ import annotations

import json
import logging
import math
import re
import uuid

import numpy as np
import pytest
import tensorflow as tf

from bert_model.config import ACTIVATIONS, BertConfig, ConfigError

# The bert_config.json published with BERT-Base, Uncased.
BASE_UNCASED = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2, "vocab_size": 30522,
}


def _write(text: str) -> str:
    folder = f"ram://bertprep-config-{uuid.uuid4().hex}"  # TF's in-memory filesystem, shared per process
    tf.io.gfile.makedirs(folder)
    path = f"{folder}/bert_config.json"
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(text)
    return path


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("bert")
    from tests.support.reference_modeling import import_reference_modules

    return import_reference_modules().modeling


def test_reads_a_published_config_and_writes_the_same_json_as_the_reference(reference):
    path = _write(json.dumps(BASE_UNCASED))
    config = BertConfig.from_json_file(path)
    assert config.to_dict() == BASE_UNCASED
    assert config.head_size == 64
    assert config.to_json_string() == reference.BertConfig.from_json_file(path).to_json_string()


def test_defaults_are_the_references(reference):
    assert BertConfig(vocab_size=99).to_dict() == reference.BertConfig(vocab_size=99).to_dict()


def test_to_json_file_round_trips():
    config = BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=512, hidden_act="gelu_exact", type_vocab_size=2)
    path = _write("")
    config.to_json_file(path)
    assert BertConfig.from_json_file(path) == config


def test_unknown_keys_are_ignored_with_a_warning(caplog):
    # Keys of the multilingual config that the model does not use.
    values = {**BASE_UNCASED, "directionality": "bidi", "pooler_type": "first_token_transform"}
    with caplog.at_level(logging.WARNING):
        config = BertConfig.from_dict(values)
    assert config == BertConfig.from_dict(BASE_UNCASED)
    assert "directionality, pooler_type" in caplog.text


@pytest.mark.parametrize("change, message", [
    ({"num_attention_heads": 5}, "hidden_size 768 is not a multiple of num_attention_heads 5"),
    ({"hidden_act": "gelu_fast"}, "unknown hidden_act 'gelu_fast'"),
    ({"vocab_size": 0}, "vocab_size must be a positive integer"),
    ({"num_hidden_layers": "12"}, "num_hidden_layers must be a positive integer"),
    ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob must be in [0, 1)"),
    ({"initializer_range": 0}, "initializer_range must be positive"),
])
def test_invalid_fields_are_named(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        BertConfig.from_dict({**BASE_UNCASED, **change})


@pytest.mark.parametrize("text, message", [
    (json.dumps({"hidden_size": 768}), "no vocab_size"),
    ("[1, 2]", "a config is a JSON object"),
    ("{'vocab_size': 3}", "is not JSON"),
])
def test_unusable_files_are_named(text, message):
    path = _write(text)
    with pytest.raises(ConfigError, match=message) as error:
        BertConfig.from_json_file(path)
    assert path in str(error.value)


X = np.linspace(-4.0, 4.0, 81, dtype=np.float32)


def _gelu_exact(x: np.ndarray) -> np.ndarray:
    return np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.tolist()], np.float32)


def test_gelu_is_the_references_tanh_approximation_and_gelu_exact_the_erf_form(reference):
    gelu = np.asarray(BertConfig(vocab_size=9, hidden_act="gelu").activation(tf.constant(X)))
    np.testing.assert_allclose(gelu, reference.gelu(tf.constant(X)).numpy(), atol=1e-6)
    exact = np.asarray(BertConfig(vocab_size=9, hidden_act="gelu_exact").activation(tf.constant(X)))
    np.testing.assert_allclose(exact, _gelu_exact(X), atol=1e-6)
    assert np.abs(gelu - exact).max() > 1e-4  # the two differ measurably, so configs must say which
    np.testing.assert_array_equal(np.asarray(ACTIVATIONS["gelu_new"](X)), gelu)


@pytest.mark.parametrize("name, expected", [
    ("relu", np.maximum(X, 0)),
    ("swish", X / (1 + np.exp(-X))),
    ("silu", X / (1 + np.exp(-X))),
    ("tanh", np.tanh(X)),
])
def test_other_activations(name, expected):
    np.testing.assert_allclose(np.asarray(ACTIVATIONS[name](tf.constant(X))), expected, atol=1e-6)


def test_released_models_by_name() -> None:
    from bert_model.config import config_names, load_config, named_config

    names = config_names()
    assert len(names) == 6 + 24 and len(set(names)) == len(names)
    for name in names:
        config = named_config(name, 30522)
        assert config.num_attention_heads == config.hidden_size // 64
        assert config.intermediate_size == 4 * config.hidden_size
        assert (config.type_vocab_size, config.max_position_embeddings, config.hidden_act) == (2, 512, "gelu")
    # The published configs of BERT-Base and of a miniature, vocab_size from the caller.
    assert named_config("bert-base", 30522).to_dict() == BASE_UNCASED
    assert named_config("L-12_H-768", 30522) == named_config("bert-base", 30522)
    tiny = named_config("bert-tiny", 1000)
    assert (tiny.num_hidden_layers, tiny.hidden_size, tiny.num_attention_heads, tiny.vocab_size) == (2, 128, 2, 1000)
    large = named_config("bert-large", 30522)
    assert (large.num_hidden_layers, large.hidden_size, large.num_attention_heads, large.intermediate_size) == (
        24, 1024, 16, 4096)
    assert load_config("L-4_H-256", lambda: 99) == named_config("bert-mini", 99)
    with pytest.raises(ConfigError, match=r"L-3_H-256 does not exist; give a bert_config.json or a model name: "
                                          r"bert-tiny, .*bert-large"):
        load_config("L-3_H-256", lambda: 99)
    path = _write(json.dumps(BASE_UNCASED))
    assert load_config(path, lambda: pytest.fail("a file needs no vocab size")).to_dict() == BASE_UNCASED
