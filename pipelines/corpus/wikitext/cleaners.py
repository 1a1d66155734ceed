"""The wikitext cleaners by name, and the measure of the markup they leave.

Two cleaners share one interface (`WikitextCleaner`):

* ``mwparserfromhell`` (the default, MIT): parses the page and walks the node
  tree (`mwparserfromhell_cleaner`), rendering the common value templates
  instead of deleting them (`templates`).
* ``wikiextractor``: a thin wrapper around WikiExtractor 3.1.0's own cleaning
  step (`wikiextractor_cleaner`, AGPL-3.0, imported lazily).

Both return paragraphs separated by exactly one blank line ("\\n\\n"), one
paragraph per list item, no headings. Cleaners hold no state beyond their
name, so they pickle (they travel to Beam workers). Cleaning never raises:
pathological markup falls back to a linear regex strip (`markup_stripping`).
"""
from __future__ import annotations

import re
from typing import Protocol

from pipelines.corpus.wikitext.markup_stripping import HTML_TAG
from pipelines.corpus.wikitext.mwparserfromhell_cleaner import MwparserfromhellCleaner
from pipelines.corpus.wikitext.names import CATEGORY_NAMESPACES
from pipelines.corpus.wikitext.wikiextractor_cleaner import WikiExtractorCleaner

CLEANERS = ("mwparserfromhell", "wikiextractor")
DEFAULT_CLEANER = "mwparserfromhell"


class WikitextCleaner(Protocol):
    """Turns one article's wikitext into plain paragraphs."""

    name: str

    def clean(self, wikitext: str, title: str = "", language: str = "") -> str:
        """Paragraphs separated by "\\n\\n"; each list item its own paragraph."""
        ...


def make_cleaner(name: str) -> WikitextCleaner:
    """The cleaner called `name` (one of `CLEANERS`)."""
    if name == "mwparserfromhell":
        return MwparserfromhellCleaner()
    if name == "wikiextractor":
        return WikiExtractorCleaner()
    raise ValueError(
        f"unknown wikitext cleaner {name!r}; choose one of: {', '.join(CLEANERS)}")


# Residue markers the cleaners must not leave (tests and the benchmark).
RESIDUE_MARKERS = ("{{", "}}", "[[", "]]", "<ref", "{|", "|}", "&nbsp;", "'''",
                   "==", "thumb|")
_RESIDUE_CATEGORY = re.compile(
    r"(?:%s)\s*:" % "|".join(sorted((re.escape(n) for n in CATEGORY_NAMESPACES),
                                    key=len, reverse=True)), re.IGNORECASE)


def markup_residue(text: str) -> int:
    """How many markup leftovers `text` holds: `RESIDUE_MARKERS`, category
    prefixes, HTML-like tags and "|" characters (each counted separately)."""
    count = sum(text.count(marker) for marker in RESIDUE_MARKERS)
    count += len(_RESIDUE_CATEGORY.findall(text))
    count += len(HTML_TAG.findall(text))
    return count + text.count("|")
