"""Parallel reading of `pages-articles-multistream` dumps through their index.

A multistream dump is a concatenation of independent bz2 streams of 100 pages
each (the first holds the root element and `<siteinfo>`); its
`-index.txt.bz2` lists `offset:page_id:title` for every page. Grouping the
distinct offsets into byte ranges gives work items that any worker can
decompress on its own, so one 22 GB dump is read by many workers at once.
"""
from __future__ import annotations

import bz2
import dataclasses
import io
import itertools
import posixpath
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from pipelines.corpus.documents import MalformedInput
from pipelines.corpus.readers.bz2_blocks import decompressed_chunks
from pipelines.corpus.readers.wikipedia_dump import SiteInfo, WikiPage, iter_dump, parse_siteinfo

DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class StreamRange:
    """Compressed bytes [start, end) of a dump, made of whole bz2 streams."""

    path: str
    stream_offsets: tuple[int, ...]  # start of each stream in the range
    end: int


def index_path_for(dump_path: str) -> str:
    """The index Wikimedia publishes beside a multistream dump, or "" if the name does not fit.

    `…-multistream.xml.bz2` -> `…-multistream-index.txt.bz2`;
    `…-multistream1.xml-p1p41242.bz2` -> `…-multistream-index1.txt-p1p41242.bz2`.
    """
    folder, name = posixpath.split(dump_path) if "/" in dump_path else ("", dump_path)
    if "multistream" not in name or ".xml" not in name or "-index" in name:
        return ""
    name = name.replace("multistream", "multistream-index", 1).replace(".xml", ".txt", 1)
    return f"{folder}/{name}" if folder else name


def is_index_file(path: str) -> bool:
    name = posixpath.basename(path)
    return "multistream-index" in name and ".txt" in name


def iter_stream_offsets(index: BinaryIO) -> Iterator[int]:
    """Distinct stream offsets from a (decompressed) index, in file order."""
    last = None
    for line in index:
        offset_text, _, _ = line.partition(b":")
        offset = int(offset_text)
        if offset != last:
            yield offset
            last = offset


def plan_ranges(
    path: str, offsets: Iterable[int], file_size: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[StreamRange]:
    """Groups consecutive streams into ranges of about `chunk_bytes` compressed bytes."""
    group: list[int] = []
    for offset in offsets:
        if group and offset - group[0] >= chunk_bytes:
            yield StreamRange(path, tuple(group), offset)
            group = []
        group.append(offset)
    if group:
        yield StreamRange(path, tuple(group), file_size)


def read_header(dump: BinaryIO, first_offset: int) -> SiteInfo:
    """Decompresses the first stream (root element and siteinfo)."""
    dump.seek(0)
    return parse_siteinfo(bz2.decompress(dump.read(first_offset)))


def iter_range_pages(dump: BinaryIO, stream_range: StreamRange, max_page_bytes: int) -> Iterator[WikiPage | MalformedInput]:
    """Pages of one range; damaged compressed data costs only the pages of its bzip2 blocks."""
    start = stream_range.stream_offsets[0]
    dump.seek(start)
    data = dump.read(stream_range.end - start)
    # Streams hold bare <page> elements; the root tag makes the range a small dump.
    chunks = itertools.chain([b"<mediawiki>"], decompressed_chunks(io.BytesIO(data), offset=start))
    for item in iter_dump(chunks, max_page_bytes):
        if not isinstance(item, SiteInfo):
            yield item
