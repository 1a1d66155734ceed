"""How the corpus is cut for pairing without any worker holding it: every document's rank key, the ranges of
rank keys that are grouped together, every document's dense rank, and the number of shards per length."""
from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from pipelines.pretraining.instances import TokenizedDocument, stable_int
from pipelines.pretraining.options import PretrainingDataOptions

# Ranges are runs of buckets of the rank-key space, cut where the documents' real sizes say: ranges of equal key
# spans would hold a heavy-tailed corpus (books of 500,000 tokens beside stubs of 50) unevenly, and the largest
# of many ranges, which sets a worker's peak memory, would grow with the corpus. 2^16 buckets keep the counts
# combined to the layout small and still cut ranges of 500,000 tokens within ~60,000 tokens for all of English
# Wikipedia (4 billion tokens). Beyond 2^16 x tokens_per_range tokens (32 billion at the default) an average
# bucket outgrows a range, and ranges grow with the corpus.
BUCKET_BITS = 16
_SHARD_BYTES = 64 * 2**20  # automatic sharding target


def bucket_of(rank_key: int) -> int:
    """The bucket of the rank-key space (63-bit keys, see stable_int) a document's rank key falls in."""
    return rank_key >> (63 - BUCKET_BITS)


def count_in_bucket(totals: dict[int, tuple[int, int]], bucket: int, documents: int, tokens: int) -> None:
    """Adds `documents` holding `tokens` tokens to totals[bucket], the (documents, tokens) that make_layout reads."""
    held_documents, held_tokens = totals.get(bucket, (0, 0))
    totals[bucket] = held_documents + documents, held_tokens + tokens


class Layout(NamedTuple):
    """What the whole corpus decides: its size, the rank ranges, the shard counts."""

    num_documents: int
    bounds: tuple[int, ...]  # the first bucket of every range, ascending from 0
    starts: np.ndarray  # the first dense rank of every range, and num_documents at the end
    shards: dict[int, int]  # max_seq_length -> number of shards

    @property
    def num_ranges(self) -> int:
        return len(self.bounds)

    def range_of(self, rank_key: int) -> int:
        return bisect.bisect_right(self.bounds, bucket_of(rank_key)) - 1


def make_layout(bucket_totals: Mapping[int, tuple[int, int]], options: PretrainingDataOptions) -> Layout:
    """The layout of a corpus whose documents hold bucket_totals[bucket] = (documents, tokens) in every bucket
    that holds any: each range takes buckets in key order while it stays within options.docs_per_range and
    options.tokens_per_range (a single bucket over either limit is a range of its own)."""
    bounds, starts = [0], [0]
    documents = tokens = in_range_documents = in_range_tokens = 0
    for bucket in sorted(bucket_totals):
        bucket_documents, bucket_tokens = bucket_totals[bucket]
        if in_range_documents and (in_range_documents + bucket_documents > options.docs_per_range
                                   or in_range_tokens + bucket_tokens > options.tokens_per_range):
            bounds.append(bucket)
            starts.append(documents)
            in_range_documents = in_range_tokens = 0
        in_range_documents += bucket_documents
        in_range_tokens += bucket_tokens
        documents += bucket_documents
        tokens += bucket_tokens
    starts.append(documents)
    shards = {}
    for length in options.lengths:
        # About dupe_factor * tokens / content length instances of ~5 bytes per position.
        instances = options.dupe_factor * tokens / max(1, length.max_num_tokens)
        automatic = max(1, math.ceil(instances * length.max_seq_length * 5 / _SHARD_BYTES))
        shards[length.max_seq_length] = options.num_shards or automatic
    return Layout(documents, tuple(bounds), np.array(starts, dtype=np.int64), shards)


def rank_key(seed: int, document_id: str) -> int:
    """A document's place in the corpus-wide rank order (63 bits; ties are broken by id, then content)."""
    return stable_int(seed, "rank", document_id)


def rank_order(ranked: Iterable[tuple[int, TokenizedDocument]]) -> tuple[list[TokenizedDocument], np.ndarray]:
    """A range's (rank key, document) pairs in rank order (rank key, then id, then content for duplicate ids),
    whatever order they arrive in: the documents and their rank keys."""
    ordered = sorted(ranked, key=lambda kd: (kd[0], kd[1].id))
    if any(a.id == b.id for (_, a), (_, b) in itertools.pairwise(ordered)):  # rare: copy tokens only then
        ordered.sort(key=lambda kd: (kd[0], kd[1].id, kd[1].tokens.tobytes()))
    return [document for _, document in ordered], np.array([rank for rank, _ in ordered], dtype=np.int64)
