"""Instances of one max_seq_length encoded together: truncation, [CLS] A [SEP] B [SEP] layout, masking,
tf.train.Examples."""
from __future__ import annotations

from collections import Counter

import numpy as np

from formats.tfrecord import RecordBlock, framed_examples
from pipelines.pretraining.instances import ORDER, InstanceOptions, SpecialIds, random_words, span_index, truncations
from pipelines.pretraining.masking import mask_tokens, mask_whole_words


# Token positions (instances x max_seq_length) encoded at once: ~50 MB of arrays, whatever a range makes.
ENCODED_POSITIONS = 1 << 20


def _place(ids: np.ndarray, starts: np.ndarray, tokens: np.ndarray, token_starts: np.ndarray | None,
           begins: np.ndarray, kept: np.ndarray, first_column: np.ndarray) -> None:
    """Writes tokens[begins[i]:begins[i] + kept[i]] (and their word starts) into row i from first_column[i]
    on, all rows at once."""
    source = span_index(begins, kept)
    target = span_index(np.arange(len(begins)) * ids.shape[1] + first_column, kept)
    ids.ravel()[target] = tokens[source]
    if token_starts is not None:
        starts.ravel()[target] = token_starts[source]
        starts[np.arange(len(begins)), first_column] = True  # a segment never starts mid-word


