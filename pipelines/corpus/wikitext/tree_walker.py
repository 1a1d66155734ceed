"""Renders a mwparserfromhell node tree to text with list and paragraph marks: keeps link texts,
list items and emphasis contents; drops what is not prose (references, tables, files, categories,
interlanguage links, math, code, headings and whole non-prose sections)."""
from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Callable

from pipelines.corpus.wikitext.markup_stripping import MAGIC_WORD
from pipelines.corpus.wikitext.names import (
    AMBIGUOUS_SECTIONS,
    CATEGORY_HINT,
    CATEGORY_NAMESPACES,
    FILE_NAMESPACES,
    IMAGE_OPTION_PATTERN,
    IMAGE_OPTIONS,
    INTERLANGUAGE,
    MEDIA_EXTENSION,
    NON_PROSE_SECTIONS,
)
from pipelines.corpus.wikitext.paragraphs import LIST_ITEM, WHITESPACE
from pipelines.corpus.wikitext.templates import SUPERSCRIPT, SUPERSCRIPTABLE, render_template

if TYPE_CHECKING:
    from mwparserfromhell.wikicode import Wikicode

_DROP_TAGS = frozenset({
    "ref", "references", "math", "chem", "ce", "gallery", "timeline",
    "syntaxhighlight", "source", "pre", "code", "score", "imagemap", "mapframe",
    "maplink", "graph", "templatedata", "templatestyles", "inputbox",
    "categorytree", "hiero", "includeonly", "table", "caption",
    "indicator", "charinsert", "section", "rt", "rp", "style", "script",
    "img", "dynamicpagelist", "poll", "tabs", "phonos", "chart",
})
_BLOCK_TAGS = frozenset({"p", "div", "center", "blockquote", "ul", "ol", "dl",
                         "h1", "h2", "h3", "h4", "h5", "h6", "tr", "poem"})
_LIST_TAGS = frozenset({"li", "dt", "dd"})


def _heading_key(title: str) -> str:
    key = WHITESPACE.sub(" ", title).strip().casefold()
    return key.rstrip(" :.：")


class TreeWalker:
    """Renders a mwparserfromhell tree to text with list/paragraph marks."""

    def __init__(self, title: str, language: str) -> None:
        import mwparserfromhell.nodes as nodes

        self.title = title
        self.language = language
        self._skip_level = 0  # > 0 while inside a dropped section
        self._heading_type = nodes.Heading
        self._handlers: dict[type, Callable] = {
            nodes.Text: self._text,
            nodes.Wikilink: self._wikilink,
            nodes.Template: self._template,
            nodes.Tag: self._tag,
            nodes.Heading: self._heading,
            nodes.Comment: lambda node: "",
            nodes.ExternalLink: self._external_link,
            nodes.HTMLEntity: self._entity,
            nodes.Argument: self._argument,
        }

    # -- whole documents and inline fragments
    def render(self, wikicode: Wikicode) -> str:
        """The nodes of `wikicode` as text, skipping those inside a dropped section."""
        out = []
        handlers = self._handlers
        for node in wikicode.nodes:
            if self._skip_level and type(node) is not self._heading_type:
                continue
            handler = handlers.get(type(node))
            if handler is not None:
                out.append(handler(node))
        return "".join(out)

    def inline(self, wikicode: Wikicode) -> str:
        """A template argument or link text: rendered, on one line."""
        skip, self._skip_level = self._skip_level, 0
        try:
            text = self.render(wikicode)
        finally:
            self._skip_level = skip
        return WHITESPACE.sub(" ", text.replace(LIST_ITEM, " ").replace("\n", " ")).strip()

    # -- node handlers
    def _text(self, node) -> str:
        value = node.value
        if "__" in value:
            value = MAGIC_WORD.sub("", value)
        return value

    def _entity(self, node) -> str:
        try:
            return node.normalize()
        except (ValueError, OverflowError):
            return ""

    def _argument(self, node) -> str:
        return self.render(node.default) if node.default is not None else ""

    def _heading(self, node) -> str:
        level = node.level
        if self._skip_level and level > self._skip_level:
            return ""
        self._skip_level = 0
        key = _heading_key(self.inline(node.title))
        if key in NON_PROSE_SECTIONS or (key in AMBIGUOUS_SECTIONS and level <= 2):
            self._skip_level = level
        return "\n\n"

    def _external_link(self, node) -> str:
        if node.brackets and node.title is not None:
            return self.render(node.title)
        return ""

    def _template(self, node) -> str:
        return render_template(self, node)

    def _wikilink(self, node) -> str:
        target = str(node.title).strip()
        text = node.text
        if ":" in target and not target.startswith(":"):  # ":" = shown as a link
            prefix = target.split(":", 1)[0].strip()
            folded = prefix.replace("_", " ").casefold()
            if (folded in FILE_NAMESPACES or folded in CATEGORY_NAMESPACES
                    or INTERLANGUAGE.match(prefix)
                    or (CATEGORY_HINT.search(folded) and text is None)
                    or self._looks_like_file(target, text)):
                return ""
        if text is not None:
            rendered = self.render(text)
            if rendered.strip():
                return rendered
            return re.sub(r"\s*\([^()]*\)$", "", self._link_title(node))  # pipe trick
        return self._link_title(node)

    def _link_title(self, node) -> str:
        """The text MediaWiki shows for [[Title]]: the title as written,
        minus a leading ":" and, for [[:Category:X]], the namespace."""
        shown = self.inline(node.title).lstrip(":").strip()
        prefix, colon, rest = shown.partition(":")
        if colon and prefix.strip().replace("_", " ").casefold() in CATEGORY_NAMESPACES:
            return rest.strip()
        return shown

    @staticmethod
    def _looks_like_file(target: str, text) -> bool:
        if MEDIA_EXTENSION.search(target):
            return True
        if text is None:
            return False
        options = str(text).split("|")
        return len(options) > 1 and any(
            option.strip().casefold() in IMAGE_OPTIONS
            or IMAGE_OPTION_PATTERN.match(option.strip()) for option in options[:-1])

    def _tag(self, node) -> str:
        markup = node.wiki_markup
        if markup:
            if markup in ("''", "'''", "'''''"):
                return self.render(node.contents) if node.contents is not None else ""
            if markup in ("*", "#", ";", ":"):
                return "\n" + LIST_ITEM
            if markup.startswith("{|"):
                return "\n\n"
            if markup.startswith("-"):  # ----
                return "\n\n"
        name = str(node.tag).strip().casefold()
        if name in _DROP_TAGS:
            return "\n\n" if name == "table" else ""
        if name in ("br", "wbr"):
            return " "
        if name == "hr":
            return "\n\n"
        if node.self_closing or node.contents is None:
            return ""
        if name == "nowiki":
            return html.unescape(str(node.contents))
        inner = self.render(node.contents)
        if name in _LIST_TAGS:
            return "\n" + LIST_ITEM + inner + "\n"
        if name in _BLOCK_TAGS:
            return "\n\n" + inner + "\n\n"
        if name == "sup" and SUPERSCRIPTABLE.match(inner):
            return inner.translate(SUPERSCRIPT)
        return inner
