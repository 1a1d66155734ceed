"""Sequence classification and regression on BERT's pooled output, as run_classifier.py builds it.

The head is the reference's: dropout 0.1 on the pooled output, then `output_weights` [num_labels, hidden]
and `output_bias` [num_labels] at the top of the checkpoint (no scope), so checkpoints fine-tuned here and
by run_classifier.py load into each other. Classification takes the softmax cross-entropy; regression
(STS-B: one output) the squared error.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from bert_model.config import BertConfig
from bert_model.modeling import BertModel, PooledLogitsHead, ReplicaDropout

# run_classifier.py's create_model uses keep_prob 0.9 whatever the config says.
_HEAD_DROPOUT = 0.1


class BertClassifier(keras.Model):
    """BertModel + the reference classification head. Returns {"logits": [batch, num_labels] float32}.

    `num_labels` 1 makes it a regressor: the single logit is the prediction.
    """

    def __init__(self, config: BertConfig, num_labels: int, name: str = "bert_classifier", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        self.config, self.num_labels = config, num_labels
        self.bert = BertModel(config)
        self.dropout = ReplicaDropout(_HEAD_DROPOUT)
        self.head = PooledLogitsHead(config, num_labels, name="classifier")

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1

    def build(self, input_shape: Any = None) -> None:
        self.bert.build()
        self.head.build()
        super().build(input_shape)

    def call(self, inputs: Mapping[str, Any], training: bool = False) -> dict[str, Any]:
        pooled = self.bert(inputs, training=training)["pooled_output"]
        return {"logits": self.head(self.dropout(pooled, training=training))}

    def head_variables(self) -> dict[str, keras.Variable]:
        """The head under its run_classifier.py checkpoint names."""
        return {"output_weights": self.head.output_weights, "output_bias": self.head.output_bias}


def per_example_loss(regression: bool) -> Any:
    """The loss for `Finetuner`: cross-entropy against `label_ids`, or squared error against float `label_ids`."""

    def loss(outputs: Mapping[str, tf.Tensor], features: Mapping[str, tf.Tensor]) -> tf.Tensor:
        logits = outputs["logits"]
        if regression:
            return tf.square(logits[:, 0] - tf.cast(features["label_ids"], tf.float32))
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=features["label_ids"], logits=logits)

    return loss
