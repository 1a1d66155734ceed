"""Unicode and whitespace normalization of document text.

`normalize_text` is the one canonical form every later step (filters,
dedup, segmentation) sees: NFC, no invisible control/format characters,
single spaces, paragraphs separated by exactly one blank line. Everything
is done with compiled regexes over the whole text, so the cost is a few
C-level passes, never a Python loop per character.
"""
from __future__ import annotations

import re
import unicodedata

from vocab.unicode_classes import char_class, unicode_char_class

__all__ = ["normalize_text", "split_paragraphs", "CJK_CHARS"]


# Scripts written without spaces between words, where a line break inside a
# paragraph is an artefact of wrapping and must vanish rather than become a
# space. Hangul is deliberately NOT here: modern Korean separates words with
# spaces, so a wrapped Korean line break stands for a space.
_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x2FF0, 0x2FFF),  # ideographic description characters
    (0x3001, 0x303F),  # CJK symbols and punctuation (U+3000 is a space, handled as one)
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3190, 0x31FF),  # Kanbun, Bopomofo ext., CJK strokes, Katakana ext.
    (0x3200, 0x33FF),  # enclosed CJK letters, CJK compatibility
    (0x3400, 0x4DBF),  # CJK ext. A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE10, 0xFE1F),  # vertical forms
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms (incl. ！？，：)
    (0x1B000, 0x1B16F),  # Kana supplement / extended
    (0x20000, 0x3134F),  # CJK ext. B-G, compatibility supplement
)
CJK_CHARS = char_class(_CJK_RANGES)

# Line and paragraph separators other than "\n" become line breaks, so that
# removing controls below never glues two lines together. Lone CR (old Mac
# files) is a line break too; CRLF is one break.
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x85\u2028]")
_PARAGRAPH_SEPARATOR = "\u2029"

# Invisible characters: controls (Cc), format (Cf), private use (Co), lone
# surrogates (Cs) and the replacement character U+FFFD left by bad decoding.
# Kept: "\n" (structure), "\t" (turned into a space below), and ZWNJ/ZWJ
# (U+200C/U+200D): in Persian, Urdu and Indic scripts they select letter
# forms and conjuncts, so dropping them changes the spelling of words (e.g.
# Persian "می‌خواهم" would merge into a different written word).
_INVISIBLE = re.compile(
    unicode_char_class(("Cc", "Cf", "Co", "Cs"), add=[(0xFFFD, 0xFFFD)], exclude="\n\t\u200c\u200d")
    + "+"
)
# ...but a joiner next to whitespace or at the text's edge joins nothing.
_LOOSE_JOINERS = re.compile(r"(?:(?<=\s)|^)[\u200c\u200d]+|[\u200c\u200d]+(?=\s|$)")
# Tabs and every Unicode space separator (NBSP, U+3000, thin spaces ...).
# The pattern skips lone plain spaces, the common case, so that they are
# not needlessly replaced by themselves.
_SPACE_CLASS = unicode_char_class(("Zs",), add=[(0x09, 0x09)])
_OTHER_SPACE_CLASS = unicode_char_class(("Zs",), add=[(0x09, 0x09)], exclude=" ")
_SPACES = re.compile(f" {_SPACE_CLASS}+|{_OTHER_SPACE_CLASS}{_SPACE_CLASS}*")
_LINE_EDGES = re.compile(" \n ?|\n ")
_PUNCT = unicode_char_class(("P",))
# A single line break between CJK characters (or CJK and punctuation, as
# in "。\n”" from wrapped Chinese books) is dropped without a space.
# (The pattern starts with the literal "\n" so the regex engine can skip to
# line breaks instead of trying the lookbehind at every position.)
_CJK_LINE_JOIN = re.compile(
    f"\n(?:(?<={CJK_CHARS}\n)(?={CJK_CHARS}|{_PUNCT})|(?<={_PUNCT}\n)(?={CJK_CHARS}))"
)
_SINGLE_NEWLINE = re.compile("(?<!\n)\n(?!\n)")
_BLANK_LINES = re.compile("\n{3,}")


def normalize_text(text: str) -> str:
    """Canonical form of `text`: NFC, no invisible characters, single spaces,
    lines inside a paragraph joined, paragraphs separated by one blank line.

    Idempotent: normalizing normalized text returns it unchanged.
    """
    text = _LINE_BREAK.sub("\n", text).replace(_PARAGRAPH_SEPARATOR, "\n\n")
    # Drop invisibles before NFC so a removed soft hyphen or BOM between a
    # letter and its combining mark does not block composition.
    text = _INVISIBLE.sub("", text)
    if "\u200c" in text or "\u200d" in text:  # rare outside a few scripts
        text = _LOOSE_JOINERS.sub("", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_EDGES.sub("\n", text)  # strip every line
    text = _CJK_LINE_JOIN.sub("", text)
    text = _SINGLE_NEWLINE.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def split_paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of `text` after `normalize_text`.

    Normalizing is idempotent, so already-normalized text may be passed.
    """
    return [p for p in normalize_text(text).split("\n\n") if p]
