"""Tests for pipelines/corpus/wikitext/markup_stripping.py: the regex fallback."""
from __future__ import annotations

from pipelines.corpus.wikitext.markup_stripping import regex_strip


def test_regex_fallback_strips_markup():
    out = regex_strip("'''Foo''' is [[Bar|a bar]]{{cn}}.<ref>x</ref>\n== H ==\n* item\n"
                      "[[Category:Z]] [[File:A.jpg|thumb|cap]]")
    assert out == "Foo is a bar.\n\nitem"
