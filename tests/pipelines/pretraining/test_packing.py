"""Packing without next-sentence pairs: whole sentences up to the full length, across documents."""
from __future__ import annotations

from pipelines.pretraining.packing import pack_sequences
from tests.support.pretraining_data import SPECIAL
from tests.support.pretraining_data import tokenized_document as _document


def test_packing_fills_sequences_with_whole_sentences_across_documents():
    documents = [_document([5, 7, 4], 1000, "a"), _document([30, 2], 2000, "b"), _document([6], 3000, "c")]
    sequences = list(pack_sequences(documents, 12, SPECIAL.sep))
    contents = [tokens.tolist() for _, tokens, _ in sequences]
    assert [first for first, _, _ in sequences] == ["a", "a", "b", "b", "b", "c"]
    assert all(len(c) <= 12 for c in contents)
    # A 30-token sentence is cut into 12, 12, 6; the 6 and the next sentence share a sequence.
    assert contents[:2] == [list(range(1000, 1012)), list(range(1012, 1016))]
    assert contents[4] == list(range(2024, 2032))
    sequences = list(pack_sequences([_document([3], 1000, "a"), _document([4], 2000, "b")], 12, SPECIAL.sep))
    assert [tokens.tolist() for _, tokens, _ in sequences] == [[1000, 1001, 1002, SPECIAL.sep, 2000, 2001, 2002, 2003]]
    flat = [t for c in contents for t in c if t != SPECIAL.sep]
    assert flat == list(range(1000, 1016)) + list(range(2000, 2032)) + list(range(3000, 3006))
