"""Shards written from pieces in memory and handed off as files: records in order-key order, bytes on ties."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from formats.tfrecord import framed_examples
from pipelines.pretraining import shard_writer
from pipelines.handoff import Spool
from pipelines.pretraining.shard_writer import shard_piece, write_shard


def _pieces(tmp_path: Path, orders: np.ndarray, spilled_every: int) -> tuple[list, list[bytes]]:
    """Pieces of 10 records each (every spilled_every-th one handed off as files) and the records in
    the order the shard must have them."""
    rng = np.random.default_rng(len(orders))
    records = framed_examples({"ids": rng.integers(0, 30000, (len(orders), 7)), "label": rng.integers(0, 2, (len(orders), 1))})
    spool = Spool(str(tmp_path / "handoff"), limit=300)
    pieces = [shard_piece(orders, records, np.arange(first, min(first + 10, len(orders)))[::-1],
                          spool if (first // 10) % spilled_every == 0 else None)
              for first in range(0, len(orders), 10)]
    spool.close()
    framed = records.records()
    expected = [framed[row] for row in sorted(range(len(orders)), key=lambda row: (orders[row], framed[row]))]
    return pieces, expected


@pytest.mark.parametrize("per_chunk", [1, 7, 4096])
@pytest.mark.parametrize("spilled_every", [1, 2])
def test_records_come_out_in_order_key_order_from_spilled_and_held_pieces(tmp_path, monkeypatch, per_chunk,
                                                                          spilled_every):
    monkeypatch.setattr(shard_writer, "RECORDS_PER_CHUNK", per_chunk)
    orders = np.random.default_rng(1).permutation(95).astype(np.int64) * 1000
    pieces, expected = _pieces(tmp_path, orders, spilled_every)
    assert any(isinstance(p, shard_writer.SpilledPiece) for p in pieces)
    assert write_shard(str(tmp_path / "shard"), pieces, None) == 95
    assert (tmp_path / "shard").read_bytes() == b"".join(expected)


def test_equal_order_keys_are_ordered_by_the_records_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(shard_writer, "RECORDS_PER_CHUNK", 4)
    orders = np.repeat(np.arange(6, dtype=np.int64), 5)  # every key five times, across pieces
    pieces, expected = _pieces(tmp_path, orders, 2)
    write_shard(str(tmp_path / "shard.gz"), pieces, "gzip")
    assert gzip.decompress((tmp_path / "shard.gz").read_bytes()) == b"".join(expected)


def test_a_shard_without_pieces_is_an_empty_file(tmp_path):
    assert write_shard(str(tmp_path / "empty"), [], None) == 0
    assert (tmp_path / "empty").read_bytes() == b""
