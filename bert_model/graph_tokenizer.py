"""BERT's tokenizer as TensorFlow ops, so that a SavedModel takes raw text (tensorflow_text is not needed).

Basic tokenization (cleaning, CJK and punctuation splitting, lower-casing, accent stripping) is a
per-character rewrite: a table from code point to replacement, computed in Python from
`vocab.tokenization.BasicTokenizer` itself at export time, then a whitespace split. WordPiece is the
greedy longest-match-first search of the reference, vectorized over all words of a batch: each round
looks up every candidate piece from each word's current position and keeps the longest that is in the
vocabulary. Words over 200 characters, or with no match, become [UNK], as in the reference.

One known difference: Python lower-cases a capital sigma at the end of a word to "ς" (final sigma), the
table to "σ" (the rewrite sees one character at a time).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from vocab.tokenization import BasicTokenizer

MAX_CHARS_PER_WORD = 200  # the reference WordpieceTokenizer's max_input_chars_per_word
_PROBE = "a"  # a character the basic tokenizer leaves alone, put on both sides of the one examined


@functools.lru_cache(maxsize=2)
def character_rewrites(do_lower_case: bool) -> tuple[np.ndarray, np.ndarray]:
    """(code points, replacements) for every character the basic tokenizer changes: deleted (""),
    rewritten ("A" -> "a", "é" -> "e") or split off (" , ") — each found by tokenizing it between two
    probe letters. Takes a few seconds (every code point is tried); cached."""
    tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    points, replacements = [], []
    for point in range(0x110000):
        if 0xD800 <= point < 0xE000:  # surrogates never come out of UTF-8 decoding
            continue
        char = chr(point)
        probe = _PROBE + char + _PROBE
        words = tokenizer.tokenize(probe)
        if words != [probe]:
            # What stands between the probes, words spaced: "" (deleted), "e" (for "É"), " , " (split off).
            points.append(point)
            replacements.append(" ".join(words)[len(_PROBE):-len(_PROBE)].encode("utf-8"))
    return np.array(points, np.int64), np.array(replacements, object)


class GraphTokenizer(tf.Module):
    """Text -> wordpiece ids in the graph; tracked by tf.saved_model (its tables are saved with it)."""

    def __init__(self, vocab: Mapping[str, int], do_lower_case: bool, name: str = "graph_tokenizer") -> None:
        super().__init__(name=name)
        points, replacements = character_rewrites(do_lower_case)
        # A value no rewrite produces marks "keep the character".
        self._keep = "\x01"
        self._rewrites = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(points, tf.int64), tf.constant(replacements, tf.string)),
            default_value=self._keep)
        tokens = sorted(vocab, key=vocab.__getitem__)
        self._vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(tokens, tf.string),
                                                tf.constant([vocab[token] for token in tokens], tf.int64)),
            default_value=-1)
        self.unk_id = vocab["[UNK]"]

    def words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """[batch] strings -> [batch, (words)] basic tokens."""
        # Invalid UTF-8 decodes to U+FFFD, which the basic tokenizer deletes.
        points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        chars = tf.strings.unicode_encode(tf.expand_dims(points, -1), "UTF-8")
        rewritten = self._rewrites.lookup(tf.cast(points, tf.int64))
        chars = tf.where(tf.equal(rewritten, self._keep), chars, rewritten)
        return tf.strings.split(tf.strings.reduce_join(chars, axis=-1))

    def _word_pieces(self, words: tf.Tensor) -> tf.RaggedTensor:
        """[n] words -> [n, (pieces)] ids, greedy longest match first."""
        lengths = tf.strings.length(words, unit="UTF8_CHAR")
        longest = tf.minimum(tf.reduce_max(tf.concat([lengths, [1]], 0)), MAX_CHARS_PER_WORD)
        candidate_lengths = tf.range(1, longest + 1)[None, :]  # [1, longest]
        rounds = longest  # a word yields at most one piece per character
        pieces = tf.TensorArray(tf.int64, size=rounds)
        start = tf.zeros_like(lengths)
        failed = lengths > MAX_CHARS_PER_WORD

        def round_(index: tf.Tensor, start: tf.Tensor, failed: tf.Tensor, pieces: tf.TensorArray):
            active = (start < lengths) & ~failed
            shape = [tf.size(words), longest]
            candidates = tf.strings.substr(tf.broadcast_to(words[:, None], shape),
                                           tf.broadcast_to(start[:, None], shape),
                                           tf.broadcast_to(candidate_lengths, shape), unit="UTF8_CHAR")
            candidates = tf.where(start[:, None] > 0, "##" + candidates, candidates)
            ids = self._vocab.lookup(candidates)
            fits = (start[:, None] + candidate_lengths <= lengths[:, None]) & (ids >= 0)
            best = tf.reduce_max(tf.where(fits, candidate_lengths, 0), axis=1)  # 0: no piece matches
            piece = tf.gather(ids, tf.maximum(best - 1, 0), batch_dims=1)
            failed |= active & (best == 0)
            pieces = pieces.write(index, tf.where(active & (best > 0), piece, -1))
            return index + 1, start + tf.where(active, best, 0), failed, pieces

        _, _, failed, pieces = tf.while_loop(lambda index, *_: index < rounds, round_,
                                             (tf.constant(0), start, failed, pieces))
        per_word = tf.transpose(pieces.stack())  # [n, rounds], -1 after the word's last piece
        ids = tf.ragged.boolean_mask(per_word, per_word >= 0)
        unknown = tf.RaggedTensor.from_tensor(tf.fill([tf.size(words), 1], tf.constant(self.unk_id, tf.int64)))
        return _choose(failed, unknown, ids)

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """[batch] strings -> [batch, (tokens)] int64 wordpiece ids, as FullTokenizer.encode."""
        words = self.words(texts)
        pieces = self._word_pieces(words.flat_values)
        return words.with_flat_values(pieces).merge_dims(1, 2)


def _choose(failed: tf.Tensor, unknown: tf.RaggedTensor, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    """Row i of `unknown` where failed[i], else row i of `ids`."""
    rows = tf.ragged.stack([ids, unknown], axis=1)  # [n, 2, (pieces)]
    return tf.gather(rows, tf.cast(failed, tf.int32), batch_dims=1)
