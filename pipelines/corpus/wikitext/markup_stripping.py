"""Linear-time markup removal (no recursion, no backtracking blow-ups): the pre-pass that drops
comments, extension elements and tables before parsing, and the regex fallback used when parsing
fails or the input would make the parsers crawl."""
from __future__ import annotations

import bisect
import html
import logging
import re

from pipelines.corpus.wikitext.names import CATEGORY_NAMESPACES, FILE_NAMESPACES, INTERLANGUAGE
from pipelines.corpus.wikitext.paragraphs import LIST_ITEM, assemble_paragraphs

_log = logging.getLogger(__name__)

APOSTROPHES = re.compile(r"'{2,}")
MAGIC_WORD = re.compile(r"__(?:(?!__)[^\W\da-z])+__")
# An HTML-like tag, open, close or self-closing.
HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# Extension tags whose whole element is dropped. Like MediaWiki's
# preprocessor, an element runs to the first matching close tag; <nowiki>
# spans are kept verbatim (their content is not markup).
_DROPPED_ELEMENTS = (
    "ref", "references", "math", "chem", "ce", "gallery", "timeline",
    "syntaxhighlight", "source", "pre", "code", "score", "imagemap", "mapframe",
    "maplink", "graph", "templatedata", "templatestyles", "inputbox",
    "categorytree", "hiero", "includeonly", "charinsert", "indicator")
_ELEMENT_NAMES = "|".join(("nowiki",) + _DROPPED_ELEMENTS)
_ELEMENT_OPEN = re.compile(
    r"<!--|<(%s)(?=[\s/>])[^<>]*?(/?)>" % _ELEMENT_NAMES, re.IGNORECASE)
_ELEMENT_CLOSE = re.compile(r"</(%s)\s*>" % _ELEMENT_NAMES, re.IGNORECASE)
# Tables open with "{|" and close with "|}" at the start of a line ("|}}" at
# a line start closes a template instead).
_TABLE_TOKEN = re.compile(r"^[ \t:]*(\{\|)|^[ \t]*\|\}(?!\})", re.MULTILINE)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_HEADING_LINE = re.compile(r"^\s*=+.*?=+\s*$", re.MULTILINE)
_EXT_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\[\]]+[ \t]*([^\[\]\n]*)\]")
_BARE_URL = re.compile(r"(?:https?|ftp)://\S+")
_NOWIKI = re.compile(r"<nowiki\s*>(.*?)</nowiki\s*>", re.DOTALL | re.IGNORECASE)


def strip_elements(text: str) -> str:
    """Removes comments and dropped extension elements (<ref>, <math>,
    <gallery>, ...) in one left-to-right pass; keeps <nowiki> spans. An
    element that is never closed loses only its open tag."""
    if "<" not in text:
        return text
    closes: dict[str, list[int]] = {}
    for m in _ELEMENT_CLOSE.finditer(text):
        closes.setdefault(m.group(1).lower(), []).append(m.start())
    out, pos = [], 0
    m = _ELEMENT_OPEN.search(text)
    while m:
        start = m.start()
        if m.group(1) is None:  # comment
            end = text.find("-->", m.end())
            end = len(text) if end < 0 else end + 3
            out.append(text[pos:start])
            pos = end
        else:
            name = m.group(1).lower()
            positions = closes.get(name, ())
            k = bisect.bisect_left(positions, m.end()) if not m.group(2) else len(positions)
            if k < len(positions):
                end = text.index(">", positions[k]) + 1
                if name == "nowiki":
                    out.append(text[pos:end])
                else:
                    out.append(text[pos:start])
                pos = end
            else:  # self-closing (<ref name=x/>) or never closed
                out.append(text[pos:start])
                pos = m.end()
        m = _ELEMENT_OPEN.search(text, pos)
    out.append(text[pos:])
    return "".join(out)


def strip_tables(text: str) -> str:
    """Removes balanced line-anchored tables ("{|" .. "|}"), nested ones
    included; an unbalanced table is left to the parser."""
    if "{|" not in text:
        return text
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in _TABLE_TOKEN.finditer(text):
        if m.group(1):
            stack.append(m.start(1))
        elif stack:
            start = stack.pop()
            if not stack:
                spans.append((start, m.end()))
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append("\n\n")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def drop_nested(text: str, open_delim: str, close_delim: str) -> str:
    """Removes balanced `open_delim`..`close_delim` spans (nesting allowed)
    and unmatched delimiters, in one linear pass."""
    if open_delim not in text and close_delim not in text:
        return text
    token = re.compile(re.escape(open_delim) + "|" + re.escape(close_delim))
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in token.finditer(text):
        if m.group() == open_delim:
            stack.append(m.start())
        elif stack:
            spans.append((stack.pop(), m.end()))
        else:
            spans.append((m.start(), m.end()))  # unmatched close
    spans.extend((start, start + len(open_delim)) for start in stack)
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if start >= pos:
            out.append(text[pos:start])
            pos = end
        elif end > pos:
            pos = end
    out.append(text[pos:])
    return "".join(out)


def _internal_link_text(m: re.Match) -> str:
    inner = m.group(1)
    target, _, label = inner.partition("|")
    prefix = target.split(":", 1)[0].strip().lower() if ":" in target else ""
    if prefix and (prefix in FILE_NAMESPACES or prefix in CATEGORY_NAMESPACES
                   or INTERLANGUAGE.match(target.split(":", 1)[0].strip())):
        return ""
    if "|" in label:
        return ""  # image-style options
    return label or target


def regex_strip(wikitext: str, language: str = "") -> str:
    """Crude, linear-time cleaning used when parsing fails. Never raises."""
    try:
        text = strip_elements(wikitext)
        text = _NOWIKI.sub(r"\1", text)
        text = drop_nested(text, "{{", "}}")
        text = drop_nested(text, "{|", "|}")
        text = _EXT_LINK.sub(r"\1", text)
        # innermost links first; a link that still nests after a few rounds
        # is dropped with its brackets
        for _ in range(3):
            text = re.sub(r"\[\[([^\[\]]*)\]\]", _internal_link_text, text)
        text = drop_nested(text, "[[", "]]")
        text = _BARE_URL.sub("", text)
        text = _ANY_TAG.sub("", text)
        text = _HEADING_LINE.sub("\n", text)
        text = MAGIC_WORD.sub("", text)
        text = APOSTROPHES.sub("", text)
        text = html.unescape(text)
        text = re.sub(r"^[*#:;]+", LIST_ITEM, text, flags=re.MULTILINE)
        text = text.replace("[", "").replace("]", "").replace("{", "").replace("}", "")
        return assemble_paragraphs(text, language)
    except Exception:  # noqa: BLE001 - must never fail a job on one page
        _log.warning("regex_strip failed", exc_info=True)
        return ""


# Inputs that make the parsers crawl (thousands of unclosed openers; real
# articles have at most ~1,000 unclosed "<", from <br>) go straight to the
# linear regex fallback.
MAX_UNBALANCED = 2000


def is_pathological(text: str, limit: int = MAX_UNBALANCED) -> bool:
    """Whether `text` holds more than `limit` unbalanced delimiters of one kind (tags: twice as many)."""
    return (abs(text.count("{{") - text.count("}}")) > limit
            or abs(text.count("[[") - text.count("]]")) > limit
            or text.count("<") - text.count("</") - text.count("/>") > 2 * limit
            or text.count("{|") - text.count("|}") > limit
            or text.count("[") - text.count("]") > limit
            or text.count("<!--") - text.count("-->") > limit)
