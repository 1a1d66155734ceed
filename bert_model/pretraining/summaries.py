"""TensorBoard scalars written with tf.summary alone."""
from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

# What tensorboard.summary.scalar attaches; writing it directly spares training the tensorboard package.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def scalar(name: str, value: Any) -> None:
    """`value` as float32 scalar `name` of the default summary writer, at its step."""
    tf.summary.write(name, tf.cast(value, tf.float32), metadata=_SCALAR_METADATA)
