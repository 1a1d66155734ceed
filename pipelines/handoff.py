"""How the large shuffles of the corpus and pretraining stages travel: as Beam elements, or as files.

The DirectRunner keeps every shuffled element in its own process (and with
worker processes sends each through gRPC twice), so a local run's memory grows
with the corpus however little each transform holds. With the "files" handoff
the producers of a shuffle pickle its values into files in a handoff folder
(see handoff_space), written a spool of about SPOOL_BYTES at a time, and only a `Spilled` (file,
offset, size) per value travels through the runner; consumers read the values
back. On Dataflow the shuffle service does that job better than many small
files in a bucket, so "shuffle" hands the values themselves to Beam. Both give
the same output bytes: consumers never depend on the order values arrive in.
"""
from __future__ import annotations

import pickle
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple, TypeVar

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from pipelines.output_folder import created, remove_tree

HANDOFFS = ("shuffle", "files")
FOLDER = "handoff"
SPOOL_BYTES = 16 * 2**20  # pickled values a producer holds before writing them out
BLOCK_BYTES = 256 * 2**10  # values moved together by Spread: small enough that 2 workers share 1 MB of text

T = TypeVar("T")


class Spilled(NamedTuple):
    """Where one handed-off value lies in a handoff file: pickled (Spool.add) or raw (Spool.add_bytes)."""

    path: str
    offset: int
    size: int


@contextmanager
def handoff_space(work: str) -> Iterator[str]:
    """The handoff folder of a run whose work folder is `work`: inside it on a local disk (removed with it);
    for a work folder in object storage a new local temporary folder, removed on leaving: the DirectRunner's
    processes all run on this machine, and every read from a bucket is a request."""
    if FileSystems.get_scheme(work) in (None, "file"):
        yield f"{work}/{FOLDER}"
        return
    folder = tempfile.mkdtemp(prefix="bertprep-handoff-")
    try:
        yield folder
    finally:
        remove_tree(folder)


class Spool:
    """Pickles values into the handoff folder; a file is written once `limit` bytes wait, or at close().

    A Spilled is returned at once; its file exists once the spool is closed, which a producer does in
    finish_bundle, before any consumer behind a shuffle can run.
    """

    def __init__(self, folder: str, limit: int | None = None) -> None:
        self.folder, self.limit = folder, SPOOL_BYTES if limit is None else limit
        self._begin()

    def _begin(self) -> None:
        self.path = f"{self.folder}/{uuid.uuid4().hex}"
        self.pending: list[bytes] = []
        self.size = 0

    def add(self, value: object) -> Spilled:
        return self._append(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def add_bytes(self, data: bytes) -> Spilled:
        """Bytes as they are (read back with Reader.read, not load)."""
        return self._append(data)

    def _append(self, data: bytes) -> Spilled:
        spilled = Spilled(self.path, self.size, len(data))
        self.pending.append(data)
        self.size += len(data)
        if self.size >= self.limit:
            self.close()
        return spilled

    def close(self) -> None:
        if self.pending:
            with created(self.path, CompressionTypes.UNCOMPRESSED) as handle:
                for data in self.pending:
                    handle.write(data)
        self._begin()


class Reader:
    """Reads byte ranges of spilled values, keeping each file open until close()."""

    def __init__(self) -> None:
        self.handles: dict[str, object] = {}

    def read(self, spilled: Spilled, start: int = 0, stop: int | None = None) -> bytes:
        """Bytes start:stop of the value (all of it by default)."""
        stop = spilled.size if stop is None else stop
        if spilled.path not in self.handles:
            self.handles[spilled.path] = FileSystems.open(spilled.path, compression_type=CompressionTypes.UNCOMPRESSED)
        handle = self.handles[spilled.path]
        handle.seek(spilled.offset + start)
        data = handle.read(stop - start)
        if len(data) != stop - start:
            raise OSError(f"{spilled.path}: {len(data)} bytes at {spilled.offset + start}, {stop - start} expected "
                          "(truncated?)")
        return data

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles = {}


def load(items: Iterable[T | Spilled]) -> list[T]:
    """The values, in the order given: Spilled ones read back (in file order), others as they are."""
    values = list(items)
    reader = Reader()
    try:
        for _, _, index in sorted((item.path, item.offset, index) for index, item in enumerate(values)
                                  if isinstance(item, Spilled)):
            values[index] = pickle.loads(reader.read(values[index]))
    finally:
        reader.close()
    return values


def fetched(items: Iterable[T | Spilled]) -> Iterator[T]:
    """The values one by one, in the order given, Spilled ones read back: for a stream too large for load."""
    reader = Reader()
    try:
        for item in items:
            yield pickle.loads(reader.read(item)) if isinstance(item, Spilled) else item
    finally:
        reader.close()


class SpoolingDoFn(beam.DoFn):
    """A DoFn whose outputs bound for a shuffle go through `hand_off` (a spool per bundle with "files"), and
    whose handed-off inputs come back through `fetch`."""

    def __init__(self, handoff: str, folder: str) -> None:
        if handoff not in HANDOFFS:
            raise ValueError(f"unknown handoff {handoff!r}; use one of {', '.join(HANDOFFS)}")
        self.handoff, self.folder = handoff, folder

    def start_bundle(self) -> None:
        self.spool = Spool(self.folder) if self.handoff == "files" else None
        self.reader: Reader | None = None

    def hand_off(self, value: T) -> T | Spilled:
        return value if self.spool is None else self.spool.add(value)

    def fetch(self, value: T | Spilled) -> T:
        """The value itself, or a Spilled one read back."""
        if not isinstance(value, Spilled):
            return value
        self.reader = self.reader or Reader()
        return pickle.loads(self.reader.read(value))

    def finish_bundle(self) -> None:
        if self.spool is not None:
            self.spool.close()
        if self.reader is not None:
            self.reader.close()


class _Blocks(SpoolingDoFn):
    """Values -> Spilled lists of values of about BLOCK_BYTES (pickled) each."""

    def start_bundle(self) -> None:
        super().start_bundle()
        self.block: list[bytes] = []
        self.size = 0

    def process(self, value):
        self.block.append(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        self.size += len(self.block[-1])
        if self.size >= BLOCK_BYTES:
            yield self._spill()

    def _spill(self) -> Spilled:
        spilled = self.hand_off(self.block)
        self.block, self.size = [], 0
        return spilled

    def finish_bundle(self):
        if self.block:
            yield GlobalWindows.windowed_value(self._spill())
        super().finish_bundle()


def _unblock(spilled: Spilled) -> list:
    return [pickle.loads(data) for data in load([spilled])[0]]


class Spread(beam.PTransform):
    """beam.Reshuffle that, with the files handoff, moves blocks of values through files."""

    def __init__(self, handoff: str, folder: str) -> None:
        super().__init__()
        self.handoff, self.folder = handoff, folder

    def expand(self, values):
        if self.handoff == "shuffle":
            return values | "Reshuffle" >> beam.Reshuffle()
        return (values
                | "SpillBlocks" >> beam.ParDo(_Blocks(self.handoff, self.folder))
                | "Reshuffle" >> beam.Reshuffle()
                | "LoadBlocks" >> beam.FlatMap(_unblock))
