"""A SavedModel of a fine-tuned SQuAD model that takes a raw question and context.

Signatures:
- `serving_default(question, context)`: [batch] UTF-8 strings -> `answer` [batch] strings (the best
  span's word pieces joined back into words, lower-cased for uncased models; "" when SQuAD 2.0's null
  answer wins), `answer_start`/`answer_end` (token positions in `input_ids`, 0 for the null answer),
  `score` (start + end logit of the span), `null_score_diff` (null score minus the best span's, as
  null_odds.json), `start_logits`, `end_logits` [batch, seq], `input_ids` and `context_truncated`.
  The sequence is `[CLS] question [SEP] context [SEP]` as run_squad.py packs its first window: the question
  cut to max_query_length pieces, the context to what fits. Longer contexts lose their tail
  (`context_truncated` says so); `bertprep finetune squad --do_predict` slides windows over any length.
- `serve_features(input_ids, input_mask, segment_ids)`: [batch, seq] int32 -> the logits, for callers that
  build windows themselves (e.g. with `squad_data.convert_examples_to_features`).

The best span follows write_predictions' rules: both ends in the context, start <= end, at most
max_answer_length pieces.
"""
from __future__ import annotations

import tensorflow as tf

from bert_model.graph_tokenizer import GraphTokenizer
from bert_model.squad.model import BertSquad
from vocab.tokenization import load_vocab

_TEXT = tf.TensorSpec([None], tf.string)
_IDS = tf.TensorSpec([None, None], tf.int32)


class _SquadServing(tf.Module):
    def __init__(self, model: BertSquad, vocab_file: str, do_lower_case: bool, max_seq_length: int,
                 max_query_length: int, max_answer_length: int, version_2_with_negative: bool,
                 null_score_diff_threshold: float) -> None:
        super().__init__()
        vocab = load_vocab(vocab_file)
        self.model, self.tokenizer = model, GraphTokenizer(vocab, do_lower_case)
        self.max_seq_length, self.max_query_length = max_seq_length, max_query_length
        self.max_answer_length = max_answer_length
        self.version_2_with_negative, self.threshold = version_2_with_negative, null_score_diff_threshold
        self.cls_id, self.sep_id = vocab["[CLS]"], vocab["[SEP]"]
        self.pieces = tf.constant(sorted(vocab, key=vocab.__getitem__))
        self.vocab_asset = tf.saved_model.Asset(vocab_file)

    def features(self, question: tf.Tensor, context: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """The int32 features of the first window of each (question, context), and whether the context was cut."""
        query = self.tokenizer.tokenize(question)[:, :self.max_query_length]
        room = self.max_seq_length - 3 - query.row_lengths()
        document = self.tokenizer.tokenize(context)
        truncated = document.row_lengths() > room
        document = tf.ragged.boolean_mask(document, tf.ragged.range(document.row_lengths()) < room[:, None])
        batch = tf.shape(question, out_type=tf.int64)[0]
        cls = tf.fill([batch, 1], tf.constant(self.cls_id, tf.int64))
        sep = tf.fill([batch, 1], tf.constant(self.sep_id, tf.int64))
        first = tf.concat([cls, query, sep], axis=1)
        second = tf.concat([document, sep], axis=1)
        ids = tf.concat([first, second], axis=1)
        segments = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
        shape = [batch, self.max_seq_length]
        return ({"input_ids": tf.cast(ids.to_tensor(0, shape=shape), tf.int32),
                 "input_mask": tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32),
                 "segment_ids": tf.cast(segments.to_tensor(0, shape=shape), tf.int32)}, truncated)

    def _logits(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return self.model(features, training=False)

    def _answers(self, features: dict[str, tf.Tensor], logits: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        start, end = logits["start_logits"], logits["end_logits"]
        ids, segments = features["input_ids"], features["segment_ids"]
        # Context pieces: segment 1, not the final [SEP] (the last real position).
        last = tf.reduce_sum(features["input_mask"], axis=1, keepdims=True) - 1
        positions = tf.range(tf.shape(ids)[1])[None, :]
        in_context = (segments == 1) & (positions < last)
        offset = positions[:, None, :] - positions[:, :, None]  # [1, start, end]: end - start
        allowed = (in_context[:, :, None] & in_context[:, None, :] & (offset >= 0)
                   & (offset < self.max_answer_length))
        scores = tf.where(allowed, start[:, :, None] + end[:, None, :], float("-inf"))
        width = tf.shape(ids)[1]
        pairs = tf.reshape(scores, [tf.shape(ids)[0], -1])  # (start, end) flattened
        flat = tf.argmax(pairs, axis=1, output_type=tf.int32)
        best_start, best_end = flat // width, flat % width
        best = tf.gather(pairs, flat, batch_dims=1)
        span = (positions >= best_start[:, None]) & (positions <= best_end[:, None])
        pieces = tf.ragged.boolean_mask(tf.gather(self.pieces, ids), span)
        text = tf.strings.regex_replace(tf.strings.reduce_join(pieces, axis=1, separator=" "), " ##", "")
        null_diff = start[:, 0] + end[:, 0] - best
        if self.version_2_with_negative:
            is_null = null_diff > self.threshold
            text = tf.where(is_null, "", text)
            best_start, best_end = tf.where(is_null, 0, best_start), tf.where(is_null, 0, best_end)
        return {"answer": text, "answer_start": best_start, "answer_end": best_end, "score": best,
                "null_score_diff": null_diff, "input_ids": ids, **logits}

    @tf.function(input_signature=[_TEXT, _TEXT])
    def serve_text(self, question: tf.Tensor, context: tf.Tensor) -> dict[str, tf.Tensor]:
        features, truncated = self.features(question, context)
        return {**self._answers(features, self._logits(features)), "context_truncated": truncated}

    @tf.function(input_signature=[_IDS, _IDS, _IDS])
    def serve_features(self, input_ids: tf.Tensor, input_mask: tf.Tensor, segment_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._logits({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})


def export_squad(model: BertSquad, export_dir: str, vocab_file: str, do_lower_case: bool, max_seq_length: int,
                 max_query_length: int, max_answer_length: int, version_2_with_negative: bool,
                 null_score_diff_threshold: float = 0.0) -> str:
    """Writes the SavedModel described above to `export_dir` (local or gs://); returns export_dir."""
    serving = _SquadServing(model, vocab_file, do_lower_case, max_seq_length, max_query_length, max_answer_length,
                            version_2_with_negative, null_score_diff_threshold)
    tf.saved_model.save(serving, export_dir, signatures={"serving_default": serving.serve_text,
                                                         "serve_features": serving.serve_features})
    return export_dir
