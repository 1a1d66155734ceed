"""The default cleaner (MIT): parses the page with mwparserfromhell and walks the node tree, after a
linear pre-pass and before a last-resort scrub of what the parser left as text."""
from __future__ import annotations

import html
import logging
import re

from pipelines.corpus.wikitext.markup_stripping import (
    APOSTROPHES,
    HTML_TAG,
    drop_nested,
    is_pathological,
    regex_strip,
    strip_elements,
    strip_tables,
)
from pipelines.corpus.wikitext.paragraphs import assemble_paragraphs
from pipelines.corpus.wikitext.templates import HOLE, strip_templates
from pipelines.corpus.wikitext.tree_walker import TreeWalker

_log = logging.getLogger(__name__)

_TABLE_LINE = re.compile(r"^[ \t:]*(?:\{\||\|).*$", re.MULTILINE)
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,7}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_STRAY_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")


def _scrub(text: str) -> str:
    """Last-resort removal of markup the parser left as plain text
    (unbalanced or malformed constructs)."""
    if HOLE in text:
        text = text.replace(HOLE, "")
    if "{{" in text or "}}" in text:
        text = drop_nested(text, "{{", "}}")
    if "{|" in text or "\n|" in text:  # rows of tables the parser left as text
        text = _TABLE_LINE.sub("", text)
    if "{|" in text or "|}" in text:
        text = drop_nested(text, "{|", "|}")
    if "[[" in text or "]]" in text:
        text = _STRAY_LINK.sub(lambda m: m.group(1).rpartition("|")[2], text)
        text = text.replace("[[", "").replace("]]", "")
    if "''" in text:
        text = APOSTROPHES.sub("", text)
    if "==" in text:
        text = re.sub(r"={2,}", "", text)
    if "&" in text:  # entities written double-escaped or left in raw text
        text = _ENTITY.sub(lambda m: html.unescape(m.group()), text)
    if "<" in text:  # stray or unparsed tags (e.g. an unmatched </div>)
        text = HTML_TAG.sub("", text)
    return text


class MwparserfromhellCleaner:
    """Cleans wikitext by walking mwparserfromhell's node tree (MIT)."""

    name = "mwparserfromhell"

    def clean(self, wikitext: str, title: str = "", language: str = "") -> str:
        """Plain paragraphs of one article. `title` fills {{PAGENAME}};
        `language` (wiki language code) picks date rendering ("5 March 1950"
        for "en", ISO "1950-03-05" otherwise, also when unknown) and keeps
        French spacing before ; : ! ?. Never raises."""
        if not wikitext:
            return ""
        try:
            if not isinstance(wikitext, str):
                wikitext = str(wikitext)
            language = (language or "").casefold()
            if "\x00" in wikitext:  # the C tokenizer stops at NUL
                wikitext = wikitext.replace("\x00", "")
            if is_pathological(wikitext):
                return regex_strip(wikitext, language)
            return self._clean(wikitext, title or "", language)
        except RecursionError:
            _log.debug("recursion limit while cleaning %r; regex fallback", title)
            return regex_strip(wikitext, language or "")
        except Exception:  # noqa: BLE001 - one bad page must never fail a job
            _log.warning("cleaning %r failed; regex fallback", title, exc_info=True)
            return regex_strip(wikitext, language or "")

    @staticmethod
    def _clean(wikitext: str, title: str, language: str) -> str:
        import mwparserfromhell

        text = strip_templates(strip_tables(strip_elements(wikitext)))
        code = mwparserfromhell.parse(text)
        rendered = TreeWalker(title, language).render(code)
        return assemble_paragraphs(_scrub(rendered), language)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
