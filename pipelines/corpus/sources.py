"""Readers: one input file (or dump range) -> documents, drop outcomes and errors.

Each reader yields, for every record it meets, either a `Document` (kept for
the next step), an `Outcome` (dropped, with its reason) or an `ErrorRecord`
(malformed), so that every record read is accounted for exactly once.
"""
from __future__ import annotations

import codecs
import dataclasses
import json
import logging
import posixpath
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow.parquet as pq

from pipelines.corpus.documents import (
    DROPPED,
    INVALID_UTF8_BYTES,
    NORMALIZED,
    REPAIRED,
    SPLIT_DOCUMENTS,
    Document,
    ErrorRecord,
    MalformedInput,
    Outcome,
)
from pipelines.corpus.inputs import InputFile, open_compressed, open_decompressed
from pipelines.corpus.readers import gutenberg, wikipedia_multistream
from pipelines.corpus.readers.bz2_blocks import decompressed_chunks
from pipelines.corpus.readers.wikipedia_dump import (
    DEFAULT_MAX_PAGE_BYTES,
    SiteInfo,
    WikiPage,
    iter_dump,
    language_of_dbname,
)
from pipelines.corpus.readers.wikipedia_pages import page_drop_reason
from pipelines.corpus.segmentation import cut_text

Record = Document | Outcome | ErrorRecord
TEXT_SPLITS = ("file", "blank_line")


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    language: str = ""  # overrides the language a source declares
    # Wiki pages and JSONL lines larger are errors; longer texts are cut into documents this long.
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES
    max_file_bytes: int = 256 * 1024 * 1024  # whole-file formats (a book, a text file)
    text_split: str = "file"  # text: one document per file, or per blank-line block
    chunk_bytes: int = wikipedia_multistream.DEFAULT_CHUNK_BYTES


def read_file(item: InputFile, options: ReadOptions) -> Iterator[Record]:
    """Records of one whole file (multistream dumps go through `read_dump_range`)."""
    reader = {
        "wikipedia": _read_wikipedia,
        "gutenberg": _read_gutenberg,
        "text": _read_text,
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
    }[item.format]
    if item.size == 0:
        yield ErrorRecord(item.input, item.path, "empty_file", "the file has no bytes")
        return
    try:
        yield from reader(item, options)
    except MalformedInput as error:
        yield _error(item, error)
    except (OSError, EOFError, ValueError) as error:  # unreadable or corrupt file
        yield ErrorRecord(item.input, item.path, "unreadable_file", f"{type(error).__name__}: {error}")


def plan_dump_ranges(item: InputFile, options: ReadOptions) -> Iterator[tuple[InputFile, SiteInfo, wikipedia_multistream.StreamRange]]:
    """Splits an indexed multistream dump into independently readable ranges."""
    with open_decompressed(item.index_path) as index:
        offsets = list(wikipedia_multistream.iter_stream_offsets(index))
    if not offsets:
        raise MalformedInput("empty_index", f"{item.index_path} lists no streams")
    with open_compressed(item.path) as dump:
        siteinfo = wikipedia_multistream.read_header(dump, offsets[0])
    for stream_range in wikipedia_multistream.plan_ranges(item.path, offsets, item.size, options.chunk_bytes):
        yield item, siteinfo, stream_range


def read_dump_range(
    item: InputFile, siteinfo: SiteInfo, stream_range: wikipedia_multistream.StreamRange, options: ReadOptions
) -> Iterator[Record]:
    with open_compressed(item.path) as dump:
        pages = wikipedia_multistream.iter_range_pages(dump, stream_range, options.max_page_bytes)
        yield from _wiki_records(item, siteinfo, pages, options)


def _read_wikipedia(item: InputFile, options: ReadOptions) -> Iterator[Record]:
    bzip2 = item.path.endswith(".bz2")
    with open_compressed(item.path) if bzip2 else open_decompressed(item.path) as stream:
        # bzip2 is read block by block, so a damaged block costs only its own pages.
        dump = iter_dump(decompressed_chunks(stream) if bzip2 else stream, options.max_page_bytes)
        siteinfo = next(dump)
        assert isinstance(siteinfo, SiteInfo)
        yield from _wiki_records(item, siteinfo, dump, options)


