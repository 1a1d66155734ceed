"""Imports the reference google-research/bert model code under TF2, as a test oracle.

bert-tensorflow==1.0.4 was written for TF1 and needs three things TF 2.21 no
longer has; they are provided only while its modules import, through a
stand-in `tensorflow` module that otherwise forwards to tf.compat.v1:
- `tf.contrib.layers.layer_norm` (gone with contrib),
- `tf.layers.dense` (tf.compat.v1.layers refuses to run under Keras 3),
- distinct absl flags per script (handled by reference_bert.CompatV1).
The stand-ins create the same variable names (`LayerNorm/gamma|beta`,
`dense/kernel|bias`) and compute the same functions as the TF1 originals.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import tensorflow as tf

from tests.support.reference_bert import CompatV1, import_reference

_MODULES = ("modeling", "run_pretraining", "extract_features")


def _layer_norm(inputs: Any, begin_norm_axis: int = -1, begin_params_axis: int = -1, scope: Any = None) -> Any:
    v1 = tf.compat.v1
    width = inputs.shape[-1]
    with v1.variable_scope(scope, default_name="LayerNorm"):
        beta = v1.get_variable("beta", [width], initializer=v1.zeros_initializer())
        gamma = v1.get_variable("gamma", [width], initializer=v1.ones_initializer())
    mean, variance = tf.nn.moments(inputs, axes=[-1], keepdims=True)
    return tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, variance_epsilon=1e-12)


def _dense(inputs: Any, units: int, activation: Any = None, kernel_initializer: Any = None, name: Any = None) -> Any:
    v1 = tf.compat.v1
    with v1.variable_scope(name, default_name="dense"):
        kernel = v1.get_variable("kernel", [inputs.shape[-1], units], initializer=kernel_initializer)
        bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
    outputs = tf.matmul(inputs, kernel) + bias
    return activation(outputs) if activation is not None else outputs


class _TensorFlowV1(CompatV1):
    """tf.compat.v1 with tolerant flags (CompatV1) and the stand-ins above."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = SimpleNamespace(dense=_dense)


def import_reference_modules() -> SimpleNamespace:
    """`modeling`, `run_pretraining` and `extract_features` from bert-tensorflow;
    ImportError (-> pytest skip) when it is not installed."""
    stand_in = _TensorFlowV1()
    contrib = SimpleNamespace(layers=SimpleNamespace(layer_norm=_layer_norm))
    modules = {name: import_reference(name, stand_in, {"tensorflow.contrib": contrib}) for name in _MODULES}
    return SimpleNamespace(**modules)


def random_weight(name: str, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    """Values far from the initializers' (unit gammas, zero biases), so a weight
    that is not loaded or is misplaced changes the outputs."""
    noise = rng.normal(0.0, 0.2, shape).astype(np.float32)
    return noise + 1.0 if name.endswith("LayerNorm/gamma") else noise


def run_reference(config: dict, inputs: dict[str, np.ndarray], seed: int, checkpoint_prefix: str,
                  heads: bool = True) -> dict[str, Any]:
    """Builds the reference BertModel (and with `heads` the pretraining heads of
    run_pretraining.py) in a TF1 graph, sets every weight to random values,
    saves them with tf.compat.v1.train.Saver at `checkpoint_prefix` (with a
    global_step and Adam slots, like a pretraining checkpoint) and returns the
    reference's outputs on `inputs` (numpy) and the weights by name."""
    reference = import_reference_modules()
    v1 = tf.compat.v1
    rng = np.random.default_rng(seed)
    with tf.Graph().as_default():
        bert_config = reference.modeling.BertConfig.from_dict(config)
        model = reference.modeling.BertModel(
            bert_config, is_training=False, input_ids=tf.constant(inputs["input_ids"]),
            input_mask=tf.constant(inputs["input_mask"]), token_type_ids=tf.constant(inputs["segment_ids"]))
        fetches = {
            "sequence_output": model.get_sequence_output(),
            "pooled_output": model.get_pooled_output(),
            "encoder_outputs": model.get_all_encoder_layers(),
        }
        if heads:
            fetches["masked_lm_loss"], _, fetches["masked_lm_log_probs"] = reference.run_pretraining.get_masked_lm_output(
                bert_config, model.get_sequence_output(), model.get_embedding_table(),
                tf.constant(inputs["masked_lm_positions"]), tf.constant(inputs["masked_lm_ids"]),
                tf.constant(inputs["masked_lm_weights"]))
            fetches["next_sentence_loss"], _, fetches["next_sentence_log_probs"] = (
                reference.run_pretraining.get_next_sentence_output(
                    bert_config, model.get_pooled_output(), tf.constant(inputs["next_sentence_labels"])))
        weights = {variable.op.name: random_weight(variable.op.name, variable.shape.as_list(), rng)
                   for variable in v1.global_variables()}
        variables = {variable.op.name: variable for variable in v1.global_variables()}
        v1.train.get_or_create_global_step()
        for slot in ("adam_m", "adam_v"):
            v1.get_variable(f"bert/embeddings/word_embeddings/{slot}", [config["vocab_size"], config["hidden_size"]],
                            initializer=v1.zeros_initializer())
        assigns = [variables[name].assign(value) for name, value in weights.items()]
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(assigns)
            outputs = session.run(fetches)
            v1.train.Saver().save(session, checkpoint_prefix, write_meta_graph=False)
    return {**outputs, "weights": weights}


# A small model for oracle comparisons: two layers, four heads, vocab of the test vocab's first 120 ids.
TINY_CONFIG = {
    "vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16, "type_vocab_size": 2,
    "initializer_range": 0.02,
}


def sample_batch(seed: int = 0, vocab_size: int = 120) -> dict[str, np.ndarray]:
    """Two int32 pretraining examples of 8 tokens; the second is padded after 5
    and has one padding prediction (weight 0)."""
    rng = np.random.default_rng(seed)
    input_mask = np.array([[1] * 8, [1] * 5 + [0] * 3], np.int32)
    return {
        "input_ids": (rng.integers(1, vocab_size, (2, 8)) * input_mask).astype(np.int32),
        "input_mask": input_mask,
        "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0]], np.int32),
        "masked_lm_positions": np.array([[1, 4, 6], [2, 3, 0]], np.int32),
        "masked_lm_ids": rng.integers(1, vocab_size, (2, 3)).astype(np.int32),
        "masked_lm_weights": np.array([[1, 1, 1], [1, 1, 0]], np.float32),
        "next_sentence_labels": np.array([[0], [1]], np.int32),
    }