class InstanceBatch:
    """Collects instances of one max_seq_length; truncates, masks and encodes them as tf.train.Examples
    together (numpy over the whole batch: per-instance Python cost more than all the rest).

    Instances are added as spans of token arrays added before (add_tokens), a whole document round or
    request batch at a time.
    """

    def __init__(self, options: InstanceOptions, special: SpecialIds) -> None:
        self.options, self.special = options, special
        self._clear()
        self.counts: Counter = Counter()  # instances, random_next, truncated_tokens, tokens, masked

    def _clear(self) -> None:
        self.tokens: list[np.ndarray] = []
        self.word_starts: list[np.ndarray] = []
        self.size = 0  # tokens added so far
        self.columns: list[tuple[np.ndarray, ...]] = []  # (seeds, a begin, a end, b begin, b end, random next)

    def add_tokens(self, tokens: np.ndarray, word_starts: np.ndarray | None) -> int:
        """Makes `tokens` available to spans; returns the position of their first in the batch."""
        self.tokens.append(tokens)
        if word_starts is not None:
            self.word_starts.append(word_starts)
        self.size += len(tokens)
        return self.size - len(tokens)

    def add_pairs(self, seeds: np.ndarray, a_begin: np.ndarray, a_end: np.ndarray, b_begin: np.ndarray,
                  b_end: np.ndarray, random_next: bool) -> None:
        """[CLS] A [SEP] B [SEP] after truncation, A and B spans of the batch's tokens; `seeds` are the
        instances' (see instance_seeds)."""
        flags = np.full(len(seeds), random_next)
        self.columns.append((np.asarray(seeds, dtype=np.uint64), a_begin, a_end, b_begin, b_end, flags))

    def add_pair(self, seed: int, a: np.ndarray, b: np.ndarray, a_starts: np.ndarray | None,
                 b_starts: np.ndarray | None, random_next: bool) -> None:
        """One instance from its own A and B."""
        a_begin, b_begin = self.add_tokens(a, a_starts), self.add_tokens(b, b_starts)
        self.add_pairs(np.array([seed]), np.array([a_begin]), np.array([a_begin + len(a)]), np.array([b_begin]),
                       np.array([b_begin + len(b)]), random_next)

    def add_packed(self, seed: int, content: np.ndarray, content_starts: np.ndarray | None) -> None:
        """[CLS] content [SEP] for MLM-only data; [SEP]s inside content separate documents."""
        begin = self.add_tokens(content, content_starts)
        self.add_pairs(np.array([seed]), np.array([begin]), np.array([begin + len(content)]), np.array([0]),
                       np.array([0]), False)

    def encode(self) -> tuple[np.ndarray, RecordBlock]:
        """Every instance's order key (int64; it also picks the shard) and its tf.train.Example, framed."""
        if not self.columns:
            return np.zeros(0, dtype=np.int64), RecordBlock(b"", np.zeros(0, dtype=np.int64))
        columns = [np.concatenate(column) for column in zip(*self.columns)]
        tokens = np.concatenate(self.tokens)
        words = np.concatenate(self.word_starts) if self.word_starts else None
        # Each instance's bytes depend on it alone (its seed drives truncation and masking), so the rows are
        # encoded a slice at a time: a range's requests can make tens of thousands of instances, whose
        # full-width int64 arrays at once would set a worker's peak memory.
        step = max(1, ENCODED_POSITIONS // self.options.max_seq_length)
        blocks = [self._encode_rows(tokens, words, *(column[first:first + step] for column in columns))
                  for first in range(0, len(columns[0]), step)]
        seeds = columns[0]
        orders = (random_words(seeds, ORDER, 1)[:, 0] >> np.uint64(1)).astype(np.int64)  # below 2**63, see stable_int
        self._clear()
        return orders, RecordBlock.concat(blocks)

    def _encode_rows(self, tokens: np.ndarray, words: np.ndarray | None, seeds: np.ndarray, a_begin: np.ndarray,
                     a_end: np.ndarray, b_begin: np.ndarray, b_end: np.ndarray, random_next: np.ndarray
                     ) -> RecordBlock:
        """The framed tf.train.Examples of the instances given by these columns, spans of `tokens`."""
        options, special = self.options, self.special
        count, width = len(seeds), options.max_seq_length
        ids = np.zeros((count, width), dtype=np.int64)
        starts = np.zeros((count, width), dtype=bool)
        a_lengths = a_end - a_begin
        first_column = np.ones(count, dtype=np.int64)
        if options.nsp:
            b_lengths = b_end - b_begin
            front_a, back_a, front_b, back_b = truncations(a_lengths, b_lengths, options.max_num_tokens, seeds)
            self.counts["truncated_tokens"] += int((front_a + back_a + front_b + back_b).sum())
            kept_a, kept_b = a_lengths - front_a - back_a, b_lengths - front_b - back_b
            b_begins = 2 + kept_a
            ends = b_begins + kept_b
            ids[np.arange(count), b_begins - 1] = special.sep
            _place(ids, starts, tokens, words, a_begin + front_a, kept_a, first_column)
            _place(ids, starts, tokens, words, b_begin + front_b, kept_b, b_begins)
        else:
            b_begins, ends = np.full(count, width, dtype=np.int64), 1 + a_lengths
            _place(ids, starts, tokens, words, a_begin, a_lengths, first_column)
        rows = np.arange(count)
        ids[:, 0] = special.cls
        ids[rows, ends] = special.sep
        columns = np.arange(width)
        input_mask = columns[None, :] <= ends[:, None]
        candidate = input_mask & (ids != special.cls) & (ids != special.sep)
        if options.whole_word_mask:
            positions, labels = mask_whole_words(ids, ends + 1, candidate, starts, seeds, options, special)
        else:
            positions, labels = mask_tokens(ids, ends + 1, candidate, seeds, options, special)
        masked = (positions > 0).sum(axis=1)  # [CLS] at 0 is never masked; 0 is padding
        nsp = random_next.astype(np.int64)
        self.counts.update(instances=count, random_next=int(nsp.sum()), tokens=int(input_mask.sum()),
                           masked=int(masked.sum()))
        return framed_examples({
            "input_ids": ids,
            "input_mask": input_mask.astype(np.int64),
            "segment_ids": (input_mask & (columns[None, :] >= b_begins[:, None])).astype(np.int64),
            "masked_lm_positions": positions,
            "masked_lm_ids": labels,
            "masked_lm_weights": (np.arange(options.max_predictions_per_seq)[None, :] < masked[:, None]
                                  ).astype(np.float32),
            "next_sentence_labels": nsp[:, None],
        })


def new_batches(lengths: tuple[InstanceOptions, ...], special: SpecialIds) -> dict[int, InstanceBatch]:
    """An empty batch per length, by max_seq_length."""
    return {length.max_seq_length: InstanceBatch(length, special) for length in lengths}
