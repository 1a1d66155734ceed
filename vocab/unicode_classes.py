"""Regex character classes from Unicode general categories (Python's `re` has no \\p{...}).

The categories come from one scan of every code point with the running
interpreter's `unicodedata`, so the classes follow its Unicode version
instead of hard-coded ranges that go stale. The scan is shared by the
tokenizer and the text normalizer and cached per process: every Beam worker
pays for it once (~0.3 s).
"""
from __future__ import annotations

import functools
import itertools
import operator
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable

Ranges = list[tuple[int, int]]  # inclusive (first, last) code points


@functools.cache
def category_runs() -> tuple[tuple[int, int, str], ...]:
    """Runs of consecutive code points sharing a general category, covering all of Unicode."""
    # map() and compress() keep the 1.1M lookups and comparisons in C: ~5x faster than a Python loop.
    categories = list(map(unicodedata.category, map(chr, range(sys.maxunicode + 1))))
    changes = itertools.compress(range(1, len(categories)), map(operator.ne, categories, categories[1:]))
    starts = [0, *changes]
    ends = [*(start - 1 for start in starts[1:]), sys.maxunicode]
    runs = [(start, end, categories[start]) for start, end in zip(starts, ends)]
    return tuple(runs)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted ranges with overlapping and adjacent ones joined."""
    merged: Ranges = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


def category_ranges(
    categories: Iterable[str] = (),
    *,
    within: Iterable[tuple[int, int]] | None = None,
    add: Iterable[tuple[int, int]] = (),
    exclude: str = "",
) -> Ranges:
    """Code point ranges of the general categories starting with any of `categories`
    ("L" = all letters, "Cc" = controls), cut to `within`, plus `add`, minus the characters of `exclude`."""
    prefixes = tuple(categories)
    ranges = [(a, b) for a, b, category in category_runs() if prefixes and category.startswith(prefixes)]
    if within is not None:
        bounds = list(within)
        ranges = [(max(a, lo), min(b, hi)) for a, b in ranges for lo, hi in bounds if a <= hi and lo <= b]
    ranges = merge_ranges([*ranges, *add])
    for cp in sorted({ord(c) for c in exclude}):
        ranges = [piece for a, b in ranges
                  for piece in (((a, cp - 1), (cp + 1, b)) if a <= cp <= b else ((a, b),)) if piece[0] <= piece[1]]
    return ranges


def class_body(ranges: Iterable[tuple[int, int]], below: int = sys.maxunicode + 1) -> str:
    """The inside of a regex character class (no brackets) for the ranges' code points under `below`."""
    parts = []
    for first, last in ranges:
        last = min(last, below - 1)
        if first <= last:
            parts.append(f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}")
    return "".join(parts)


def char_class(ranges: Iterable[tuple[int, int]]) -> str:
    """A regex character class, with brackets."""
    return f"[{class_body(ranges)}]"


def unicode_char_class(categories: Iterable[str] = (), **options) -> str:
    """char_class(category_ranges(categories, **options))."""
    return char_class(category_ranges(categories, **options))


BMP_END = 0x10000
_ASTRAL = re.compile("[\\U00010000-\\U0010ffff]")


class BmpFastPattern:
    """A regex built twice from a template of character classes: once with only their BMP code points, once whole.

    sre tests a class's BMP part with one bitmap lookup but every astral range one by one, and the category
    classes hold hundreds of astral ranges (unassigned code points are category Cn), so a class like "not
    punctuation, symbol or space" is 10x slower whole. Text without astral characters, nearly all text, cannot
    tell the two builds apart: a class's astral part never matches it, in a negated class or not. The whole
    build is compiled on the first text that needs it (compiling these classes is itself slow).

    `build(below)` returns the pattern with its classes cut to code points under `below` (see `class_body`).
    """

    def __init__(self, build: Callable[[int], str]) -> None:
        self._build = build
        self._bmp = re.compile(build(BMP_END))
        self._full: re.Pattern | None = None

    def on(self, text: str) -> re.Pattern:
        """The build to use on `text`."""
        if not _ASTRAL.search(text):
            return self._bmp
        if self._full is None:
            self._full = re.compile(self._build(sys.maxunicode + 1))
        return self._full
