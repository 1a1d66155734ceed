"""Records that flow between the corpus-stage steps.

Every input record ends in exactly one `Outcome` (kept, dropped with a reason,
or error); the stats file is the sum of these, so counts always reconcile.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

from pipelines.handoff import Spilled

KEPT = "kept"
DROPPED = "dropped"
ERROR = "error"
# Not a record's fate but a repair inside a kept one: its `count` is the number
# of units repaired (e.g. invalid UTF-8 bytes replaced), not of records.
REPAIRED = "repaired"
INVALID_UTF8_BYTES = "invalid_utf8_bytes"
SPLIT_DOCUMENTS = "oversized_documents_split"
NORMALIZED = "normalized"  # Document.markup of plain text already normalized


@dataclasses.dataclass(frozen=True)
class Document:
    """One document on its way through the corpus stage.

    `text` holds paragraphs separated by a blank line; `markup` says whether it
    still needs wikitext cleaning, or is already in `normalize_text`'s form
    (NORMALIZED: a Gutenberg book's body), which spares normalizing it twice.
    `sentences` is filled by segmentation.
    """

    id: str
    input: str  # the --input argument the document came from (stats key)
    source: str  # the file it was read from
    title: str = ""
    url: str = ""
    language: str = ""
    text: str = ""
    markup: str = "plain"  # "plain" | "wikitext" | NORMALIZED
    sentences: tuple[str, ...] = ()


class HandedDocument(NamedTuple):
    """A document crossing a shuffle with what the step behind it needs in the open: `document` is the
    Document itself, or where it was spilled with the files handoff (pipelines.handoff)."""

    id: str
    input: str
    document: Document | Spilled


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one input record, for stats.json."""

    input: str
    status: str  # KEPT | DROPPED | ERROR | REPAIRED
    reason: str = ""
    count: int = 1  # records this outcome stands for (dedup reports groups); units for REPAIRED
    sentences: int = 0
    characters: int = 0


@dataclasses.dataclass(frozen=True)
class ErrorRecord:
    """A malformed record, written to errors-*.jsonl."""

    input: str
    source: str
    reason: str
    detail: str
    record: str = ""  # id, title or byte offset of the bad record, when known


class MalformedInput(Exception):
    """Raised by parsers for input they cannot use; `reason` is a stats key."""

    def __init__(self, reason: str, detail: str, record: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.record = record
