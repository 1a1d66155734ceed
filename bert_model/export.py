"""A SavedModel for serving: int32 input_ids/input_mask/segment_ids in,
pooled_output and sequence_output out."""
from __future__ import annotations

import tensorflow as tf

from bert_model.modeling import BertModel

_INPUT = tf.TensorSpec([None, None], tf.int32)


class _Serving(tf.Module):
    def __init__(self, model: BertModel) -> None:
        super().__init__()
        self.model = model

    @tf.function(input_signature=[_INPUT, _INPUT, _INPUT])
    def serve(self, input_ids: tf.Tensor, input_mask: tf.Tensor, segment_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = self.model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
                             training=False)
        return {"pooled_output": outputs["pooled_output"], "sequence_output": outputs["sequence_output"]}


def export_saved_model(model: BertModel, export_dir: str) -> str:
    """Writes the encoder as a SavedModel whose `serving_default` signature takes
    [batch, seq] int32 tensors; returns export_dir. Pass `pretrainer.bert` to
    export a pretrainer's encoder."""
    if not model.built:
        model.build()
    serving = _Serving(model)
    tf.saved_model.save(serving, export_dir, signatures={"serving_default": serving.serve})
    return export_dir
