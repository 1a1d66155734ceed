"""Span prediction on BERT's sequence output, as run_squad.py builds it.

The head is the reference's: one linear layer from each token's hidden state to two logits (start, end),
with weights `cls/squad/output_weights` [2, hidden] and `cls/squad/output_bias` [2] and no dropout, so
checkpoints fine-tuned here and by run_squad.py load into each other. The loss is the mean of the start
and end positions' softmax cross-entropies over the sequence.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from bert_model.config import BertConfig
from bert_model.modeling import BertModel, PooledLogitsHead

OUTPUT_WEIGHTS = "cls/squad/output_weights"
OUTPUT_BIAS = "cls/squad/output_bias"


class BertSquad(keras.Model):
    """BertModel + the reference span head. Returns {"start_logits", "end_logits"}: [batch, seq] float32."""

    def __init__(self, config: BertConfig, name: str = "bert_squad", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.config = config
        self.bert = BertModel(config)
        # The pooled-output head's layer works on every position as well: [batch, seq, hidden] -> [batch, seq, 2].
        self.head = PooledLogitsHead(config, 2, name="squad")

    def build(self, input_shape: Any = None) -> None:
        self.bert.build()
        self.head.build()
        super().build(input_shape)

    def call(self, inputs: Mapping[str, Any], training: bool = False) -> dict[str, Any]:
        logits = self.head(self.bert(inputs, training=training)["sequence_output"])
        return {"start_logits": logits[:, :, 0], "end_logits": logits[:, :, 1]}

    def head_variables(self) -> dict[str, keras.Variable]:
        """The head under its run_squad.py checkpoint names."""
        return {OUTPUT_WEIGHTS: self.head.output_weights, OUTPUT_BIAS: self.head.output_bias}


def span_loss(outputs: Mapping[str, tf.Tensor], features: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Per example: (cross-entropy of start_positions + of end_positions) / 2, the reference's total_loss
    before its batch mean (`Finetuner` takes the mean)."""
    start = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=features["start_positions"],
                                                           logits=outputs["start_logits"])
    end = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=features["end_positions"],
                                                         logits=outputs["end_logits"])
    return (start + end) / 2.0
