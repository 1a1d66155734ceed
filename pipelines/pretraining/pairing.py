"""Next-sentence pairs of a range of documents, with random-next segments from the whole corpus.

A range's documents make their actual-next instances on the spot. Each
random-next chunk becomes a request carrying its A segment, addressed to a
donor rank drawn uniformly from the N-1 other ranks; the requests meet the
donor's range, whose documents give the B segments (fulfil_requests).
"""
from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from pipelines.pretraining.instance_batch import InstanceBatch
from pipelines.pretraining.instances import (
    DONOR_RANK,
    DONOR_START,
    Chunk,
    DocumentRun,
    TokenizedDocument,
    plan_chunks,
    random_words,
    round_instance_seeds,
    span_index,
    stable_int,
)
from pipelines.pretraining.options import PretrainingDataOptions


class RequestBatch(NamedTuple):
    """Random-next chunks waiting for their B segments from documents of one range, column by column
    (Beam pickles one object instead of one per request)."""

    donor_positions: np.ndarray  # the donor's place in the range's rank order
    requesters: np.ndarray  # rank key of the requesting document, never the donor's
    sizes: np.ndarray  # max_seq_length
    seeds: np.ndarray  # the instances', see instance_seeds
    a_tokens: np.ndarray  # A segments back to back
    a_offsets: np.ndarray  # A segment i is a_tokens[a_offsets[i]:a_offsets[i + 1]]
    a_starts: np.ndarray | None  # word starts of a_tokens, for whole-word masking
    target_b_lengths: np.ndarray


def pair_range(documents: list[TokenizedDocument], rank_keys: np.ndarray, range_index: int, starts: np.ndarray,
               num_documents: int, options: PretrainingDataOptions, batches: dict[int, InstanceBatch],
               counts: Counter) -> Iterator[tuple[int, RequestBatch]]:
    """Actual-next instances of a range's documents (in rank order) go into `batches` now; returns the
    requests for random-next ones, (donor range, RequestBatch) one donor range at a time. `starts` is
    Layout.starts."""
    run = DocumentRun.of(documents)
    bases = {size: batch.add_tokens(run.tokens, run.word_starts) for size, batch in batches.items()}
    requests = [request for position, document in enumerate(documents)
                for request in _pair_document(document, starts[range_index] + position, rank_keys[position],
                                              run.document_offsets(position), num_documents, options, batches,
                                              bases, counts)]
    if not requests:
        return iter(())
    return _request_batches(run, [np.concatenate(column) for column in zip(*requests)], starts)


def _pair_document(document: TokenizedDocument, rank: int, rank_key: int, offsets: np.ndarray, num_documents: int,
                   options: PretrainingDataOptions, batches: dict[int, InstanceBatch], bases: dict[int, int],
                   counts: Counter) -> Iterator[tuple]:
    """Actual-next instances go into `batches`; the random-next chunks of every round come out as
    columns (donor ranks, requester rank keys, sizes, seeds, A begins, A ends, B target lengths), with
    `offsets` the document's sentence ends in the range's DocumentRun. Chunks are planned round by round,
    and handled with numpy once per length for all rounds together."""
    sentence_lengths = np.diff(document.offsets).tolist()
    others = num_documents - 1
    for length in options.lengths:
        size, base = length.max_seq_length, bases[length.max_seq_length]
        plans, round_seeds = [], []
        for round_index in range(options.dupe_factor):
            round_seed = stable_int(options.seed, "plan", document.id, size, round_index)
            plans.append(plan_chunks(sentence_lengths, length.max_num_tokens, length.short_seq_prob,
                                     random.Random(round_seed)))
            round_seeds.append(round_seed)
        fields = itertools.chain.from_iterable(itertools.chain.from_iterable(plans))
        plan = np.fromiter(fields, dtype=np.int64).reshape(-1, len(Chunk._fields))
        seeds = round_instance_seeds(round_seeds, [len(chunks) for chunks in plans])
        a_begin, a_end, b_end = offsets[plan[:, 0]], offsets[plan[:, 1]], offsets[plan[:, 2]]
        actual = plan[:, 3] == 0
        batches[size].add_pairs(seeds[actual], base + a_begin[actual], base + a_end[actual],
                                base + a_end[actual], base + b_end[actual], False)
        wanted = ~actual
        if others == 0:  # a corpus of one document
            if wanted.any():
                counts[f"seq{size}_random_next_without_other_document"] += int(wanted.sum())
            continue
        donors = (random_words(seeds[wanted], DONOR_RANK, 1)[:, 0] % np.uint64(others)).astype(np.int64)
        count = len(donors)
        yield (donors + (donors >= rank), np.full(count, rank_key), np.full(count, size), seeds[wanted],
               a_begin[wanted], a_end[wanted], plan[wanted, 4])


def _request_batches(run: DocumentRun, columns: list[np.ndarray], starts: np.ndarray
                     ) -> Iterator[tuple[int, RequestBatch]]:
    """(donor range, RequestBatch) per donor range, from the columns of _pair_document."""
    donor_ranks, requesters, sizes, seeds, a_begin, a_end, targets = columns
    donor_ranges = np.searchsorted(starts, donor_ranks, side="right") - 1
    order = np.argsort(donor_ranges, kind="stable")
    cuts = np.flatnonzero(np.diff(donor_ranges[order])) + 1
    for rows in np.split(order, cuts):
        donor_range = int(donor_ranges[rows[0]])
        lengths = a_end[rows] - a_begin[rows]
        index = span_index(a_begin[rows], lengths)
        yield donor_range, RequestBatch(
            donor_ranks[rows] - starts[donor_range], requesters[rows], sizes[rows], seeds[rows],
            run.tokens[index], np.concatenate([[0], np.cumsum(lengths)]),
            None if run.word_starts is None else run.word_starts[index], targets[rows])


def fulfil_requests(documents: list[TokenizedDocument], rank_keys: np.ndarray, requests: Iterable[RequestBatch],
                    batches: dict[int, InstanceBatch], counts: Counter) -> None:
    """Random-next instances into `batches`: the requests addressed to a range's documents (in rank order)
    get their B segments from them."""
    run = DocumentRun.of(documents)
    bases = {size: batch.add_tokens(run.tokens, run.word_starts) for size, batch in batches.items()}
    for request in requests:
        start_words = random_words(request.seeds, DONOR_START, 1)[:, 0]
        b_begin, b_end = run.donor_spans(request.donor_positions, request.target_b_lengths, start_words)
        same = int((rank_keys[request.donor_positions] == request.requesters).sum())
        if same:
            counts["random_next_from_same_document"] += same  # impossible by construction; tests watch it
        for size in np.unique(request.sizes).tolist():
            rows = request.sizes == size
            a_base = batches[size].add_tokens(request.a_tokens, request.a_starts)
            batches[size].add_pairs(request.seeds[rows], a_base + request.a_offsets[:-1][rows],
                                    a_base + request.a_offsets[1:][rows], bases[size] + b_begin[rows],
                                    bases[size] + b_end[rows], True)
