"""Deterministic Parquet shards (and optional reference-format text) of documents.

Beam's file sinks assign elements to shards and order them within a shard
differently on every run; the design asks for byte-identical output whatever
the runner or worker count. So each document goes to the shard its id hashes
to, and a shard is written sorted by id, a row group of 1,000 documents (or
`ROW_GROUP_CHARACTERS` characters of sentences) at a time. The writer never
holds a whole shard. Documents handed off as files (pipelines.handoff) are
sorted by where they lie and read back in id order, one at a time. Documents
that travelled whole are sorted up to `SORT_RUN_DOCUMENTS` documents or
`SORT_RUN_CHARACTERS` characters of sentences at a time: a larger shard is
spilled as sorted runs into the stage's work folder, in chunks of
`SPILL_CHUNK_CHARACTERS`, and merged a chunk of each run at a time while it
is written, giving the same bytes.
Each file is written under a temporary name and renamed into place when whole
(pipelines.output_folder.Staging).
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import heapq
import itertools
import pickle
from collections.abc import Iterable, Iterator
from operator import attrgetter, itemgetter

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from formats.corpus_files import CORPUS_STATS_FILE, DOCUMENTS_FILES, DOCUMENTS_SCHEMA, TEXT_FILES
from pipelines.corpus.documents import Document, HandedDocument
from pipelines.handoff import Spilled, fetched
from pipelines.output_folder import Staging, complete_files, created

_ROW_GROUP_ROWS = 1000
# A row group of long documents (books) is cut sooner: the writer holds one as Python objects and as Arrow.
ROW_GROUP_CHARACTERS = 16_000_000
# Documents sorted in memory at a time, and their characters: a shard with more is sorted in runs that size,
# spilled and merged. The character bound keeps a run of books (megabytes each) as small as one of pages.
SORT_RUN_DOCUMENTS = 20_000
SORT_RUN_CHARACTERS = 32_000_000
# The merge holds a chunk of every run at once, so chunks are far smaller than runs.
SPILL_CHUNK_CHARACTERS = 2_000_000


def corpus_documents(folder: str) -> tuple[dict, list[str]]:
    """The stats.json of a complete corpus folder and the documents files it lists, checked against the folder
    (UsageError naming what is missing, such as the stats.json of a run that did not finish)."""
    folder = folder.rstrip("/")
    record, listed = complete_files(folder, CORPUS_STATS_FILE, "`bertprep corpus` output")
    return record, [path for path in listed if fnmatch.fnmatchcase(path[len(folder) + 1:], DOCUMENTS_FILES.pattern)]


def shard_of(doc_id: str, num_shards: int) -> int:
    """Stable across processes and runs, unlike Python's hash()."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "big") % num_shards


def documents_table(docs: list[Document]) -> pa.Table:
    columns = {name: [getattr(doc, name) for doc in docs] for name in DOCUMENTS_SCHEMA.names if name != "sentences"}
    columns["sentences"] = [list(doc.sentences) for doc in docs]
    return pa.Table.from_pydict(columns, schema=DOCUMENTS_SCHEMA)


def reference_text(docs: list[Document]) -> str:
    """The reference BERT input format: a sentence per line, a blank line between documents."""
    return "".join("\n".join(doc.sentences) + "\n\n" for doc in docs)


def _sort_key(doc: Document) -> tuple:
    # Ids are unique in practice; the sentences only settle the order if they are not.
    return doc.id, doc.sentences


def _spill(run: list[Document], path: str) -> str:
    """Writes a sorted run as pickled chunks of at most a row group's documents and SPILL_CHUNK_CHARACTERS
    characters each; returns its path."""
    with created(path, CompressionTypes.UNCOMPRESSED) as handle:
        for chunk in _chunks(iter(run), _ROW_GROUP_ROWS, SPILL_CHUNK_CHARACTERS):
            pickle.dump(chunk, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: str) -> Iterator[Document]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        while True:
            try:
                chunk = pickle.load(handle)
            except EOFError:
                return
            yield from chunk


def _characters(doc: Document) -> int:
    return sum(map(len, doc.sentences))


class _RunSorter:
    """Documents added one by one, given back in (id, sentences) order: every `run_documents` documents or
    about `run_characters` characters of sentences make a run, and every run but the last is sorted and spilled
    to `spill_prefix`-N; the runs are merged from their files and the last from memory."""

    def __init__(self, spill_prefix: str, run_documents: int, run_characters: int) -> None:
        self.spill_prefix, self.run_documents, self.run_characters = spill_prefix, run_documents, run_characters
        self.runs: list[str] = []
        self.run: list[Document] = []
        self.held = 0

    def add(self, doc: Document) -> None:
        if len(self.run) >= self.run_documents or self.held >= self.run_characters:
            self.runs.append(_spill(sorted(self.run, key=_sort_key), f"{self.spill_prefix}-{len(self.runs)}"))
            self.run, self.held = [], 0
        self.run.append(doc)
        self.held += _characters(doc)

    def ordered(self) -> Iterator[Document]:
        self.run.sort(key=_sort_key)
        if not self.runs:
            yield from self.run
            return
        yield from heapq.merge(*(_read_run(path) for path in self.runs), iter(self.run), key=_sort_key)
        FileSystems.delete(self.runs)


