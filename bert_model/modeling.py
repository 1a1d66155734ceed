"""BERT as Keras 3 layers: embeddings, transformer encoder, pooler, pretraining heads.

Layers and weights are laid out and shaped as in the reference (kernels
[in, out], `output_weights` [2, hidden]), so `checkpoints` maps each weight to
its reference variable name without reshaping. Every model is a plain callable
with a `training` flag (for custom loops under `tf.distribute` and
`jit_compile`); `build()` creates the weights from the config alone, so no
dummy call is needed.

Inputs are dicts with the TFRecord feature names of run_pretraining.py:
`input_ids`, `input_mask`, `segment_ids` [batch, seq] and, for the
pretrainer, `masked_lm_positions` [batch, predictions].
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from bert_model.config import BertConfig

# Added to the attention scores of padding keys, as in the reference: large
# enough to zero them after softmax, small enough for float16.
_MASK_ADDER = -10000.0
LAYER_NORM_EPSILON = 1e-12


def _initializer(config: BertConfig) -> keras.initializers.Initializer:
    # Truncated at two standard deviations, like TF1's truncated_normal_initializer.
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def _dense(config: BertConfig, units: int, name: str, activation: Any = None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=_initializer(config), name=name)


def _layer_norm() -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="LayerNorm")


class ReplicaDropout(keras.layers.Dropout):
    """Keras dropout whose mask also depends on the replica: under tf.distribute
    every replica holds the same seed state, so Keras's own dropout would drop
    the same positions on every replica."""

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training or self.rate == 0:
            return inputs
        seed = self.seed_generator.next()
        replica = tf.distribute.get_replica_context()
        if replica is not None:
            seed = tf.random.experimental.stateless_fold_in(seed, replica.replica_id_in_sync_group)
        return tf.nn.experimental.stateless_dropout(inputs, rate=self.rate, seed=seed)


class Embeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(name="embeddings", **kwargs)
        self.config = config
        self.layer_norm = _layer_norm()
        self.dropout = ReplicaDropout(config.hidden_dropout_prob)

    def build(self, input_shape: Any = None) -> None:
        config, init = self.config, _initializer(self.config)
        self.word_embeddings = self.add_weight(
            (config.vocab_size, config.hidden_size), init, name="word_embeddings")
        self.token_type_embeddings = self.add_weight(
            (config.type_vocab_size, config.hidden_size), init, name="token_type_embeddings")
        self.position_embeddings = self.add_weight(
            (config.max_position_embeddings, config.hidden_size), init, name="position_embeddings")
        self.layer_norm.build((None, None, config.hidden_size))
        super().build(input_shape)

    def call(self, input_ids: Any, segment_ids: Any, training: bool = False) -> Any:
        seq_length = ops.shape(input_ids)[1]
        embeddings = (
            ops.take(self.word_embeddings, input_ids, axis=0)
            + ops.take(self.token_type_embeddings, segment_ids, axis=0)
            + self.position_embeddings[None, :seq_length]
        )
        return self.dropout(self.layer_norm(embeddings), training=training)


class SelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention; padding keys get no weight."""

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(name="self", **kwargs)
        self.config = config
        self.query = _dense(config, config.hidden_size, "query")
        self.key = _dense(config, config.hidden_size, "key")
        self.value = _dense(config, config.hidden_size, "value")
        self.dropout = ReplicaDropout(config.attention_probs_dropout_prob)

    def build(self, input_shape: Any = None) -> None:
        for projection in (self.query, self.key, self.value):
            projection.build((None, None, self.config.hidden_size))
        super().build(input_shape)

    def _heads(self, projected: Any) -> Any:
        # [batch, seq, hidden] -> [batch, seq, heads, head_size]
        return ops.reshape(
            projected, ops.shape(projected)[:2] + (self.config.num_attention_heads, self.config.head_size))

    def call(self, hidden: Any, mask_adder: Any, training: bool = False) -> Any:
        query, key, value = (self._heads(projection(hidden)) for projection in (self.query, self.key, self.value))
        scores = ops.einsum("bqnd,bknd->bnqk", query, key) * (1.0 / math.sqrt(self.config.head_size))
        probs = self.dropout(ops.softmax(scores + mask_adder, axis=-1), training=training)
        context = ops.einsum("bnqk,bknd->bqnd", probs, value)
        return ops.reshape(context, ops.shape(hidden))


