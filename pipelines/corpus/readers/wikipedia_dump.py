"""Streaming reader for MediaWiki XML dumps.

The byte stream is cut into `<page>…</page>` chunks and each chunk is parsed
on its own with the C XML parser, instead of running one parser over the whole
dump. This is what lets a job survive real dumps:

- a page with invalid UTF-8 or broken XML costs that page, not the rest of the
  file (one XML parser would stop at the first error);
- a dump cut off mid-page (the `ukwiki` sample) keeps every complete page;
- damaged compressed data (see `bz2_blocks`) costs the pages it held: the
  page it cuts off and the one the data resumes inside are reported, and
  reading goes on at the next `<page>`;
- the DTD is never parsed, so an entity-expansion bomb cannot expand: its
  entities are undefined inside a page and the page is reported;
- a page larger than `max_page_bytes` is skipped without being buffered,
  so memory stays bounded.

Splitting on the literal tags is safe because dumps escape `<` in page text.
"""
from __future__ import annotations

import codecs
import dataclasses
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from pipelines.corpus.documents import MalformedInput

PAGE_OPEN = b"<page>"
PAGE_CLOSE = b"</page>"
DEFAULT_MAX_PAGE_BYTES = 8 * 1024 * 1024
_READ_SIZE = 64 * 1024
# A header (root element + siteinfo) is a few kB; more means this is no dump.
_MAX_HEADER_BYTES = 16 * 1024 * 1024

_SITEINFO = re.compile(rb"<siteinfo>.*?</siteinfo>", re.S)
_ROOT_LANG = re.compile(rb"<mediawiki\b[^>]*?\bxml:lang=\"([^\"]+)\"")
_TITLE = re.compile(rb"<title>(.*?)</title>", re.S)


@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """What a dump says about its wiki."""

    dbname: str = ""
    language: str = ""
    base_url: str = ""  # article URL prefix, e.g. https://en.wikipedia.org/wiki/

    def page_url(self, title: str) -> str:
        if not self.base_url:
            return ""
        return self.base_url + urllib.parse.quote(title.replace(" ", "_"), safe="/:(),'")


@dataclasses.dataclass(frozen=True)
class WikiPage:
    page_id: str
    namespace: int
    title: str
    redirect: bool
    model: str  # content model; "" in dumps older than schema 0.8
    text: str
    offset: int  # byte offset of the page in the (decompressed) stream


def language_of_dbname(dbname: str) -> str:
    """`enwiki` -> `en`, `zh_yuewiki` -> `zh-yue`; "" for non-Wikipedia names."""
    if not dbname.endswith("wiki") or dbname.endswith(("commonswiki", "specieswiki")):
        return ""
    return dbname[: -len("wiki")].replace("_", "-")


def parse_siteinfo(header: bytes) -> SiteInfo:
    """Reads the root element and `<siteinfo>` that precede the first page."""
    match = _SITEINFO.search(header)
    dbname = base = ""
    if match:
        try:
            siteinfo = ET.fromstring(match.group(0))
            dbname = (siteinfo.findtext("dbname") or "").strip()
            base = (siteinfo.findtext("base") or "").strip()
        except ET.ParseError:
            pass
    lang_match = _ROOT_LANG.search(header)
    language = language_of_dbname(dbname) or (lang_match.group(1).decode() if lang_match else "")
    base_url = base.rsplit("/", 1)[0] + "/" if "/wiki/" in base else ""
    return SiteInfo(dbname=dbname, language=language, base_url=base_url)


def parse_page(chunk: bytes, offset: int) -> WikiPage:
    """Parses one `<page>…</page>` chunk; raises MalformedInput if it is broken."""
    try:
        page = ET.fromstring(chunk)
    except ET.ParseError as error:
        raise MalformedInput("malformed_page", f"XML error: {error}", _title_hint(chunk, offset)) from None
    revision = page.find("revision")
    text = revision.findtext("text") if revision is not None else None
    model = revision.findtext("model") if revision is not None else None
    try:
        namespace = int(page.findtext("ns") or 0)
    except ValueError:
        raise MalformedInput("malformed_page", "non-numeric <ns>", _title_hint(chunk, offset)) from None
    return WikiPage(
        page_id=(page.findtext("id") or "").strip(),
        namespace=namespace,
        title=page.findtext("title") or "",
        redirect=page.find("redirect") is not None,
        model=(model or "").strip(),
        text=text or "",
        offset=offset,
    )


