"""Streaming reader for MediaWiki XML dumps.

The byte stream is cut into `<page>…</page>` chunks and each chunk is parsed
on its own with the C XML parser, instead of running one parser over the whole
dump. This is what lets a job survive real dumps:

- a page with invalid UTF-8 or broken XML costs that page, not the rest of the
  file (one XML parser would stop at the first error);
- a dump cut off mid-page (the `ukwiki` sample) keeps every complete page;
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
from collections.abc import Iterator
from typing import BinaryIO

from pipelines.records import MalformedInput

PAGE_OPEN = b"<page>"
PAGE_CLOSE = b"</page>"
DEFAULT_MAX_PAGE_BYTES = 8 * 1024 * 1024
# Small reads: a corrupt bz2 block then costs little of the data decoded before it.
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
    stream: BinaryIO, max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES
) -> Iterator[SiteInfo | WikiPage | MalformedInput]:
    """Yields the dump's SiteInfo (once, first), then each page or the error for it.

    `stream` is the decompressed XML. Read errors (a corrupt compressed stream)
    end the iteration with one MalformedInput; pages before it are kept.
    """
    reader = _ByteReader(stream)
    buffer = bytearray()
    consumed = 0  # stream offset of buffer[0]
    siteinfo: SiteInfo | None = None
    skipping_from: int | None = None  # offset of an oversized page being skipped
    skipped_title = ""

    while True:
        chunk = reader.read()
        if isinstance(chunk, MalformedInput):
            if siteinfo is None:
                yield SiteInfo()
            yield chunk
            return
        eof = not chunk
        buffer += chunk
        if siteinfo is None:
            start = buffer.find(PAGE_OPEN)
            if start < 0 and not eof and len(buffer) < _MAX_HEADER_BYTES:
                continue
            siteinfo = parse_siteinfo(bytes(buffer[: start if start >= 0 else len(buffer)]))
            yield siteinfo
            if start < 0 and b"<mediawiki" not in buffer[:4096]:
                yield MalformedInput("not_a_dump", "no <mediawiki> root and no <page> found")
                return
        pos = 0
        while True:
            if skipping_from is not None:
                end = buffer.find(PAGE_CLOSE, pos)
                if end < 0:
                    # Keep only a tail that could hold a split closing tag.
                    pos = max(pos, len(buffer) - len(PAGE_CLOSE))
                    break
                yield MalformedInput(
                    "page_too_large",
                    f"page larger than {max_page_bytes} bytes skipped",
                    skipped_title or f"offset {skipping_from}",
                )
                skipping_from = None
                pos = end + len(PAGE_CLOSE)
                continue
            start = buffer.find(PAGE_OPEN, pos)
            if start < 0:
                pos = max(pos, len(buffer) - len(PAGE_OPEN))
                break
            end = buffer.find(PAGE_CLOSE, start)
            if end < 0:
                if len(buffer) - start > max_page_bytes:
                    skipping_from = consumed + start
                    skipped_title = _title_hint(bytes(buffer[start : start + 4096]), skipping_from)
                    pos = len(buffer)
                else:
                    pos = start
                break
            end += len(PAGE_CLOSE)
            if end - start > max_page_bytes:
                yield MalformedInput(
                    "page_too_large",
                    f"page of {end - start} bytes is larger than {max_page_bytes}",
                    _title_hint(bytes(buffer[start : start + 4096]), consumed + start),
                )
            else:
                try:
                    yield parse_page(bytes(buffer[start:end]), consumed + start)
                except MalformedInput as error:
                    yield error
            pos = end
        del buffer[:pos]
        consumed += pos
        if eof:
            break

    open_page = buffer.find(PAGE_OPEN)
    if skipping_from is not None or open_page >= 0:
        where = consumed + (open_page if open_page >= 0 else 0)
        title = skipped_title or _title_hint(bytes(buffer[open_page : open_page + 4096]), where)
        yield MalformedInput("truncated_page", "input ends inside a page (cut-off dump?)", title)


def _title_hint(chunk: bytes, offset: int) -> str:
    match = _TITLE.search(chunk)
    if match:
        return match.group(1).decode("utf-8", "replace")
    return f"offset {offset}"


class _ByteReader:
    """Reads UTF-8 bytes from a dump stream, transcoding UTF-16 (detected by BOM).

    Real Wikimedia dumps are UTF-8, but re-saved files can be UTF-16 (the
    `bgwiki` sample); page splitting works on UTF-8 bytes only.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._decoder: codecs.IncrementalDecoder | None = None
        self._started = False

    def read(self) -> bytes | MalformedInput:
        try:
            data = self._stream.read(_READ_SIZE)
        except (OSError, EOFError, ValueError) as error:
            return MalformedInput("corrupt_compressed_data", f"{type(error).__name__}: {error}")
        if not self._started:
            self._started = True
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                self._decoder = codecs.getincrementaldecoder("utf-16")()
            elif data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
        if self._decoder is None:
            return data
        try:
            return self._decoder.decode(data, final=not data).encode("utf-8")
        except UnicodeDecodeError as error:
            return MalformedInput("bad_encoding", f"invalid UTF-16: {error}")
