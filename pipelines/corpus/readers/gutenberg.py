"""Project Gutenberg books: raw file bytes -> metadata and clean body text.

A Gutenberg file is a book wrapped in boilerplate whose shape changed over
thirty years: the pre-2003 "Etext" header that ends with the legal small
print, the 2003-2012 `***START OF THE PROJECT GUTENBERG EBOOK` markers (with
or without a space, sometimes wrapped over two lines), the current
`*** START OF THE PROJECT GUTENBERG EBOOK X ***` lines, and mirrors that ship
the bare book with no boilerplate at all. `parse_book` finds the body
between those markers, drops production notes and tables of contents at the
front, and reflows hard-wrapped lines into one line per paragraph.

Plain Python (no Beam, no TF), so it is unit-tested directly and pickles
into any DoFn. It runs over millions of books, so the whole-book passes are
compiled regexes and `str` methods (C loops); Python loops only walk
paragraphs, and the structural heuristics only look at the few paragraphs
they can apply to.

Everything that might be text is kept when in doubt: the boilerplate markers
are matched strictly (they name Project Gutenberg), the footer is searched
only after the start marker, production notes are dropped only at the very
beginning or end of the body, and a table of contents is dropped only when
its shape is clear.
"""
from __future__ import annotations

import codecs
import dataclasses
import re

from pipelines.corpus.documents import MalformedInput
from pipelines.corpus.normalization import CJK_CHARS, normalize_text

__all__ = ["DecodedText", "GutenbergBook", "decode_book", "decode_text", "decode_utf8_or_legacy", "parse_book"]


@dataclasses.dataclass(frozen=True)
class GutenbergBook:
    """One parsed book: header metadata and the clean body text."""

    title: str  # from the "Title:" header line (may wrap over 2 lines), "" if unknown
    ebook_number: int | None  # from "[eBook #1342]", "[EBook #2701]", "[Etext #3261]", ...
    language: str  # ISO 639-1 code from the "Language:" line, "" if unknown
    body: str  # paragraphs separated by exactly one blank line, no boilerplate
    invalid_utf8_bytes: int = 0  # bytes of a UTF-8 file that were not UTF-8 (replaced)


@dataclasses.dataclass(frozen=True)
class DecodedText:
    text: str
    invalid_utf8_bytes: int = 0  # replaced by U+FFFD (which normalize_text removes)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

# Byte order marks, longest first: the UTF-32-LE mark starts with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Bytes that occur in text files: tab, LF, FF, CR, SUB (DOS end-of-file,
# found in old etexts), ESC, and everything from space up. Deleting these
# from a sample leaves the bytes that only binary data has.
_TEXT_BYTES = bytes([9, 10, 12, 13, 26, 27]) + bytes(range(32, 256))
_BINARY_SAMPLE = 1 << 16
_MAX_BINARY_FRACTION = 0.01

# "Character set encoding: ISO-8859-1" (2003 files misspell it "Chatacter").
_DECLARED_CHARSET_RE = re.compile(
    rb"^[ \t]*Ch\w{4,8}[ \t]+set[ \t]+encoding:[ \t]*([^\r\n]+)", re.IGNORECASE | re.MULTILINE
)
_CHARSET_TOKEN_RE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def _declared_charset(data: bytes) -> str | None:
    """The codec named by the header's charset line, if Python knows it."""
    match = _DECLARED_CHARSET_RE.search(data, 0, 20_000)
    if not match:
        return None
    # "ISO-646-US (US-ASCII)", "ISO Latin-1": try each word-like token.
    for token in _CHARSET_TOKEN_RE.findall(match.group(1)):
        try:
            name = codecs.lookup(token.decode("ascii")).name
        except LookupError:
            continue
        # Latin-1 labels mean windows-1252 in practice (as in every browser):
        # the two agree on all printable Latin-1 characters, and the bytes
        # where they differ are C1 controls in Latin-1 but curly quotes and
        # dashes in cp1252, which is what such files actually contain.
        return "cp1252" if name == "latin-1" else name
    return None


def decode_book(data: bytes) -> str:
    """`decode_text(data).text`."""
    return decode_text(data).text


