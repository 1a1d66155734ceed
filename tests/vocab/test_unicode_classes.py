"""BmpFastPattern: the BMP-only build is a speed-up that no text can observe."""
import re
import sys

import pytest

from pipelines.corpus import filters
from vocab.unicode_classes import BmpFastPattern, category_ranges, class_body

SEPARATORS = category_ranges(("Z", "P", "S", "C"))


def _not_separator(below: int) -> str:
    return f"[^{class_body(SEPARATORS, below)}]+"


WORD = BmpFastPattern(_not_separator)
WHOLE_WORD = re.compile(_not_separator(sys.maxunicode + 1))

# Every code point but the surrogates, which a str can hold but no text has.
ALL_CHARACTERS = "".join(chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF)
BMP_CHARACTERS = "".join(c for c in ALL_CHARACTERS if ord(c) < 0x10000)


def test_the_bmp_build_is_chosen_for_bmp_text_and_agrees_with_the_whole_class():
    assert WORD.on(BMP_CHARACTERS).pattern != WHOLE_WORD.pattern
    assert WORD.on(BMP_CHARACTERS).findall(BMP_CHARACTERS) == WHOLE_WORD.findall(BMP_CHARACTERS)


@pytest.mark.parametrize("astral", ["\U0001F600", "\U00020000", "\U000E0001", "\U0010FFFF"])
def test_one_astral_character_selects_the_whole_build(astral):
    text = f"word{astral}word"
    assert WORD.on(text).pattern == WHOLE_WORD.pattern
    # The BMP build's negated class would take an astral separator (an emoji, a tag) into the word.
    assert WORD.on(text).findall(text) == WHOLE_WORD.findall(text)


def test_all_of_unicode_through_the_whole_build():
    assert WORD.on(ALL_CHARACTERS).findall(ALL_CHARACTERS) == WHOLE_WORD.findall(ALL_CHARACTERS)


def test_the_filters_count_astral_letters_and_separators():
    # U+20000 is a Han letter of the no-space scripts: one word each; U+1F600 (an emoji) separates words.
    assert filters.count_words("alpha\U0001F600beta") == 2
    assert filters.count_words("\U00020000\U00020001 word") == 3
    # U+1D400 (mathematical bold A) is a letter; U+1F600 is not.
    long_words = " ".join(["\U0001D400bcdef"] * 30)
    assert filters.text_drop_reason(long_words, filters.QualityThresholds()) is None
    emoji = " ".join(["\U0001F600\U0001F600\U0001F600a"] * 30)
    assert filters.text_drop_reason(emoji, filters.QualityThresholds()) == filters.TOO_MANY_NON_LETTERS
