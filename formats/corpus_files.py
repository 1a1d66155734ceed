"""The corpus stage's output folder, as the stages after it (vocab, pretraining-data) read it.

OUT/ holds `documents-SSSSS-of-NNNNN.parquet` shards in `DOCUMENTS_SCHEMA`, optionally
`text/part-SSSSS-of-NNNNN.txt` in the reference BERT input format, `errors-SSSSS-of-NNNNN.jsonl` (the
malformed records with their reasons) and `stats.json`, the stage's completion record, written last.
This module has no Beam or TensorFlow import; pyarrow only for the schema.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

DOCUMENTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("url", pa.string()),
        ("language", pa.string()),
        ("sentences", pa.list_(pa.string())),
    ]
)
CORPUS_STATS_FILE = "stats.json"


@dataclass(frozen=True)
class ShardedFiles:
    """A set of files STEM-SSSSS-of-NNNNN.SUFFIX in an output folder (STEM may start with a sub-folder)."""

    stem: str
    suffix: str

    def name(self, shard: int, num_shards: int) -> str:
        """The path of one shard, relative to the output folder."""
        return f"{self.stem}-{shard:05d}-of-{num_shards:05d}{self.suffix}"

    @property
    def pattern(self) -> str:
        """A glob that matches the name of every shard, whatever their number."""
        return f"{self.stem}-*-of-*{self.suffix}"

    @property
    def glob(self) -> str:
        """The set as messages name it, e.g. documents-*.parquet."""
        return f"{self.stem}-*{self.suffix}"


DOCUMENTS_FILES = ShardedFiles("documents", ".parquet")
TEXT_FILES = ShardedFiles("text/part", ".txt")
ERROR_FILES = ShardedFiles("errors", ".jsonl")
# The stage's own files in its output folder, besides its completion record.
CORPUS_FILE_PATTERNS = (DOCUMENTS_FILES.pattern, TEXT_FILES.pattern, ERROR_FILES.pattern)
