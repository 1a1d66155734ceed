"""A SavedModel of a fine-tuned classifier that takes raw text.

Signatures:
- `serving_default(text_a, text_b)`: [batch] UTF-8 strings (text_b "" for single-sentence tasks) ->
  `probabilities` [batch, labels] (regression: `scores` [batch]), `logits`, and `label` [batch] strings (the
  most probable label). Tokenization, truncation and [CLS]/[SEP] packing are the same as the features of
  `classifier_data.convert_examples`, in TensorFlow ops (`graph_tokenizer`), so TF Serving needs nothing else.
- `serve_features(input_ids, input_mask, segment_ids)`: [batch, seq] int32, for callers that tokenize.

The vocabulary is saved in the model's tables and as the asset `vocab.txt`; `labels.json` beside
`saved_model.pb` says what the outputs are (`classification.labels`).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from bert_model.classification.labels import TaskLabels, write_labels
from bert_model.classification.model import BertClassifier
from bert_model.graph_tokenizer import GraphTokenizer
from vocab.tokenization import load_vocab

_TEXT = tf.TensorSpec([None], tf.string)
_IDS = tf.TensorSpec([None, None], tf.int32)


def pair_lengths(length_a: tf.Tensor, length_b: tf.Tensor, budget: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The lengths the reference's pair truncation (pop from the longer, b on a tie) leaves, in closed form:
    the shorter side keeps its length when the longer one can make up the rest, else a gets ceil(budget / 2)
    and b floor(budget / 2)."""
    fits = length_a + length_b <= budget
    shorter = tf.minimum(length_a, length_b)
    shorter_kept = shorter <= budget - shorter
    a = tf.where(fits, length_a, tf.where(shorter_kept, tf.where(length_a <= length_b, length_a, budget - length_b),
                                          (budget + 1) // 2))
    b = tf.where(fits, length_b, tf.where(shorter_kept, tf.where(length_b < length_a, length_b, budget - length_a),
                                          budget // 2))
    return a, b


class _ClassifierServing(tf.Module):
    def __init__(self, model: BertClassifier, vocab_file: str, do_lower_case: bool, max_seq_length: int,
                 labels: Sequence[str]) -> None:
        super().__init__()
        vocab = load_vocab(vocab_file)
        self.model, self.max_seq_length = model, max_seq_length
        self.tokenizer = GraphTokenizer(vocab, do_lower_case)
        self.cls_id, self.sep_id = vocab["[CLS]"], vocab["[SEP]"]
        self.labels = tf.constant(list(labels) or [""])
        self.vocab_asset = tf.saved_model.Asset(vocab_file)

    def features(self, text_a: tf.Tensor, text_b: tf.Tensor) -> dict[str, tf.Tensor]:
        """The int32 features of each (text_a, text_b), as convert_examples makes them."""
        tokens_a, tokens_b = self.tokenizer.tokenize(text_a), self.tokenizer.tokenize(text_b)
        length_a, length_b = tokens_a.row_lengths(), tokens_b.row_lengths()
        pair_a, pair_b = pair_lengths(length_a, length_b, self.max_seq_length - 3)
        is_pair = length_b > 0
        keep_a = tf.where(is_pair, pair_a, tf.minimum(length_a, self.max_seq_length - 2))
        keep_b = tf.where(is_pair, pair_b, 0)
        tokens_a = tf.ragged.boolean_mask(tokens_a, tf.ragged.range(length_a) < keep_a[:, None])
        tokens_b = tf.ragged.boolean_mask(tokens_b, tf.ragged.range(length_b) < keep_b[:, None])
        batch = tf.shape(text_a, out_type=tf.int64)[0]
        cls = tf.fill([batch, 1], tf.constant(self.cls_id, tf.int64))
        sep = tf.fill([batch, 1], tf.constant(self.sep_id, tf.int64))
        # The second [SEP] only for pairs: a zero-length row of it otherwise.
        second_sep = tf.ragged.boolean_mask(sep, tf.broadcast_to(is_pair[:, None], [batch, 1]))
        first = tf.concat([cls, tokens_a, sep], axis=1)
        ids = tf.concat([first, tokens_b, second_sep], axis=1)
        segments = tf.concat([tf.zeros_like(first), tf.ones_like(tokens_b), tf.ones_like(second_sep)], axis=1)
        shape = [batch, self.max_seq_length]
        return {"input_ids": tf.cast(ids.to_tensor(0, shape=shape), tf.int32),
                "input_mask": tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32),
                "segment_ids": tf.cast(segments.to_tensor(0, shape=shape), tf.int32)}

    def _outputs(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        logits = self.model(features, training=False)["logits"]
        if self.model.is_regression:
            return {"scores": logits[:, 0], "logits": logits}
        probabilities = tf.nn.softmax(logits, axis=-1)
        return {"probabilities": probabilities, "logits": logits,
                "label": tf.gather(self.labels, tf.argmax(probabilities, axis=-1))}

    @tf.function(input_signature=[_TEXT, _TEXT])
    def serve_text(self, text_a: tf.Tensor, text_b: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._outputs(self.features(text_a, text_b))

    @tf.function(input_signature=[_IDS, _IDS, _IDS])
    def serve_features(self, input_ids: tf.Tensor, input_mask: tf.Tensor, segment_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._outputs({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})


def export_classifier(model: BertClassifier, export_dir: str, vocab_file: str, labels: TaskLabels) -> str:
    """Writes the SavedModel described above to `export_dir` (local or gs://), with labels.json beside it (so a
    reader, such as `bertprep distill --teacher`, knows the task, labels, case and length without loading it);
    returns export_dir. Building the tokenizer's character table takes a few seconds."""
    if labels.max_seq_length is None:
        raise ValueError("export_classifier needs the features' max_seq_length in `labels`")
    serving = _ClassifierServing(model, vocab_file, labels.do_lower_case, labels.max_seq_length, labels.labels)
    tf.saved_model.save(serving, export_dir, signatures={"serving_default": serving.serve_text,
                                                         "serve_features": serving.serve_features})
    write_labels(labels, export_dir)
    return export_dir
