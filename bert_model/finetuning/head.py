"""What a fine-tuning task supplies: its head model and its per-example loss."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import keras
import tensorflow as tf

from bert_model.modeling import BertModel


class HeadModel(Protocol):
    """What `Finetuner` needs of a task's model (see the package docstring)."""

    bert: BertModel
    trainable_variables: list
    variables: list

    def build(self, input_shape: Any = None) -> None: ...

    def head_variables(self) -> dict[str, keras.Variable]: ...

    def __call__(self, features: Mapping[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]: ...


LossFn = Callable[[Mapping[str, tf.Tensor], Mapping[str, tf.Tensor]], tf.Tensor]