def decode_text(data: bytes) -> DecodedText:
    """Decode a Gutenberg (or any text) file to text with "\\n" line ends and no BOM.

    UTF-8 (with or without BOM) and BOM-marked UTF-16/32 are decoded as
    such; other bytes as `decode_utf8_or_legacy` decides, because pre-2010
    books were often published in 8-bit encodings.

    Raises MalformedInput("empty_file") for no content and
    MalformedInput("not_text") for binary data.
    """
    if not data.strip():
        raise MalformedInput("empty_file", f"{len(data)} bytes, no text")
    for bom, codec in _BOMS:
        if codec == "utf-8-sig" and data.startswith(bom):
            decoded = decode_utf8_or_legacy(data[len(bom) :], "utf-8")
            break
        if data.startswith(bom):
            try:
                decoded = DecodedText(data.decode(codec))
            except UnicodeDecodeError as err:
                raise MalformedInput("not_text", f"{codec} BOM but undecodable: {err}") from None
            break
    else:
        sample = data[:_BINARY_SAMPLE]
        binary = len(sample.translate(None, _TEXT_BYTES))
        if binary > _MAX_BINARY_FRACTION * len(sample):
            raise MalformedInput(
                "not_text", f"{binary} control/NUL bytes in the first {len(sample)} bytes"
            )
        try:
            decoded = DecodedText(data.decode("utf-8"))
        except UnicodeDecodeError:
            decoded = _decode_invalid_utf8(data, _declared_charset(data))
    text = decoded.text
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:  # CRLF (DOS, most Gutenberg files) and CR (old Mac)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise MalformedInput("empty_file", f"{len(data)} bytes, no text")
    return DecodedText(text, decoded.invalid_utf8_bytes)


# Invalid UTF-8 bytes, as the "surrogateescape" error handler decodes them.
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_HIGH_BYTES = bytes(range(128, 256))
# A file is UTF-8 with damage, not an 8-bit encoding, while at most this
# share of its non-ASCII byte sequences is invalid UTF-8.
_MAX_INVALID_SHARE = 0.5


