"""The corpus layout: ranges of rank keys cut by real sizes, dense ranks, shard counts, and a range's rank
order."""
from __future__ import annotations

import numpy as np

from pipelines.pretraining.instances import InstanceOptions, TokenizedDocument
from pipelines.pretraining.layout import make_layout, rank_key, rank_order
from pipelines.pretraining.options import PretrainingDataOptions
from tests.support.pretraining_data import bucket_totals


def _range_contents(layout, documents: dict[str, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(documents, tokens) of every range of `layout`."""
    ranges = [layout.range_of(rank_key(seed, doc_id)) for doc_id in documents]
    return (np.bincount(ranges, minlength=layout.num_ranges),
            np.bincount(ranges, weights=list(documents.values()), minlength=layout.num_ranges))


def test_ranges_hold_at_most_docs_per_range_documents_and_count_from_dense_ranks():
    options = PretrainingDataOptions(output="out", lengths=(InstanceOptions(128, 20), InstanceOptions(512, 80)),
                                     docs_per_range=4)
    documents = {f"doc{i}": 100 for i in range(40)}
    layout = make_layout(bucket_totals(documents, options.seed), options)
    assert layout.num_documents == 40 and 10 <= layout.num_ranges <= 20
    assert set(layout.shards) == {128, 512} and all(count >= 1 for count in layout.shards.values())
    assert make_layout(bucket_totals(documents, options.seed), PretrainingDataOptions(
        output="out", lengths=options.lengths, num_shards=3)).shards == {128: 3, 512: 3}
    counts, _ = _range_contents(layout, documents, options.seed)
    assert counts.max() <= 4 and counts.min() >= 1  # no empty range: every range starts at a bucket holding any
    assert layout.starts.tolist() == [0, *np.cumsum(counts).tolist()] and layout.starts[-1] == 40
    assert layout.bounds[0] == 0 and list(layout.bounds) == sorted(set(layout.bounds))


def test_ranges_are_cut_by_real_sizes_so_the_largest_stays_near_tokens_per_range():
    # Heavy-tailed sizes, as books beside Wikipedia stubs: ranges of equal key spans would hold them unevenly.
    sizes = np.random.default_rng(5).pareto(1.2, 4000) * 2000 + 50
    documents = {f"doc{i}": int(size) for i, size in enumerate(sizes)}
    options = PretrainingDataOptions(output="out", lengths=(InstanceOptions(128, 20),), tokens_per_range=100_000)
    layout = make_layout(bucket_totals(documents, options.seed), options)
    counts, tokens = _range_contents(layout, documents, options.seed)
    assert counts.sum() == 4000 and tokens.sum() == sum(documents.values())
    over = tokens > options.tokens_per_range
    # Only a bucket over the limit by itself (here one long document) makes a range over it.
    assert all(counts[over] == 1) and tokens[~over].max() > 0.9 * options.tokens_per_range
    assert layout.num_ranges <= 2 * sum(documents.values()) / options.tokens_per_range


def test_empty_corpus_has_one_empty_range():
    options = PretrainingDataOptions(output="out", lengths=(InstanceOptions(128, 20),))
    layout = make_layout({}, options)
    assert (layout.num_documents, layout.num_ranges, layout.starts.tolist()) == (0, 1, [0, 0])
    assert layout.range_of(rank_key(options.seed, "any")) == 0


def test_rank_order_does_not_depend_on_arrival_order_even_with_duplicate_ids():
    def document(doc_id: str, first: int) -> tuple[int, TokenizedDocument]:
        tokens = np.arange(first, first + 3, dtype=np.int32)
        return rank_key(1, doc_id), TokenizedDocument(doc_id, tokens, np.array([0, 3]), None)

    documents = [document("a", 10), document("b", 20), document("a", 5)]
    orders = {tuple((d.id, int(d.tokens[0])) for d in rank_order(documents[::step])[0]) for step in (1, -1)}
    assert len(orders) == 1 and sorted(next(iter(orders))) == [("a", 5), ("a", 10), ("b", 20)]
    _, keys = rank_order(documents)
    assert keys.dtype == np.int64 and (np.diff(keys) >= 0).all()