def _wiki_records(
    item: InputFile, siteinfo: SiteInfo, pages: Iterator[WikiPage | MalformedInput], options: ReadOptions
) -> Iterator[Record]:
    siteinfo = _wiki_identity(item.path, siteinfo)
    language = options.language or siteinfo.language
    for page in pages:
        if isinstance(page, MalformedInput):
            yield _error(item, page)
            continue
        reason = page_drop_reason(page)
        if reason:
            yield Outcome(item.input, DROPPED, reason)
            continue
        yield Document(
            id=f"{siteinfo.dbname}:{page.page_id}",
            input=item.input,
            source=item.path,
            title=page.title,
            url=siteinfo.page_url(page.title),
            language=language,
            text=page.text,
            markup="wikitext",
        )


def _wiki_identity(path: str, siteinfo: SiteInfo) -> SiteInfo:
    """The dump's wiki. Wikimedia names dump files after their wiki
    (`frwiki-20240601-…`); where that disagrees with the header, as in
    re-exported dumps that carry another wiki's header, the file name wins, so
    languages, URLs and page ids (which collide across wikis) stay right."""
    file_wiki = posixpath.basename(path).split("-", 1)[0]
    language = language_of_dbname(file_wiki)
    if language and file_wiki != siteinfo.dbname:
        return SiteInfo(file_wiki, language, f"https://{language}.wikipedia.org/wiki/")
    return siteinfo if siteinfo.dbname else dataclasses.replace(siteinfo, dbname=file_wiki)


def _read_whole(item: InputFile, options: ReadOptions) -> bytes:
    with open_decompressed(item.path) as handle:
        data = handle.read(options.max_file_bytes + 1)
    if len(data) > options.max_file_bytes:
        raise MalformedInput("file_too_large", f"larger than {options.max_file_bytes} bytes (see --max_file_bytes)")
    return data


def _invalid_utf8(item: InputFile, count: int) -> Iterator[Outcome]:
    """Counts the invalid UTF-8 bytes replaced in a file (stats.json "repaired")."""
    if count:
        logging.warning("%s: %d bytes of invalid UTF-8 replaced", item.path, count)
        yield Outcome(item.input, REPAIRED, INVALID_UTF8_BYTES, count=count)


def _read_gutenberg(item: InputFile, options: ReadOptions) -> Iterator[Record]:
    book = gutenberg.parse_book(_read_whole(item, options))
    number = book.ebook_number
    yield from _invalid_utf8(item, book.invalid_utf8_bytes)
    yield from _bounded(item, options, Document(
        # The file name, not the eBook number: one book comes in several files
        # (editions, encodings such as 3261.txt / 3261-0.txt / 3261-8.txt).
        id=f"gutenberg:{_stem(item.path)}",
        input=item.input,
        source=item.path,
        title=book.title,
        url=f"https://www.gutenberg.org/ebooks/{number}" if number else "",
        language=options.language or book.language,
        text=book.body,
        markup=NORMALIZED,
    ))


def _read_text(item: InputFile, options: ReadOptions) -> Iterator[Record]:
    decoded = gutenberg.decode_text(_read_whole(item, options))
    text = decoded.text
    yield from _invalid_utf8(item, decoded.invalid_utf8_bytes)
    if options.text_split == "file":
        blocks = [text]
    else:
        blocks = [block for block in text.split("\n\n") if block.strip()]  # decode_book made line ends LF
    if not any(block.strip() for block in blocks):
        raise MalformedInput("empty_file", "no text")
    for number, block in enumerate(blocks):
        yield from _bounded(item, options, _plain_document(item, options, f"{_stem(item.path)}:{number}", block))