class DenseResidualNorm(keras.layers.Layer):
    """Dense to hidden_size, dropout, add the residual, LayerNorm: the reference's
    `attention/output` and `output` blocks, which differ only in input width."""

    def __init__(self, config: BertConfig, input_width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.input_width = input_width
        self.dense = _dense(config, config.hidden_size, "dense")
        self.dropout = ReplicaDropout(config.hidden_dropout_prob)
        self.layer_norm = _layer_norm()

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, None, self.input_width))
        self.layer_norm.build((None, None, self.config.hidden_size))
        super().build(input_shape)

    def call(self, inputs: Any, residual: Any, training: bool = False) -> Any:
        return self.layer_norm(self.dropout(self.dense(inputs), training=training) + residual)


class TransformerLayer(keras.layers.Layer):
    """One encoder block: self-attention and feed-forward, each with residual and LayerNorm."""

    def __init__(self, config: BertConfig, index: int, **kwargs: Any) -> None:
        super().__init__(name=f"layer_{index}", **kwargs)
        self.config = config
        self.attention = SelfAttention(config)
        self.attention_output = DenseResidualNorm(config, config.hidden_size, name="attention_output")
        self.intermediate = _dense(config, config.intermediate_size, "intermediate", config.activation)
        self.output_block = DenseResidualNorm(config, config.intermediate_size, name="output")

    def build(self, input_shape: Any = None) -> None:
        self.attention.build()
        self.attention_output.build()
        self.intermediate.build((None, None, self.config.hidden_size))
        self.output_block.build()
        super().build(input_shape)

    def call(self, hidden: Any, mask_adder: Any, training: bool = False) -> Any:
        attended = self.attention_output(
            self.attention(hidden, mask_adder, training=training), hidden, training=training)
        return self.output_block(self.intermediate(attended), attended, training=training)


class Pooler(keras.layers.Layer):
    """tanh dense on the first ([CLS]) position."""

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(name="pooler", **kwargs)
        self.config = config
        self.dense = _dense(config, config.hidden_size, "dense", "tanh")

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, self.config.hidden_size))
        super().build(input_shape)

    def call(self, sequence_output: Any) -> Any:
        return self.dense(sequence_output[:, 0])


class BertModel(keras.Model):
    """The encoder. Returns a dict: `sequence_output` [batch, seq, hidden],
    `pooled_output` [batch, hidden] and `encoder_outputs`, every layer's
    output in order (the last one is `sequence_output`).

    `input_mask` defaults to all ones and `segment_ids` to zeros.
    """

    def __init__(self, config: BertConfig, name: str = "bert", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder_layers = [TransformerLayer(config, index) for index in range(config.num_hidden_layers)]
        self.pooler = Pooler(config)

    def build(self, input_shape: Any = None) -> None:
        self.embeddings.build()
        for layer in self.encoder_layers:
            layer.build()
        self.pooler.build()
        super().build(input_shape)

    def call(self, inputs: Mapping[str, Any], training: bool = False) -> dict[str, Any]:
        input_ids = inputs["input_ids"]
        input_mask = inputs.get("input_mask")
        if input_mask is None:
            input_mask = ops.ones_like(input_ids)
        segment_ids = inputs.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, segment_ids, training=training)
        # [batch, 1 (heads), 1 (queries), seq (keys)]: only keys are masked.
        mask_adder = (1.0 - ops.cast(input_mask[:, None, None, :], hidden.dtype)) * _MASK_ADDER
        encoder_outputs = []
        for layer in self.encoder_layers:
            hidden = layer(hidden, mask_adder, training=training)
            encoder_outputs.append(hidden)
        return {"sequence_output": hidden, "pooled_output": self.pooler(hidden), "encoder_outputs": encoder_outputs}


