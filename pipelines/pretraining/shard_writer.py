"""One TFRecord shard from the pieces the instance makers send it, in order-key order.

A piece holds the instances of one maker's batch bound for the shard, sorted by
their order keys. The writer ranks the keys of all pieces (the records' bytes
break ties, which 63-bit keys practically never have) and writes the records
a chunk at a time; a chunk needs a contiguous run of each piece, so a piece
handed off as files (SpilledPiece) is read a run at a time and the shard is
never in memory whole: memory stays flat whatever the shard size.
"""
from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
from apache_beam.io.filesystem import CompressionTypes

from formats.tfrecord import RecordBlock, record_starts
from pipelines.output_folder import created
from pipelines.handoff import Reader, Spilled, Spool

RECORDS_PER_CHUNK = 4096


class ShardPiece(NamedTuple):
    """TFRecord-framed instances bound for one shard, in order-key order.

    One Beam element (and one pickle) for many instances: per-element coding
    of (int, bytes) pairs cost more than making the instances.
    """

    orders: np.ndarray  # int64, ascending
    records: RecordBlock


class SpilledPiece(NamedTuple):
    """A ShardPiece handed off as files: its order keys and record ends (pickled), its records (raw)."""

    index: Spilled
    records: Spilled


def shard_piece(orders: np.ndarray, records: RecordBlock, rows: np.ndarray, spool: Spool | None
                ) -> ShardPiece | SpilledPiece:
    """The instances at `rows` as a piece, sorted; spilled when there is a spool."""
    rows = rows[np.argsort(orders[rows], kind="stable")]
    piece = ShardPiece(orders[rows], records.take(rows))
    if spool is None:
        return piece
    return SpilledPiece(spool.add((piece.orders, piece.records.ends)), spool.add_bytes(piece.records.data))


class _Source(NamedTuple):
    """What the writer knows of a piece before reading its records."""

    orders: np.ndarray
    ends: np.ndarray
    piece: ShardPiece | SpilledPiece

    def read(self, reader: Reader, start: int, stop: int) -> bytes:
        if isinstance(self.piece, ShardPiece):
            return self.piece.records.data[start:stop]
        return reader.read(self.piece.records, start, stop)


def _source(piece: ShardPiece | SpilledPiece, reader: Reader) -> _Source:
    if isinstance(piece, ShardPiece):
        return _Source(piece.orders, piece.records.ends, piece)
    orders, ends = pickle.loads(reader.read(piece.index))
    return _Source(orders, ends, piece)


class _Index(NamedTuple):
    """Every record of the pieces, numbered as if the pieces were concatenated: its piece, order key and
    bytes within its piece."""

    piece_of: np.ndarray
    orders: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, sources: Sequence[_Source]) -> _Index:
        if not sources:
            return cls(*(np.zeros(0, dtype=np.int64),) * 4)
        return cls(np.repeat(np.arange(len(sources)), [len(source.orders) for source in sources]),
                   np.concatenate([source.orders for source in sources]),
                   np.concatenate([record_starts(source.ends) for source in sources]),
                   np.concatenate([source.ends for source in sources]))


def _ranking(index: _Index, sources: Sequence[_Source], reader: Reader) -> np.ndarray:
    """Every record's number in order-key order, bytes on ties."""
    orders = index.orders
    ranking = np.argsort(orders, kind="stable")
    ranked = orders[ranking]
    if np.any(ranked[1:] == ranked[:-1]):  # equal 63-bit keys: practically never, so read everything then
        framed = [source.read(reader, start, end) for source, start, end in
                  zip(map(sources.__getitem__, index.piece_of.tolist()), index.starts.tolist(), index.ends.tolist())]
        ranking = np.array(sorted(range(len(orders)), key=lambda row: (orders[row], framed[row])), dtype=np.int64)
    return ranking


def _chunks(index: _Index, sources: Sequence[_Source], ranking: np.ndarray, reader: Reader) -> Iterator[bytes]:
    """The records in `ranking` order, joined a chunk at a time; each chunk reads one run of each piece."""
    for first in range(0, len(ranking), RECORDS_PER_CHUNK):
        chosen = ranking[first:first + RECORDS_PER_CHUNK]
        pieces, starts, ends = index.piece_of[chosen], index.starts[chosen], index.ends[chosen]
        runs = {}
        for piece in np.unique(pieces).tolist():
            in_piece = pieces == piece
            run_start, run_stop = int(starts[in_piece].min()), int(ends[in_piece].max())
            runs[piece] = (sources[piece].read(reader, run_start, run_stop), run_start)
        yield b"".join([runs[piece][0][start - runs[piece][1]:end - runs[piece][1]] for piece, start, end in
                        zip(pieces.tolist(), starts.tolist(), ends.tolist())])


def write_shard(path: str, pieces: Sequence[ShardPiece | SpilledPiece], compression: str | None) -> int:
    """Writes the shard file; returns its number of instances."""
    reader = Reader()
    try:
        sources = [_source(piece, reader) for piece in pieces]
        index = _Index.of(sources)
        ranking = _ranking(index, sources, reader)
        kind = CompressionTypes.GZIP if compression == "gzip" else CompressionTypes.UNCOMPRESSED
        with created(path, kind) as handle:
            for chunk in _chunks(index, sources, ranking, reader):
                handle.write(chunk)
    finally:
        reader.close()
    return len(ranking)