def iter_dump(
    source: BinaryIO | Iterable[bytes | MalformedInput], max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES
) -> Iterator[SiteInfo | WikiPage | MalformedInput]:
    """Yields the dump's SiteInfo (once, first), then each page or the error for it.

    `source` is the decompressed XML: a binary stream, or its chunks where a
    MalformedInput marks a gap (compressed data that could not be read, see
    `bz2_blocks`). At a gap the page it cuts off is reported as
    "truncated_page", then the gap, and reading resumes at the next `<page>`:
    the rest of the page the data resumes in is reported as "partial_page".
    A read error of a stream ends the iteration the same way.
    """
    chunks = _utf8_chunks(_stream_chunks(source) if hasattr(source, "read") else source)
    splitter = _PageSplitter(max_page_bytes)
    header: bytearray | None = bytearray()  # until the first <page>
    for chunk in chunks:
        if header is not None:
            if not isinstance(chunk, MalformedInput):
                header += chunk
                if PAGE_OPEN not in header and len(header) < _MAX_HEADER_BYTES:
                    continue
                chunk = bytes(header)
            yield _header_info(header)
            if not isinstance(chunk, MalformedInput) and not _is_dump(header):
                yield MalformedInput("not_a_dump", "no <mediawiki> root and no <page> found")
                return
            header = None
        if isinstance(chunk, MalformedInput):
            yield from splitter.gap(chunk)
        else:
            yield from splitter.feed(chunk)
    if header is not None:  # the input ended before any page
        yield _header_info(header)
        if not _is_dump(header):
            yield MalformedInput("not_a_dump", "no <mediawiki> root and no <page> found")
            return
    yield from splitter.finish()


def _header_info(data: bytes) -> SiteInfo:
    start = data.find(PAGE_OPEN)
    return parse_siteinfo(bytes(data[:start] if start >= 0 else data))


def _is_dump(data: bytes) -> bool:
    return PAGE_OPEN in data or b"<mediawiki" in data[:4096]