def decode_utf8_or_legacy(data: bytes, declared: str | None = None) -> DecodedText:
    """UTF-8 text, with its invalid bytes replaced and counted; or text in an
    8-bit encoding (`declared`, else cp1252, else Latin-1).

    Which one is decided by the share of invalid sequences: in a real 8-bit
    file nearly every non-ASCII byte is invalid UTF-8 (a valid multi-byte
    sequence is a rare accident), while a UTF-8 file with a few damaged bytes
    has far more valid multi-byte characters than bad bytes, and decoding it
    as cp1252 would turn every accented letter and curly quote into mojibake.
    A file declared UTF-8 is always read as UTF-8.
    """
    try:
        return DecodedText(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _decode_invalid_utf8(data, declared)


def _decode_invalid_utf8(data: bytes, declared: str | None) -> DecodedText:
    escaped = data.decode("utf-8", "surrogateescape")
    # Valid sequences encode back to their own bytes; escaped ones are dropped.
    invalid = len(data) - len(escaped.encode("utf-8", "ignore"))
    ascii_bytes = len(data.translate(None, _HIGH_BYTES))
    valid_multibyte = len(escaped) - invalid - ascii_bytes
    if declared in ("utf-8", "utf-8-sig") or invalid <= _MAX_INVALID_SHARE * (invalid + valid_multibyte):
        return DecodedText(_ESCAPED_BYTES.sub("\ufffd", escaped), invalid)
    for codec in (declared, "cp1252"):
        if codec and codec not in ("ascii", "utf-8"):
            try:
                return DecodedText(data.decode(codec))
            except (UnicodeDecodeError, LookupError):
                continue
    return DecodedText(data.decode("latin-1"))  # total: every byte is a character


# --------------------------------------------------------------------------
# Boilerplate: where the body starts and ends
# --------------------------------------------------------------------------

# "*** START OF THE PROJECT GUTENBERG EBOOK X ***", "***START OF THE ...",
# "*** START OF THIS PROJECT GUTENBERG EBOOK X" (closing *** on the next line).
_START_RE = re.compile(
    r"\n[ \t]*\*{3}[ \t]*START[ \t]+OF[ \t]+(?:THE[ \t]+|THIS[ \t]+)?PROJECT[ \t]+GUTENBERG\b([^\n]*)",
    re.IGNORECASE,
)
# Pre-2003 etexts: the header ends with the legal small print, e.g.
# "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.12.12.00*END*".
_SMALL_PRINT_END_RE = re.compile(
    r"\n[ \t]*\*+[ \t]*END\b[^\n]{0,10}THE[ \t]+SMALL[ \t]+PRINT\b[^\n]*", re.IGNORECASE
)
# Every footer opens with a line that names Project Gutenberg:
# "*** END OF THE PROJECT GUTENBERG EBOOK X ***", "***END OF THE ...",
# "End of Project Gutenberg's X", "End of the Project Gutenberg EBook of X",
# "End of Project Gutenberg Etext of X". Anchored at a line start, so prose
# such as "End of school." or "THE END" never matches.
_END_RE = re.compile(
    r"\n[ \t]*(?:\*+[ \t]*)?END[ \t]+OF[ \t]+(?:THE[ \t]+|THIS[ \t]+)?PROJECT(?:[ \t]+|[ \t]*\n[ \t]*)GUTENBERG\b",
    re.IGNORECASE,
)
# The line patterns above start with "\n" rather than "^" under MULTILINE:
# a literal first character lets the regex engine skip ahead with a fast
# search instead of trying the pattern at every position of the book.
_NO_HEADER_SCAN = 4_000  # where to look for metadata in a file without markers


def _split(text: str) -> tuple[str, str]:
    """(header, body) of a decoded book; the footer is dropped."""
    text = "\n" + text  # so that the first line, too, follows a "\n"
    start = _START_RE.search(text)
    if start:
        body_start = start.end()
        if "***" not in start.group(1):
            # The marker wraps: its closing "***" is on the next line.
            nl = text.find("\n", body_start + 1)
            next_line = text[body_start + 1 : nl if nl >= 0 else len(text)]
            if "***" in next_line and len(next_line) < 200:
                body_start += 1 + len(next_line)
        header = text[: start.start()]
        end = _END_RE.search(text, body_start)
    else:
        small_print = _SMALL_PRINT_END_RE.search(text)
        end = _END_RE.search(text)
        # Later etexts put the small print after the book: it ends the header
        # only if no footer line comes before it.
        if small_print and (end is None or end.start() > small_print.start()):
            header, body_start = text[: small_print.start()], small_print.end()
            end = _END_RE.search(text, body_start)
        else:
            header, body_start = text[:_NO_HEADER_SCAN], 0
    return header, text[body_start : end.start() if end else len(text)]


# --------------------------------------------------------------------------
# Metadata from the header
# --------------------------------------------------------------------------

_TITLE_RE = re.compile(r"^Title:[ \t]*([^\n]*)((?:\n[^\n]+){0,2})", re.MULTILINE)
_FIELD_RE = re.compile(r"[ \t]*[A-Z][A-Za-z ]{0,30}:(?:[ \t]|$)")
# First line of most headers: "The Project Gutenberg EBook of Moby Dick; or
# The Whale, by Herman Melville", "Project Gutenberg Etext of News from
# Nowhere, by William Morris" -- the title when there is no "Title:" line.
_FIRST_LINE_TITLE_RE = re.compile(
    r"\A\s*(?:The[ \t]+)?Project[ \t]+Gutenberg(?:'s)?[ \t]+(?:e-?book|etext)?[ \t]*,?[ \t]*(?:of[ \t]+)?([^\n]+?)(?:,[ \t]+by[ \t][^\n]*)?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_EBOOK_NUMBER_RE = re.compile(r"\b(?:e-?book|e-?text)[ \t]*(?:#|No\.?)[ \t]*(\d+)", re.IGNORECASE)
_LANGUAGE_RE = re.compile(r"^Language:[ \t]*([^\n]*)", re.MULTILINE)
_LANGUAGE_SPLIT_RE = re.compile(r"[,;/&(]|\band\b", re.IGNORECASE)

# The languages Project Gutenberg writes in its "Language:" line, by name.
_LANGUAGE_CODES = {
    "afrikaans": "af", "arabic": "ar", "breton": "br", "bulgarian": "bg", "catalan": "ca",
    "chinese": "zh", "croatian": "hr", "czech": "cs", "danish": "da", "dutch": "nl",
    "english": "en", "esperanto": "eo", "estonian": "et", "finnish": "fi", "french": "fr",
    "galician": "gl", "german": "de", "greek": "el", "hebrew": "he", "hungarian": "hu",
    "icelandic": "is", "indonesian": "id", "irish": "ga", "italian": "it", "japanese": "ja",
    "korean": "ko", "latin": "la", "lithuanian": "lt", "norwegian": "no", "occitan": "oc",
    "persian": "fa", "polish": "pl", "portuguese": "pt", "romanian": "ro", "russian": "ru",
    "serbian": "sr", "slovak": "sk", "slovenian": "sl", "spanish": "es", "swedish": "sv",
    "tagalog": "tl", "ukrainian": "uk", "welsh": "cy", "yiddish": "yi",
}


def _title(header: str) -> str:
    match = _TITLE_RE.search(header)
    if match:
        parts = [match.group(1)]
        # A long title wraps onto the next line(s), indented or not; a
        # following "Author:" style field or a blank line ends it.
        for line in match.group(2).split("\n")[1:]:
            if _FIELD_RE.match(line):
                break
            parts.append(line)
        return " ".join(" ".join(parts).split())
    match = _FIRST_LINE_TITLE_RE.search(header, 0, 1_000)
    return " ".join(match.group(1).split()) if match else ""


def _language(header: str) -> str:
    match = _LANGUAGE_RE.search(header)
    if not match:
        return ""
    # "English", "English and French", "Spanish, Latin": the first one.
    first = _LANGUAGE_SPLIT_RE.split(match.group(1), 1)[0].strip().lower()
    if first in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[first]
    return first if len(first) == 2 and first.isalpha() and first.isascii() else ""


def _ebook_number(header: str) -> int | None:
    match = _EBOOK_NUMBER_RE.search(header)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------
# Body: whole-text passes
# --------------------------------------------------------------------------

# "[Illustration]", "[Illustration: caption]", captions spanning several
# lines and blank lines, with at most one level of nested brackets. Bounded,
# so an unclosed bracket cannot swallow the book.
_ILLUSTRATION_RE = re.compile(
    r"\[Illustration\b(?:[^\[\]]|\[[^\[\]]{0,500}\]){0,2000}\]", re.IGNORECASE
)
# Bracketed notes by the transcriber inside the text: "[Transcriber's note:
# ...]", "[Note Project Gutenberg: music transcribed in Lilypond format]".
_BRACKET_NOTE_RE = re.compile(
    r"\[(?:Transcriber|Note[ \t:]+(?:by[ \t]+)?(?:the[ \t]+)?Project[ \t]+Gutenberg)[^\[\]]{0,4000}\]",
    re.IGNORECASE,
)
# Lines that are only a scene break or rule: "*   *   *", "-----", "=====".
_SEPARATOR_LINE_RE = re.compile(r"\n[^\S\n]*(?:[-*=_~#.·•][^\S\n]*){3,}(?=\n)")
_TRAILING_SPACE_RE = re.compile(r"[^\S\n]+$", re.MULTILINE)
# CJK text indents each paragraph with ideographic spaces instead of
# separating paragraphs by blank lines: such a line starts a paragraph.
_IDEOGRAPHIC_INDENT_RE = re.compile(r"\n[^\S\n]*\u3000[^\S\n]*")
# One or more blank (or whitespace-only) lines.
_PARAGRAPH_BREAK_RE = re.compile(r"(\n(?:[^\S\n]*\n)+)")

_HAS_CJK_RE = re.compile(CJK_CHARS)


# --------------------------------------------------------------------------
# Body: paragraph-level heuristics (front/back matter, tables of contents)
# --------------------------------------------------------------------------

_FRONT_NOTE_WINDOW = 10  # production notes: only among the first paragraphs
_BACK_NOTE_WINDOW = 60  # a "Transcriber's Notes" heading among the last ones
_HEADINGLESS_TOC_MIN = 12  # a contents list without heading: this many entries
_PAGE_LIST_MIN = 5  # a run of "Title ....... 12" lines is a list anywhere

# Paragraphs that credit the people who made the e-text, not the book.
_NOTE_START_RE = re.compile(
    r"\s*(?:produced[ \t]+by|e-?text[ \t]+(?:was[ \t]+)?prepared[ \t]+by|prepared[ \t]+by|"
    r"this[ \t]+(?:e-?text|e-?book|file|edition|text|book)[ \t]+(?:was|has[ \t]+been|is)[ \t]+"
    r"(?:produced|prepared|created|transcribed|scanned)[ \t]+(?:by|from)|"
    r"transcribed[ \t]+(?:from|by)|scanned[ \t]+(?:and[ \t]+proofread[ \t]+)?by|"
    r"digiti[sz]ed[ \t]+by|html[ \t]+version[ \t]+by|credits?:|updated[ \t]+editions[ \t]+will)",
    re.IGNORECASE,
)
_NOTE_MENTION_RE = re.compile(
    r"project[ \t\n]+gutenberg|gutenberg\.(?:org|net)|pgdp\.net|distributed[ \t\n]+proofread",
    re.IGNORECASE,
)
# "Transcriber's Notes", "Original Transcriber's Notes:", "Etext
# transcriber's note:" as a heading of its own: the section under it goes.
_NOTE_HEADING_RE = re.compile(
    r"\s*(?:original[ \t]+|e-?text[ \t]+)?transcriber['’]?s['’]?[ \t]+notes?[ \t]*[.:]?\s*\Z", re.IGNORECASE
)
_TOC_HEADING_RE = re.compile(
    r"\s*(?:table[ \t]+of[ \t]+contents|contents|list[ \t]+of[ \t]+illustrations|illustrations|"
    r"índice(?:[ \t]+general)?|indice|inhalt|inhaltsverzeichnis|inhoud|inhoudsopgave|"
    r"table[ \t]+des[ \t]+matières|sommaire|sisällys(?:luettelo)?|innehåll|"
    r"indholdsfortegnelse|оглавление|содержание|目次|目錄|目录)[ \t]*[.:]?\s*\Z",
    re.IGNORECASE,
)
# A contents line that ends in a page number: "CHILDHOOD      43",
# "Dedication ..... vii", "AAN DE NOORDZEE   20.".
_PAGE_REF_RE = re.compile(
    r"\S(?:[ \t]{2,}|[ \t]*\.{3,}[ \t]*)(?:\d{1,4}|[ivxlcdm]{1,7}|[IVXLCDM]{1,7})\.?\Z"
)
# A column head above page numbers: "PAGE", "Bladz.".
_PAGE_HEAD_RE = re.compile(r"\s*(?:pages?|p\.|pp\.|bladz\.?|seite|página|pág\.)\s*\Z", re.IGNORECASE)
_CHAPTER_LINE_RE = re.compile(
    r"\s*(?:(?:chapter|chap\.|book|part|letter|volume|vol\.|canto|act|scene|capítulo|kapitel|chapitre|"
    r"hoofdstuk|capitolo|глава)\b|[IVXLC]+(?:\.|[ \t]{2,}|\Z)|\d{1,3}(?:\.|[ \t]{2,}|\Z))",
    re.IGNORECASE,
)
_SENTENCE_END = ".!?;:,\"”’'»)…"
_ENTRY_NORMALIZE_RE = re.compile(r"[\W_]+")
_ENTRY_NUMBERING_RE = re.compile(
    r"^(?:chapter|part|book|letter|capítulo|kapitel|chapitre)?[ \t]*(?:[ivxlc]+|\d+)\b[ \t.:-]*", re.IGNORECASE
)
_PAGE_SUFFIX_RE = re.compile(r"(?:[ \t]{2,}|[ \t]*\.{3,}[ \t]*)(?:\d{1,4}|[ivxlcdm]{1,7})\.?\Z", re.IGNORECASE)


def _is_entry_line(line: str) -> bool:
    """A line that could be one entry of a table of contents."""
    s = line.strip()
    if not s:
        return False
    if _PAGE_REF_RE.search(s) or _PAGE_HEAD_RE.match(s):
        return len(s) <= 100
    if len(s) > 80:
        return False
    # "CHAPTER I.", "OP ZEE." and quoted titles end like a sentence; prose
    # lines that end a sentence are longer.
    if s[-1] not in _SENTENCE_END:
        return True
    return len(s) <= 40 and (s[-1] == "." or (s[-1] in "\"”’'»" and s[-2:-1].isalnum()))


def _is_entry(para: str) -> bool:
    """A paragraph that could be (part of) a table of contents.

    Up to three lines: one entry, possibly wrapped (its continuation lines
    may start in lower case). More lines: a list with one entry per line, so
    (nearly) every line starts like a title, which hard-wrapped prose does
    not, and most lines look like entries.
    """
    lines = para.split("\n")
    first = para.lstrip()[:1]
    if not first or first.islower():
        return False
    if len(lines) == 1:
        return _is_entry_line(para)
    if len(lines) <= 3:
        # A wrapped entry ends without a period or with a page number; a
        # short last line ending a sentence is the tail of a prose paragraph.
        last = lines[-1].strip()
        return all(len(line.strip()) <= 100 for line in lines) and (
            bool(_PAGE_REF_RE.search(last)) or last[-1:] not in ("", *_SENTENCE_END)
        )
    starts_low = sum(1 for line in lines if line.lstrip()[:1].islower())
    entries = sum(1 for line in lines if _is_entry_line(line))
    return starts_low <= len(lines) // 10 and entries >= 0.75 * len(lines)


def _maybe_page_ref(para: str) -> bool:
    """Cheap test first: a page reference needs 2+ spaces or dots before the number."""
    tail = para[-24:]
    return ("  " in tail or "..." in tail or "\t" in tail) and bool(
        _PAGE_REF_RE.search(para.rsplit("\n", 1)[-1].strip())
    )


def _is_page_list(para: str) -> bool:
    """Every line is "Title   page" or a "PAGE" column head."""
    lines = para.split("\n")
    return all(_PAGE_REF_RE.search(line.strip()) or _PAGE_HEAD_RE.match(line) for line in lines)


def _entry_keys(para: str) -> set[str]:
    """Normalized forms of a contents entry, to recognize its chapter heading."""
    keys = set()
    for line in para.split("\n"):
        if _PAGE_HEAD_RE.match(line):
            continue  # "PAGE" repeats above every column of numbers
        line = _PAGE_SUFFIX_RE.sub("", line.strip())
        for form in (line, _ENTRY_NUMBERING_RE.sub("", line)):
            key = _ENTRY_NORMALIZE_RE.sub("", form).lower()
            if key:
                keys.add(key)
    return keys


def _heading_key(para: str) -> str:
    return _ENTRY_NORMALIZE_RE.sub("", para.split("\n", 1)[0]).lower()


def _section_end(gaps: list[int], start: int, limit: int) -> int:
    """Index after the section (run of paragraphs without a 2+ line gap) at start."""
    end = start + 1
    while end < limit and gaps[end] < 2:
        end += 1
    return end


def _section_continues_toc(paras: list[str], gaps: list[int], start: int) -> bool:
    """After a section break, does the table of contents go on?

    Only if the next section is made of entries and says so clearly: it is
    a contents heading itself, has page numbers or "CHAPTER"-style lines, or
    is a list of at least three one-line entries (not, say, a dedication).
    """
    end = _section_end(gaps, start, len(paras))
    section = paras[start:end]
    if _TOC_HEADING_RE.match(section[0]):
        return True
    if not all(_is_entry(p) for p in section):
        return False
    lines = [line for p in section for line in p.split("\n")]
    if any(_PAGE_REF_RE.search(line.strip()) or _CHAPTER_LINE_RE.match(line) for line in lines):
        return True
    return len(section) >= 3 and all("\n" not in p for p in section)


def _toc_after_heading(paras: list[str], gaps: list[int], head: int) -> int:
    """End of the table of contents under the heading at `head` (head + 1 if none).

    It ends before a paragraph that is not an entry (prose), before a
    heading that repeats an entry (the first chapter begins), or at a
    section break after which the contents do not clearly go on.
    """
    keys: set[str] = set()
    entries = 0
    i = head + 1
    n = len(paras)
    while i < n:
        para = paras[i]
        if keys and _heading_key(para) in keys:
            break
        if _TOC_HEADING_RE.match(para):
            i += 1
            continue
        if keys and gaps[i] >= 2 and not _section_continues_toc(paras, gaps, i):
            break
        if not _is_entry(para):
            break
        keys |= _entry_keys(para)
        entries += para.count("\n") + 1
        i += 1
    # The heading alone, or with a single line under it, is no table.
    return i if entries >= 2 else head + 1


def _headingless_toc(paras: list[str], gaps: list[int], start: int) -> int:
    """End of a long run of entries without a heading at `start` (start if none).

    Don Quijote lists its chapter titles without a "CONTENTS" heading: a long
    run of short paragraphs none of which ends a sentence. The run's last
    section (after its last section break), when short, is the heading of
    the text that follows, and stays.
    """
    end = start
    n = len(paras)
    while end < n and _is_short_entry(paras[end]):
        end += 1
    if end - start < _HEADINGLESS_TOC_MIN or end == n:
        return start
    last_section = max(j for j in range(start, end) if j == start or gaps[j] >= 2)
    if last_section > start and end - last_section <= 3:
        end = last_section
    return end


def _is_short_entry(para: str) -> bool:
    """One to four short lines that do not end a sentence."""
    lines = para.split("\n")
    return (
        len(lines) <= 4
        and all(len(line.strip()) <= 80 for line in lines)
        and para.rstrip()[-1:] not in ("", *_SENTENCE_END)
    )


def _drop_front_notes(paras: list[str], gaps: list[int], keep: list[bool]) -> None:
    """Production notes among the first paragraphs: credits, "Transcriber's Notes"."""
    n = len(paras)
    i = 0
    while i < min(n, _FRONT_NOTE_WINDOW):
        para = paras[i]
        if _NOTE_HEADING_RE.match(para):
            end = min(_section_end(gaps, i, n), i + 30)
            keep[i:end] = [False] * (end - i)
            i = end
            continue
        if _NOTE_START_RE.match(para) or _NOTE_MENTION_RE.search(para):
            keep[i] = False
        i += 1


def _drop_back_notes(paras: list[str], keep: list[bool]) -> None:
    """A "Transcriber's Notes" section that ends the book, and e-text credits."""
    n = len(paras)
    # Only in the second half: a short book's front notes are not back notes.
    for i in range(n - 1, max(n // 2, n - 1 - _BACK_NOTE_WINDOW), -1):
        if _NOTE_HEADING_RE.match(paras[i]):
            keep[i:] = [False] * (n - i)
            break
    # Closing credits that name Project Gutenberg; a closing "Produced by"
    # may be prose ("Produced by the mill, the flour was white.") and stays.
    for i in range(n - 1, max(-1, n - 4), -1):
        if _NOTE_MENTION_RE.search(paras[i]):
            keep[i] = False


def _drop_contents(paras: list[str], gaps: list[int], keep: list[bool]) -> None:
    """Tables of contents and lists of illustrations."""
    n = len(paras)
    first = next((i for i in range(n) if keep[i]), n)
    end = _headingless_toc(paras, gaps, first)
    keep[first:end] = [False] * (end - first)
    i = 0
    while i < n:
        para = paras[i]
        if len(para) <= 80 and _TOC_HEADING_RE.match(para):
            end = _toc_after_heading(paras, gaps, i)
            if end > i + 1:
                keep[i:end] = [False] * (end - i)
                i = end
                continue
        elif _maybe_page_ref(para) and _is_page_list(para):
            end = i
            while end < n and _is_page_list(paras[end]):
                end += 1
            if end - i >= _PAGE_LIST_MIN or sum(p.count("\n") + 1 for p in paras[i:end]) >= _PAGE_LIST_MIN:
                begin = i - 1 if i > 0 and _PAGE_HEAD_RE.match(paras[i - 1]) else i
                keep[begin:end] = [False] * (end - begin)
            i = end
            continue
        i += 1


def _clean_body(body: str) -> str:
    text = _ILLUSTRATION_RE.sub("", "\n" + body + "\n")
    text = _BRACKET_NOTE_RE.sub("", text)
    text = _SEPARATOR_LINE_RE.sub("\n", text)
    if _HAS_CJK_RE.search(text):
        text = _TRAILING_SPACE_RE.sub("", text)
        text = _IDEOGRAPHIC_INDENT_RE.sub("\n\n", text)
    # Lines keep their trailing spaces (the final collapse removes them);
    # the heuristics strip what they look at.
    parts = _PARAGRAPH_BREAK_RE.split(text.strip())
    paras = parts[0::2]
    gaps = [9] + [sep.count("\n") - 1 for sep in parts[1::2]]  # blank lines before each
    keep = [True] * len(paras)
    _drop_front_notes(paras, gaps, keep)
    _drop_back_notes(paras, keep)
    _drop_contents(paras, gaps, keep)
    # Reflow (lines joined with a space, or with nothing inside CJK text) is
    # the shared normalization.
    return normalize_text("\n\n".join(p for p, k in zip(paras, keep) if k))


def parse_book(data: bytes) -> GutenbergBook:
    """Parse the raw bytes of one Project Gutenberg file.

    Raises MalformedInput with reason "empty_file", "not_text" (see
    `decode_book`) or "empty_body" (nothing left after the boilerplate).
    """
    decoded = decode_text(data)
    header, body = _split(decoded.text)
    book = GutenbergBook(
        title=_title(header),
        ebook_number=_ebook_number(header),
        language=_language(header),
        body=_clean_body(body),
        invalid_utf8_bytes=decoded.invalid_utf8_bytes,
    )
    if not book.body:
        raise MalformedInput("empty_body", "no text left after removing the boilerplate", book.title)
    return book