class MaskedLMHead(keras.layers.Layer):
    """Transform (dense + activation + LayerNorm), then logits against the word
    embeddings (tied: passed in, not owned) plus an output bias."""

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(name="predictions", **kwargs)
        self.config = config
        self.transform = _dense(config, config.hidden_size, "transform", config.activation)
        self.layer_norm = _layer_norm()

    def build(self, input_shape: Any = None) -> None:
        self.transform.build((None, None, self.config.hidden_size))
        self.layer_norm.build((None, None, self.config.hidden_size))
        self.output_bias = self.add_weight((self.config.vocab_size,), "zeros", name="output_bias")
        super().build(input_shape)

    def call(self, sequence_output: Any, positions: Any, word_embeddings: Any) -> Any:
        # tf.gather, not ops.take_along_axis: that broadcasts int64 indices, which oneDNN logs as an error on CPUs.
        gathered = tf.gather(sequence_output, ops.cast(positions, "int32"), batch_dims=1)
        transformed = self.layer_norm(self.transform(gathered))
        logits = ops.matmul(transformed, ops.transpose(ops.cast(word_embeddings, transformed.dtype)))
        return ops.cast(logits + self.output_bias, "float32")


class PooledLogitsHead(keras.layers.Layer):
    """A linear layer on the pooled output, float32 logits; weights stored [units, hidden] like the reference's
    `output_weights`, hence the transpose in call. Fine-tuning classifiers use it with their label count."""

    def __init__(self, config: BertConfig, units: int, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.config = config
        self.units = units

    def build(self, input_shape: Any = None) -> None:
        self.output_weights = self.add_weight(
            (self.units, self.config.hidden_size), _initializer(self.config), name="output_weights")
        self.output_bias = self.add_weight((self.units,), "zeros", name="output_bias")
        super().build(input_shape)

    def call(self, pooled_output: Any) -> Any:
        return ops.cast(ops.matmul(pooled_output, ops.transpose(self.output_weights)) + self.output_bias, "float32")


class NextSentenceHead(PooledLogitsHead):
    """Two-way classifier on the pooled output (0: next sentence, 1: random)."""

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(config, 2, "seq_relationship", **kwargs)


class BertPretrainer(keras.Model):
    """BertModel with the masked-LM and next-sentence heads.

    Returns the encoder's dict plus `masked_lm_logits` [batch, predictions,
    vocab] at `masked_lm_positions` and `next_sentence_logits` [batch, 2],
    both float32 whatever the compute dtype.
    """

    def __init__(self, config: BertConfig, name: str = "bert_pretrainer", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.config = config
        self.bert = BertModel(config)
        self.masked_lm = MaskedLMHead(config)
        self.next_sentence = NextSentenceHead(config)

    def build(self, input_shape: Any = None) -> None:
        self.bert.build()
        self.masked_lm.build()
        self.next_sentence.build()
        super().build(input_shape)

    def call(self, inputs: Mapping[str, Any], training: bool = False) -> dict[str, Any]:
        outputs = self.bert(inputs, training=training)
        masked_lm_logits = self.masked_lm(
            outputs["sequence_output"], inputs["masked_lm_positions"], self.bert.embeddings.word_embeddings)
        return {
            **outputs,
            "masked_lm_logits": masked_lm_logits,
            "next_sentence_logits": self.next_sentence(outputs["pooled_output"]),
        }


def pretraining_losses(outputs: Mapping[str, Any], features: Mapping[str, Any]) -> dict[str, Any]:
    """The losses of run_pretraining.py, as float32 scalars.

    masked_lm_loss: cross-entropy at each prediction, averaged with
    `masked_lm_weights` (0 for padding predictions) over the batch;
    next_sentence_loss: mean cross-entropy of `next_sentence_labels`;
    loss: their sum. These are means over the batch given, so under a
    distribution strategy each replica's loss is its local mean.
    """
    weights = ops.cast(features["masked_lm_weights"], "float32")
    per_prediction = ops.sparse_categorical_crossentropy(
        ops.cast(features["masked_lm_ids"], "int32"), outputs["masked_lm_logits"], from_logits=True)
    # The reference's 1e-5 keeps a batch without predictions finite.
    masked_lm_loss = ops.sum(weights * per_prediction) / (ops.sum(weights) + 1e-5)
    labels = ops.reshape(ops.cast(features["next_sentence_labels"], "int32"), (-1,))
    next_sentence_loss = ops.mean(
        ops.sparse_categorical_crossentropy(labels, outputs["next_sentence_logits"], from_logits=True))
    return {
        "loss": masked_lm_loss + next_sentence_loss,
        "masked_lm_loss": masked_lm_loss,
        "next_sentence_loss": next_sentence_loss,
    }
