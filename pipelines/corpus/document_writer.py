"""Deterministic Parquet shards (and optional reference-format text) of documents.

Beam's file sinks assign elements to shards and order them within a shard
differently on every run; the design asks for byte-identical output whatever
the runner or worker count. So each document goes to the shard its id hashes
to, and a shard is written sorted by id, a row group of 1,000 documents (or
`ROW_GROUP_CHARACTERS` characters of sentences) at a time. The writer never
holds a whole shard: up to `SORT_RUN_DOCUMENTS` documents or
`SORT_RUN_CHARACTERS` characters of sentences are sorted in memory; a larger
shard is spilled as sorted runs into the stage's work folder, in chunks of
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
import pickle
from collections.abc import Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from formats.corpus_files import CORPUS_STATS_FILE, DOCUMENTS_FILES, DOCUMENTS_SCHEMA, TEXT_FILES
from pipelines.corpus.documents import Document, HandedDocument
from pipelines.handoff import fetched
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


def sorted_documents(docs: Iterable[Document], spill_prefix: str, run_documents: int = SORT_RUN_DOCUMENTS,
                     run_characters: int = SORT_RUN_CHARACTERS) -> Iterator[Document]:
    """`docs` in (id, sentences) order, holding at most `run_documents` of them or about `run_characters`
    characters of sentences (and a spilled chunk per run while merging): a larger input is sorted in runs spilled
    to `spill_prefix`-N files, then merged."""
    runs: list[str] = []
    run: list[Document] = []
    # Every run but the last is spilled; the last is merged from memory.
    for chunk in _chunks(iter(docs), run_documents, run_characters):
        if run:
            runs.append(_spill(sorted(run, key=_sort_key), f"{spill_prefix}-{len(runs)}"))
        run = chunk
    run.sort(key=_sort_key)
    if not runs:
        yield from run
        return
    yield from heapq.merge(*(_read_run(path) for path in runs), iter(run), key=_sort_key)
    FileSystems.delete(runs)


def _chunks(docs: Iterator[Document], size: int, characters: int) -> Iterator[list[Document]]:
    """Consecutive lists of `size` documents, cut sooner once they hold `characters` characters of sentences."""
    chunk: list[Document] = []
    held = 0
    for doc in docs:
        chunk.append(doc)
        held += sum(map(len, doc.sentences))
        if len(chunk) == size or held >= characters:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def write_documents_shard(staging: Staging, shard: int, num_shards: int, docs: Iterable[Document | HandedDocument],
                          text_output: bool, run_documents: int = SORT_RUN_DOCUMENTS) -> list[tuple[str, int]]:
    """Writes one shard of the documents (Parquet, and reference-format text if `text_output`) in id order, a
    row group at a time; returns (path relative to the output, bytes) of each file. Handed-off documents are
    read back one at a time."""
    documents = DOCUMENTS_FILES.name(shard, num_shards)
    text = TEXT_FILES.name(shard, num_shards) if text_output else None
    docs = fetched(doc.document if isinstance(doc, HandedDocument) else doc for doc in docs)
    ordered = sorted_documents(docs, staging.temporary(f"_sort/{documents}"), run_documents)
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
        every_shard = (
            docs.pipeline | "AllShards" >> beam.Create(range(num_shards)) | "AsKeys" >> beam.Map(lambda s: (s, None))
        )
        return (
            {"docs": keyed, "shard": every_shard}
            | "GroupShards" >> beam.CoGroupByKey()
            | "WriteShard" >> beam.FlatMap(
                lambda kv: write_documents_shard(staging, kv[0], num_shards, kv[1]["docs"], text_output)
            )
        )
