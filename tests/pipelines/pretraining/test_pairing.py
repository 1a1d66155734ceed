"""Next-sentence pairing of ranges: actual-next instances on the spot, random-next requests to donors of the
whole corpus, fulfilled by the donors' ranges."""
from __future__ import annotations

from collections import Counter

import numpy as np

from pipelines.pretraining.instance_batch import new_batches
from pipelines.pretraining.instances import InstanceOptions
from pipelines.pretraining.layout import rank_order
from pipelines.pretraining.options import PretrainingDataOptions
from pipelines.pretraining.pairing import fulfil_requests, pair_range
from tests.support.pretraining_data import SPECIAL, tokenized_document

OPTIONS = PretrainingDataOptions(output="out", lengths=(InstanceOptions(32, 5),), dupe_factor=3)


def _corpus(ranges: int, per_range: int) -> list[tuple[list, np.ndarray]]:
    """Documents of 8 sentences of 5 tokens each, in ranges of rank order (rank keys count up)."""
    ranks = np.arange(ranges * per_range).reshape(ranges, per_range).tolist()
    return [rank_order((rank, tokenized_document([5] * 8, 1000 * rank, f"d{rank}")) for rank in row) for row in ranks]


def test_random_next_requests_reach_other_documents_of_every_range_and_are_fulfilled():
    ranges = _corpus(3, 4)
    starts = np.array([0, 4, 8, 12])
    requests_to: dict[int, list] = {index: [] for index in range(3)}
    made = Counter()
    for index, (documents, rank_keys) in enumerate(ranges):
        batches, counts = new_batches(OPTIONS.lengths, SPECIAL), Counter()
        for donor_range, batch in pair_range(documents, rank_keys, index, starts, 12, OPTIONS, batches, counts):
            requests_to[donor_range].append(batch)
        made["actual"] += sum(len(seeds) for seeds, *_ in batches[32].columns)
        assert not counts
    assert all(requests_to.values())  # every range is asked
    for index, (documents, rank_keys) in enumerate(ranges):
        batches, counts = new_batches(OPTIONS.lengths, SPECIAL), Counter()
        fulfil_requests(documents, rank_keys, requests_to[index], batches, counts)
        assert "random_next_from_same_document" not in counts  # a request never reaches its own document
        orders, records = batches[32].encode()
        made["random"] += batches[32].counts["random_next"]
        assert batches[32].counts["instances"] == batches[32].counts["random_next"] == len(orders) > 0
    assert made["actual"] > 0 and made["random"] == sum(len(b.seeds) for r in requests_to.values() for b in r)


def test_a_corpus_of_one_document_counts_its_random_next_chunks():
    [(documents, rank_keys)] = _corpus(1, 1)
    batches, counts = new_batches(OPTIONS.lengths, SPECIAL), Counter()
    assert list(pair_range(documents, rank_keys, 0, np.array([0, 1]), 1, OPTIONS, batches, counts)) == []
    assert counts["seq32_random_next_without_other_document"] > 0 and batches[32].columns
