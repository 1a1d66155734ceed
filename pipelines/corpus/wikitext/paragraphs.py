"""Paragraph assembly and tidying, shared by the cleaners: rendered text with list marks becomes
paragraphs separated by one blank line, with the residue left where markup was removed tidied away."""
from __future__ import annotations

import re

LIST_ITEM = "\x02"  # starts a line that is one list item (its own paragraph)
WHITESPACE = re.compile(r"[ \t\r\f\v\xa0\u2000-\u200b\u202f\u205f\u3000]+")
_EMPTY_PARENS = re.compile(r"[(（]\s*(?:[,;:、，；・/–\-]\s*)*[)）]")
_OPEN_PAREN_JUNK = re.compile(r"([(（])\s*(?:[,;、，；]\s*)+")
_CLOSE_PAREN_JUNK = re.compile(r"(?:\s*[,;、，；])+\s*([)）])")
_SPACE_BEFORE = re.compile(r"\s+([,.)\]、。，．）])")
_SPACE_BEFORE_STRONG = re.compile(r"\s+([;:!?；：！？])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[（])\s+")
_DOUBLE_COMMA = re.compile(r",(?:\s*,)+")
_COMMA_BEFORE_STOP = re.compile(r"[,;]\s*([.。])")


def _tidy(paragraph: str, language: str) -> str:
    """Removes residue left where markup was removed from one paragraph."""
    text = WHITESPACE.sub(" ", paragraph).strip()
    if not text:
        return ""
    if "(" in text or "（" in text:
        for _ in range(3):
            before = text
            text = _OPEN_PAREN_JUNK.sub(r"\1", text)
            text = _CLOSE_PAREN_JUNK.sub(r"\1", text)
            text = _EMPTY_PARENS.sub("", text)
            if text == before:
                break
    text = _SPACE_BEFORE.sub(r"\1", text)
    if not language.startswith("fr"):  # French puts a space before ; : ! ?
        text = _SPACE_BEFORE_STRONG.sub(r"\1", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    text = _DOUBLE_COMMA.sub(",", text)
    text = _COMMA_BEFORE_STOP.sub(r"\1", text)
    text = WHITESPACE.sub(" ", text).strip()
    text = text.lstrip(",;:、，").strip()
    if not any(ch.isalnum() for ch in text):
        return ""  # only punctuation left
    return text


def assemble_paragraphs(rendered: str, language: str) -> str:
    """Rendered text -> paragraphs: blank lines separate paragraphs, a list
    line is a paragraph of its own, other lines of a paragraph are joined."""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            text = _tidy(" ".join(current), language)
            if text:
                paragraphs.append(text)
            current.clear()

    for line in rendered.split("\n"):
        if line.startswith(LIST_ITEM):
            flush()
            text = _tidy(line.replace(LIST_ITEM, " "), language)
            if text:
                paragraphs.append(text)
        elif not line.strip():
            flush()
        else:
            current.append(line)
    flush()
    return "\n\n".join(paragraphs)