class _PageSplitter:
    """Cuts `<page>…</page>` chunks out of the XML bytes fed to it."""

    def __init__(self, max_page_bytes: int) -> None:
        self._max_page_bytes = max_page_bytes
        self._buffer = bytearray()
        self._consumed = 0  # stream offset of buffer[0]
        self._skipping_from: int | None = None  # offset of an oversized page being skipped
        self._skipped_title = ""
        self._resuming = False  # after a gap, until the next <page>
        self._resumed_in_page = False
        self._last_gap = ""  # where the last gap was, for the errors it causes
        self._done = False  # a non-dump: nothing more to split

    def feed(self, chunk: bytes) -> Iterator[WikiPage | MalformedInput]:
        self._buffer += chunk
        pos = 0
        while True:
            if self._resuming:
                pos = self._skip_to_page(pos)
                if self._resuming:
                    break
                yield from self._partial_page_error()
            if self._skipping_from is not None:
                end = self._buffer.find(PAGE_CLOSE, pos)
                if end < 0:
                    # Keep only a tail that could hold a split closing tag.
                    pos = max(pos, len(self._buffer) - len(PAGE_CLOSE))
                    break
                yield MalformedInput(
                    "page_too_large",
                    f"page larger than {self._max_page_bytes} bytes skipped",
                    self._skipped_title or f"offset {self._skipping_from}",
                )
                self._skipping_from = None
                pos = end + len(PAGE_CLOSE)
                continue
            start = self._buffer.find(PAGE_OPEN, pos)
            if start < 0:
                pos = max(pos, len(self._buffer) - len(PAGE_OPEN))
                break
            end = self._buffer.find(PAGE_CLOSE, start)
            if end < 0:
                if len(self._buffer) - start > self._max_page_bytes:
                    self._skipping_from = self._consumed + start
                    self._skipped_title = self._hint(start)
                    pos = len(self._buffer)
                else:
                    pos = start
                break
            end += len(PAGE_CLOSE)
            if end - start > self._max_page_bytes:
                yield MalformedInput(
                    "page_too_large",
                    f"page of {end - start} bytes is larger than {self._max_page_bytes}",
                    self._hint(start),
                )
            else:
                try:
                    yield parse_page(bytes(self._buffer[start:end]), self._consumed + start)
                except MalformedInput as error:
                    yield error
            pos = end
        del self._buffer[:pos]
        self._consumed += pos

    def _skip_to_page(self, pos: int) -> int:
        """Drops the bytes before the next `<page>` (the rest of a page cut by a gap)."""
        start = self._buffer.find(PAGE_OPEN, pos)
        stop = start if start >= 0 else max(pos, len(self._buffer) - len(PAGE_OPEN))
        dropped = bytes(self._buffer[pos:stop]).replace(b"</mediawiki>", b"")
        self._resumed_in_page = self._resumed_in_page or bool(dropped.strip())
        if start >= 0:
            self._resuming = False
        return stop

    def _partial_page_error(self) -> Iterator[MalformedInput]:
        if self._resumed_in_page:
            yield MalformedInput(
                "partial_page",
                "dropped the end of a page whose start was in the damaged data",
                f"after {self._last_gap}" if self._last_gap else f"offset {self._consumed}",
            )
        self._resumed_in_page = False

    def gap(self, error: MalformedInput) -> Iterator[MalformedInput]:
        """The data stops here and resumes, if at all, somewhere after it."""
        yield from self._cut_page("page cut off by damaged compressed data")
        yield from self._partial_page_error()
        self._consumed += len(self._buffer)
        self._buffer.clear()
        self._resuming = True
        self._last_gap = error.record
        yield error

    def finish(self) -> Iterator[MalformedInput]:
        yield from self._partial_page_error()
        yield from self._cut_page("input ends inside a page (cut-off dump?)")

    def _cut_page(self, detail: str) -> Iterator[MalformedInput]:
        open_page = self._buffer.find(PAGE_OPEN)
        if self._skipping_from is not None or open_page >= 0:
            where = self._consumed + max(open_page, 0)
            title = self._skipped_title if self._skipping_from is not None else self._hint(open_page)
            yield MalformedInput("truncated_page", detail, title or f"offset {where}")
        self._skipping_from = None

    def _hint(self, start: int) -> str:
        return _title_hint(bytes(self._buffer[start : start + 4096]), self._consumed + start)


def _title_hint(chunk: bytes, offset: int) -> str:
    match = _TITLE.search(chunk)
    if match:
        return match.group(1).decode("utf-8", "replace")
    return f"offset {offset}"


def _stream_chunks(stream: BinaryIO) -> Iterator[bytes | MalformedInput]:
    """Reads `stream` in pieces; a read error (corrupt compressed data) ends it."""
    while True:
        try:
            data = stream.read(_READ_SIZE)
        except (OSError, EOFError, ValueError) as error:
            yield MalformedInput("corrupt_compressed_data", f"{type(error).__name__}: {error}")
            return
        if not data:
            return
        yield data


def _utf8_chunks(chunks: Iterable[bytes | MalformedInput]) -> Iterator[bytes | MalformedInput]:
    """The chunks as UTF-8, transcoded from UTF-16 when the data starts with its BOM.

    Real Wikimedia dumps are UTF-8, but re-saved files can be UTF-16 (the
    `bgwiki` sample); page splitting works on UTF-8 bytes only.
    """
    decoder: codecs.IncrementalDecoder | None = None
    started = False
    for data in chunks:
        if isinstance(data, MalformedInput) or not data:
            yield data
            continue
        if not started:
            started = True
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                decoder = codecs.getincrementaldecoder("utf-16")()
            elif data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
        if decoder is None:
            yield data
            continue
        try:
            yield decoder.decode(data).encode("utf-8")
        except UnicodeDecodeError as error:
            yield MalformedInput("bad_encoding", f"invalid UTF-16: {error}")
            return
