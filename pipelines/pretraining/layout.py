"""How the corpus is cut for pairing without any worker holding it: every document's rank key, the ranges of
rank keys that are grouped together, every document's dense rank, and the number of shards per length."""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from pipelines.pretraining.instances import TokenizedDocument, stable_int
from pipelines.pretraining.options import PretrainingDataOptions

_MAX_RANGES = 1 << 20  # beyond ~32M documents, ranges grow instead of the side input
_SHARD_BYTES = 64 * 2**20  # automatic sharding target


class Layout(NamedTuple):
    """What the whole corpus decides: its size, the rank ranges, the shard counts."""

    num_documents: int
    num_ranges: int
    shards: dict[int, int]  # max_seq_length -> number of shards

    def range_of(self, rank_key: int) -> int:
        return (rank_key * self.num_ranges) >> 63  # rank keys are 63-bit (stable_int)


def make_layout(totals: tuple[int, int], options: PretrainingDataOptions) -> Layout:
    """The layout of a corpus of totals = (documents, tokens)."""
    documents, tokens = totals
    ranges = max(1, min(_MAX_RANGES, math.ceil(max(documents / options.docs_per_range,
                                                   tokens / options.tokens_per_range))))
    shards = {}
    for length in options.lengths:
        # About dupe_factor * tokens / content length instances of ~5 bytes per position.
        instances = options.dupe_factor * tokens / max(1, length.max_num_tokens)
        automatic = max(1, math.ceil(instances * length.max_seq_length * 5 / _SHARD_BYTES))
        shards[length.max_seq_length] = options.num_shards or automatic
    return Layout(documents, ranges, shards)


def rank_key(seed: int, document_id: str) -> int:
    """A document's place in the corpus-wide rank order (63 bits; ties are broken by id, then content)."""
    return stable_int(seed, "rank", document_id)


def range_starts(range_counts: list[tuple[int, int]], layout: Layout) -> np.ndarray:
    """First dense rank of every range (and N at the end), from (range, documents) pairs."""
    counts = np.zeros(layout.num_ranges, dtype=np.int64)
    for index, count in range_counts:
        counts[index] = count
    return np.concatenate([[0], np.cumsum(counts)])


def rank_order(ranked: Iterable[tuple[int, TokenizedDocument]]) -> tuple[list[TokenizedDocument], np.ndarray]:
    """A range's (rank key, document) pairs in rank order (rank key, then id, then content for duplicate ids),
    whatever order they arrive in: the documents and their rank keys."""
    ordered = sorted(ranked, key=lambda kd: (kd[0], kd[1].id))
    if any(a.id == b.id for (_, a), (_, b) in itertools.pairwise(ordered)):  # rare: copy tokens only then
        ordered.sort(key=lambda kd: (kd[0], kd[1].id, kd[1].tokens.tobytes()))
    return [document for _, document in ordered], np.array([rank for rank, _ in ordered], dtype=np.int64)
