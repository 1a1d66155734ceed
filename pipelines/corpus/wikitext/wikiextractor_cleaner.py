"""A thin wrapper around WikiExtractor 3.1.0's own cleaning step (no template expansion).
WikiExtractor is AGPL-3.0: it is imported lazily, only when this cleaner is used, and none of its
code is copied here."""
from __future__ import annotations

import logging
import threading

from pipelines.corpus.wikitext.markup_stripping import is_pathological, regex_strip
from pipelines.corpus.wikitext.paragraphs import WHITESPACE

_log = logging.getLogger(__name__)


class WikiExtractorCleaner:
    """Cleans wikitext with WikiExtractor 3.1.0 (no template expansion)."""

    name = "wikiextractor"

    def clean(self, wikitext: str, title: str = "", language: str = "") -> str:
        if not wikitext:
            return ""
        try:
            wikitext = str(wikitext)
            if is_pathological(wikitext):
                return regex_strip(wikitext, language or "")
            lines = self._extract(wikitext, title or "")
        except RecursionError:
            return regex_strip(wikitext, language or "")
        except Exception:  # noqa: BLE001 - one bad page must never fail a job
            _log.warning("wikiextractor failed on %r; regex fallback", title,
                         exc_info=True)
            return regex_strip(wikitext, language or "")
        paragraphs = (WHITESPACE.sub(" ", line).strip() for line in lines)
        return "\n\n".join(p for p in paragraphs if p)

    @staticmethod
    def _extract(wikitext: str, title: str) -> list[str]:
        extract = _wikiextractor()
        extractor = extract.Extractor(
            0, "", "", title, [], keepSections=False,
            ignored_tag_patterns=_wikiextractor_ignored_tags())
        return extractor.clean_text(wikitext, mark_headers=False,
                                    expand_templates=False, html_safe=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_WIKIEXTRACTOR_LOCK = threading.Lock()
_WIKIEXTRACTOR_IGNORED: list = []  # built on first use, once per process


def _wikiextractor():
    """The lazily imported `wikiextractor.extract` module, its loggers muted."""
    from wikiextractor import extract

    for name in ("wikiextractor", "wikiextractor.extract"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    return extract


def _wikiextractor_ignored_tags() -> list | None:
    """WikiExtractor's default ignored tags plus <a>, as its own CLI and
    `clean_markup` use them without --links (None: its built-in default)."""
    with _WIKIEXTRACTOR_LOCK:
        if not _WIKIEXTRACTOR_IGNORED:
            extract = _wikiextractor()
            defaults = getattr(extract, "_DEFAULT_IGNORED_TAG_PATTERNS", None)
            if defaults is None:
                return None
            _WIKIEXTRACTOR_IGNORED.extend(defaults)
            _WIKIEXTRACTOR_IGNORED.append(extract.ignoreTag("a"))
        return _WIKIEXTRACTOR_IGNORED