def _read_jsonl(item: InputFile, options: ReadOptions) -> Iterator[Record]:
    invalid_bytes = 0
    with open_decompressed(item.path) as handle:
        for number, (line, size) in enumerate(iter_lines(handle, options.max_page_bytes), 1):
            record_name = f"line {number}"
            if line is None:
                yield ErrorRecord(item.input, item.path, "record_too_large", f"{size} bytes", record_name)
                continue
            if not line.strip():
                continue
            try:
                row, invalid = _json_row(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                yield ErrorRecord(item.input, item.path, "bad_json", str(error), record_name)
                continue
            invalid_bytes += invalid
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                yield ErrorRecord(item.input, item.path, "missing_text", "no string field 'text'", record_name)
                continue
            yield from _bounded(item, options, _plain_document(item, options, f"{_stem(item.path)}:{number}", row["text"], row))
    yield from _invalid_utf8(item, invalid_bytes)


def _json_row(line: bytes) -> tuple[object, int]:
    """The JSON value of a line, and how many invalid UTF-8 bytes were replaced in it."""
    try:
        return json.loads(line), 0
    except UnicodeDecodeError:
        decoded = gutenberg.decode_utf8_or_legacy(line.removeprefix(codecs.BOM_UTF8))
        return json.loads(decoded.text), decoded.invalid_utf8_bytes


_LINE_CHUNK = 1 << 20
# Rows read and converted to Python at a time. A batch spans row groups, and rows can be whole books: batches
# of 1,024 held a gigabyte, of 64 rows still 500 MB (pyarrow's pool keeps what a batch took).
PARQUET_BATCH_ROWS = 16


def iter_lines(handle: BinaryIO, limit: int, chunk_bytes: int = _LINE_CHUNK) -> Iterator[tuple[bytes | None, int]]:
    """(line, size in bytes) for each line of `handle`, read `chunk_bytes` at a time; a line of more than
    `limit` bytes comes as (None, size) and is never held whole."""
    pending = bytearray()
    dropped = 0  # bytes of an over-long line read so far
    while chunk := handle.read(chunk_bytes):
        *complete, rest = chunk.split(b"\n")
        for part in complete:
            size = dropped + len(pending) + len(part) + 1
            yield (None if dropped or size > limit else bytes(pending) + part), size
            pending.clear()
            dropped = 0
        if dropped:
            dropped += len(rest)
        else:
            pending += rest
            if len(pending) > limit:
                dropped = len(pending)
                pending.clear()
    if dropped or pending:
        yield (None if dropped else bytes(pending)), dropped + len(pending)


def _read_parquet(item: InputFile, options: ReadOptions) -> Iterator[Record]:
    with open_decompressed(item.path) as handle:
        table_file = pq.ParquetFile(handle)
        columns = [c for c in ("id", "title", "url", "text", "sentences") if c in table_file.schema_arrow.names]
        if "text" not in columns and "sentences" not in columns:
            raise MalformedInput("missing_text", "no 'text' (or 'sentences') column")
        row_number = 0
        for batch in table_file.iter_batches(columns=columns, batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                row_number += 1
                text = row.get("text")
                if text is None and row.get("sentences") is not None:
                    # A sentence per paragraph keeps the boundaries for later stages.
                    text = "\n\n".join(row["sentences"])
                if not isinstance(text, str):
                    yield ErrorRecord(item.input, item.path, "missing_text", "null text", f"row {row_number}")
                    continue
                yield from _bounded(item, options, _plain_document(item, options, f"{_stem(item.path)}:{row_number}", text, row))


def _plain_document(item: InputFile, options: ReadOptions, default_id: str, text: str, row: dict | None = None) -> Document:
    row = row or {}
    return Document(
        id=str(row.get("id") or default_id),
        input=item.input,
        source=item.path,
        title=str(row.get("title") or ""),
        url=str(row.get("url") or ""),
        language=options.language or str(row.get("language") or ""),
        text=text,
    )


def _bounded(item: InputFile, options: ReadOptions, doc: Document) -> Iterator[Record]:
    """`doc`, or its pieces if its text is longer than `max_page_bytes`
    characters: every later step (normalization, filters, segmentation)
    holds a document's text several times over, so an unbounded one (a
    50 MB single-line file) would take its memory without bound. Cut at line
    breaks, sentence ends or spaces; counted in stats.json "repaired"."""
    if len(doc.text) <= options.max_page_bytes:
        yield doc
        return
    yield Outcome(item.input, REPAIRED, SPLIT_DOCUMENTS)
    pieces = 0
    for pieces, piece in enumerate(cut_text(doc.text, options.max_page_bytes), 1):
        # A cut may leave a space or line break at a piece's edge: plain text again, normalized in cleaning.
        markup = "plain" if doc.markup == NORMALIZED else doc.markup
        yield dataclasses.replace(doc, id=f"{doc.id}#{pieces}", text=piece, markup=markup)
    logging.warning(
        "%s: document %s of %d characters cut into %d documents of at most %d (see --max_page_bytes)",
        item.path, doc.id, len(doc.text), pieces, options.max_page_bytes,
    )


def _stem(path: str) -> str:
    return posixpath.basename(path).split(".", 1)[0]


def _error(item: InputFile, error: MalformedInput) -> ErrorRecord:
    return ErrorRecord(item.input, item.path, error.reason, error.detail, error.record)
