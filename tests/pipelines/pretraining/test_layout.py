"""The corpus layout: ranges of rank keys, dense ranks, shard counts, and a range's rank order."""
from __future__ import annotations

import numpy as np

from pipelines.pretraining.instances import InstanceOptions, TokenizedDocument
from pipelines.pretraining.layout import make_layout, rank_key, rank_order, range_starts
from pipelines.pretraining.options import PretrainingDataOptions


def test_ranges_hold_about_docs_per_range_documents_and_count_from_dense_ranks():
    options = PretrainingDataOptions(output="out", lengths=(InstanceOptions(128, 20), InstanceOptions(512, 80)),
                                     docs_per_range=4)
    layout = make_layout((40, 10**6), options)
    assert layout.num_documents == 40 and layout.num_ranges == 10
    assert set(layout.shards) == {128, 512} and all(count >= 1 for count in layout.shards.values())
    assert make_layout((40, 10**6), PretrainingDataOptions(output="out", lengths=options.lengths,
                                                          num_shards=3)).shards == {128: 3, 512: 3}
    ranges = [layout.range_of(rank_key(options.seed, f"doc{i}")) for i in range(40)]
    assert all(0 <= r < layout.num_ranges for r in ranges) and len(set(ranges)) > 5  # rank keys spread evenly
    counts = np.bincount(ranges, minlength=layout.num_ranges)
    starts = range_starts(list(enumerate(counts.tolist())), layout)
    assert starts.tolist() == [0, *np.cumsum(counts).tolist()] and starts[-1] == 40


def test_ranges_are_cut_by_tokens_where_documents_are_long():
    options = PretrainingDataOptions(output="out", lengths=(InstanceOptions(128, 20),))
    assert make_layout((40, 10**7), options).num_ranges == 10**7 // options.tokens_per_range  # books
    assert make_layout((10**6, 10**7), options).num_ranges == -(-10**6 // options.docs_per_range)  # short lines
    assert make_layout((3, 10), options).num_ranges == 1


def test_rank_order_does_not_depend_on_arrival_order_even_with_duplicate_ids():
    def document(doc_id: str, first: int) -> tuple[int, TokenizedDocument]:
        tokens = np.arange(first, first + 3, dtype=np.int32)
        return rank_key(1, doc_id), TokenizedDocument(doc_id, tokens, np.array([0, 3]), None)

    documents = [document("a", 10), document("b", 20), document("a", 5)]
    orders = {tuple((d.id, int(d.tokens[0])) for d in rank_order(documents[::step])[0]) for step in (1, -1)}
    assert len(orders) == 1 and sorted(next(iter(orders))) == [("a", 5), ("a", 10), ("b", 20)]
    _, keys = rank_order(documents)
    assert keys.dtype == np.int64 and (np.diff(keys) >= 0).all()