def _read_in_id_order(located: list[tuple[str, Spilled]]) -> Iterator[Document]:
    """Handed-off documents, given as (id, where it lies), read back one by one in (id, sentences) order."""
    located.sort(key=itemgetter(0))
    for _, same_id in itertools.groupby(fetched(spilled for _, spilled in located), key=attrgetter("id")):
        yield from sorted(same_id, key=_sort_key)


def ordered_documents(items: Iterable[Document | HandedDocument], spill_prefix: str,
                      run_documents: int = SORT_RUN_DOCUMENTS, run_characters: int = SORT_RUN_CHARACTERS
                      ) -> Iterator[Document]:
    """A shard's documents in (id, sentences) order.

    A handed-off document is held as its id and where it lies until its turn to be written: with the files
    handoff the runner's process holds those pairs anyway, while sorting the documents themselves would hold a
    run of their text (writing a shard of 93 M characters peaked ~75 MB higher that way, and took twice as long).
    Documents that travelled whole are sorted
    holding at most `run_documents` of them or about `run_characters` characters of sentences (and a spilled
    chunk per run while merging): more are sorted in runs spilled to `spill_prefix`-N files. Both streams are
    merged."""
    sorter = _RunSorter(spill_prefix, run_documents, run_characters)
    located: list[tuple[str, Spilled]] = []
    for item in items:
        document = item.document if isinstance(item, HandedDocument) else item
        if isinstance(document, Spilled):
            located.append((item.id, document))
        else:
            sorter.add(document)
    return heapq.merge(sorter.ordered(), _read_in_id_order(located), key=_sort_key)


def _chunks(docs: Iterator[Document], size: int, characters: int) -> Iterator[list[Document]]:
    """Consecutive lists of `size` documents, cut sooner once they hold `characters` characters of sentences."""
    chunk: list[Document] = []
    held = 0
    for doc in docs:
        chunk.append(doc)
        held += _characters(doc)
        if len(chunk) == size or held >= characters:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def write_documents_shard(staging: Staging, shard: int, num_shards: int, docs: Iterable[Document | HandedDocument],
                          text_output: bool, run_documents: int = SORT_RUN_DOCUMENTS) -> list[tuple[str, int]]:
    """Writes one shard of the documents (Parquet, and reference-format text if `text_output`) in id order, a
    row group at a time; returns (path relative to the output, bytes) of each file."""
    documents = DOCUMENTS_FILES.name(shard, num_shards)
    text = TEXT_FILES.name(shard, num_shards) if text_output else None
    ordered = ordered_documents(docs, staging.temporary(f"_sort/{documents}"), run_documents)
    with staging.create(documents) as handle, \
            (staging.create(text) if text else contextlib.nullcontext()) as text_handle:
        writer = None
        for chunk in _chunks(ordered, _ROW_GROUP_ROWS, ROW_GROUP_CHARACTERS):
            # One row group per call: while no row group is cut by characters, the same bytes as
            # pq.write_table(all rows, row_group_size=_ROW_GROUP_ROWS).
            writer = writer or pq.ParquetWriter(handle, DOCUMENTS_SCHEMA, compression="zstd")
            writer.write_table(documents_table(chunk))
            if text_handle is not None:
                text_handle.write(reference_text(chunk).encode("utf-8"))
        if writer is None:  # an empty shard: as pq.write_table writes an empty table
            pq.write_table(documents_table([]), handle, row_group_size=_ROW_GROUP_ROWS, compression="zstd")
        else:
            writer.close()
    written = [(documents, staging.publish(documents))]
    if text:
        written.append((text, staging.publish(text)))
    return written


class WriteDocuments(beam.PTransform):
    """Writes every shard of the documents (Documents or HandedDocuments), empty ones included, so the -of-N
    set is always complete; returns the (relative path, bytes) of every file written."""

    def __init__(self, staging: Staging, num_shards: int, text_output: bool) -> None:
        super().__init__()
        self._staging = staging
        self._num_shards = num_shards
        self._text_output = text_output

    def expand(self, docs):
        staging, num_shards, text_output = self._staging, self._num_shards, self._text_output
        keyed = docs | "KeyByShard" >> beam.Map(lambda doc: (shard_of(doc.id, num_shards), doc))
        every_shard = docs.pipeline | "AllShards" >> beam.Create([(shard, None) for shard in range(num_shards)])
        # A GroupByKey, not a CoGroupByKey: Beam's CoGroupByKey gathers each key's values into a list, which for
        # a shard of whole documents (the shuffle handoff, Dataflow) is the shard in memory; a group is read
        # lazily, so the writer's sort keeps its bound.
        return (
            (keyed, every_shard)
            | "WithEveryShard" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.FlatMapTuple(
                lambda shard, docs: write_documents_shard(
                    staging, shard, num_shards, (doc for doc in docs if doc is not None), text_output))
        )
