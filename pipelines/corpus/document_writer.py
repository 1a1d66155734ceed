"""Deterministic Parquet shards (and optional reference-format text) of documents.

Beam's file sinks assign elements to shards and order them within a shard
differently on every run; the design asks for byte-identical output whatever
the runner or worker count. So each document goes to the shard its id hashes
to, and a shard is written sorted by id. A shard is held in memory while it is
written: choose --num_shards so shards stay around 100 MB (automatic by default).
Each file is written under a temporary name and renamed into place when whole
(pipelines.output_folder.Staging).
"""
from __future__ import annotations

import fnmatch
import hashlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from formats.corpus_files import CORPUS_STATS_FILE, DOCUMENTS_FILES, DOCUMENTS_SCHEMA, TEXT_FILES
from pipelines.corpus.documents import Document
from pipelines.output_folder import Staging, complete_files

_ROW_GROUP_ROWS = 1000


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


def write_documents_shard(staging: Staging, shard: int, num_shards: int, docs: list[Document],
                          text_output: bool) -> list[tuple[str, int]]:
    """Writes one shard of the documents (Parquet, and reference-format text if `text_output`); returns
    (path relative to the output, bytes) of each file."""
    # Ids are unique in practice; the sentences only settle the order if they are not.
    docs = sorted(docs, key=lambda doc: (doc.id, doc.sentences))
    documents = DOCUMENTS_FILES.name(shard, num_shards)
    with staging.create(documents) as handle:
        pq.write_table(documents_table(docs), handle, row_group_size=_ROW_GROUP_ROWS, compression="zstd")
    written = [(documents, staging.publish(documents))]
    if text_output:
        text = TEXT_FILES.name(shard, num_shards)
        with staging.create(text) as handle:
            handle.write(reference_text(docs).encode("utf-8"))
        written.append((text, staging.publish(text)))
    return written


class WriteDocuments(beam.PTransform):
    """Writes every shard, empty ones included, so the -of-N set is always complete; returns the
    (relative path, bytes) of every file written."""

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
                lambda kv: write_documents_shard(staging, kv[0], num_shards, list(kv[1]["docs"]), text_output)
            )
        )
