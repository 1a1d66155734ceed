"""Deterministic Parquet shards (and optional reference-format text) of documents.

Beam's file sinks assign elements to shards and order them within a shard
differently on every run; the design asks for byte-identical output whatever
the runner or worker count. So each document goes to the shard its id hashes
to, and a shard is written sorted by id. A shard is held in memory while it is
written: choose --num_shards so shards stay around 100 MB (automatic by default).
"""
from __future__ import annotations

import hashlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.records import Document

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("url", pa.string()),
        ("language", pa.string()),
        ("sentences", pa.list_(pa.string())),
    ]
)
_ROW_GROUP_ROWS = 1000


def shard_of(doc_id: str, num_shards: int) -> int:
    """Stable across processes and runs, unlike Python's hash()."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "big") % num_shards


def shard_path(output: str, stem: str, shard: int, num_shards: int, suffix: str) -> str:
    return f"{output}/{stem}-{shard:05d}-of-{num_shards:05d}{suffix}"


def documents_table(docs: list[Document]) -> pa.Table:
    columns = {name: [getattr(doc, name) for doc in docs] for name in SCHEMA.names if name != "sentences"}
    columns["sentences"] = [list(doc.sentences) for doc in docs]
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def reference_text(docs: list[Document]) -> str:
    """The reference BERT input format: a sentence per line, a blank line between documents."""
    return "".join("\n".join(doc.sentences) + "\n\n" for doc in docs)


def write_shard(output: str, shard: int, num_shards: int, docs: list[Document], text_output: bool) -> list[str]:
    # Ids are unique in practice; the sentences only settle the order if they are not.
    docs = sorted(docs, key=lambda doc: (doc.id, doc.sentences))
    paths = [shard_path(output, "documents", shard, num_shards, ".parquet")]
    with FileSystems.create(paths[0]) as handle:
        pq.write_table(documents_table(docs), handle, row_group_size=_ROW_GROUP_ROWS, compression="zstd")
    if text_output:
        paths.append(shard_path(f"{output}/text", "part", shard, num_shards, ".txt"))
        with FileSystems.create(paths[1]) as handle:
            handle.write(reference_text(docs).encode("utf-8"))
    return paths


class WriteDocuments(beam.PTransform):
    """Writes every shard, empty ones included, so the -of-N set is always complete."""

    def __init__(self, output: str, num_shards: int, text_output: bool) -> None:
        super().__init__()
        self._output = output
        self._num_shards = num_shards
        self._text_output = text_output

    def expand(self, docs):
        output, num_shards, text_output = self._output, self._num_shards, self._text_output
        keyed = docs | "KeyByShard" >> beam.Map(lambda doc: (shard_of(doc.id, num_shards), doc))
        every_shard = (
            docs.pipeline | "AllShards" >> beam.Create(range(num_shards)) | "AsKeys" >> beam.Map(lambda s: (s, None))
        )
        return (
            {"docs": keyed, "shard": every_shard}
            | "GroupShards" >> beam.CoGroupByKey()
            | "WriteShard" >> beam.FlatMap(
                lambda kv: write_shard(output, kv[0], num_shards, list(kv[1]["docs"]), text_output)
            )
        )
