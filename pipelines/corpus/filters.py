"""Document quality filters: cheap text statistics that reject junk.

Each check returns None (keep) or a drop reason. The reasons are stats keys
(`stats.json`, Beam counters), so they are module constants and the full
sets are exported for reconciling counts.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from vocab.unicode_classes import BmpFastPattern, category_ranges, class_body

__all__ = [
    "QualityThresholds",
    "count_words",
    "text_drop_reason",
    "sentences_drop_reason",
    "EMPTY",
    "TOO_SHORT",
    "TOO_MANY_NON_LETTERS",
    "BAD_WORD_LENGTH",
    "TOO_FEW_SENTENCES",
    "TEXT_DROP_REASONS",
    "SENTENCE_DROP_REASONS",
]

EMPTY = "empty"
TOO_SHORT = "too_short"
TOO_MANY_NON_LETTERS = "too_many_non_letters"
BAD_WORD_LENGTH = "bad_word_length"
TOO_FEW_SENTENCES = "too_few_sentences"

TEXT_DROP_REASONS: tuple[str, ...] = (EMPTY, TOO_SHORT, TOO_MANY_NON_LETTERS, BAD_WORD_LENGTH)
SENTENCE_DROP_REASONS: tuple[str, ...] = (TOO_FEW_SENTENCES,)


@dataclasses.dataclass(frozen=True)
class QualityThresholds:
    min_words: int = 20  # words in the whole document
    min_sentences: int = 2  # after segmentation
    max_non_letter_ratio: float = 0.5  # share of non-space characters that are not letters
    # Mean word length bounds, checked for space-delimited scripts only.
    min_mean_word_length: float = 2.0
    max_mean_word_length: float = 15.0

    def __post_init__(self) -> None:
        # Fail at construction (on the launcher), not deep inside a worker.
        if self.min_words < 0 or self.min_sentences < 0:
            raise ValueError("min_words and min_sentences must be >= 0")
        if not 0.0 <= self.max_non_letter_ratio <= 1.0:
            raise ValueError(
                f"max_non_letter_ratio must be between 0 and 1, got {self.max_non_letter_ratio}"
            )
        if not 0.0 <= self.min_mean_word_length <= self.max_mean_word_length:
            raise ValueError(
                "need 0 <= min_mean_word_length <= max_mean_word_length, got "
                f"{self.min_mean_word_length} and {self.max_mean_word_length}"
            )


# Scripts written without spaces between words: Han, kana, Thai, Lao,
# Myanmar, Khmer. Each of their letters counts as one word, since there is
# no delimiter to count by and a segmenter would be far too slow here.
_NO_SPACE_BLOCKS = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK ext. A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x1B000, 0x1B16F),  # Kana supplement / extended
    (0x20000, 0x3134F),  # CJK ext. B-G
)
_NO_SPACE_LETTERS = category_ranges(("L",), within=_NO_SPACE_BLOCKS)
_NO_SPACE_LETTER = BmpFastPattern(lambda below: f"[{class_body(_NO_SPACE_LETTERS, below)}]+")
# A word in a space-delimited script: a run of anything that is not space,
# punctuation, symbol, control or a no-space-script character (so digits and
# combining marks, e.g. Devanagari vowel signs, stay inside the word). An
# apostrophe between letters stays too: "don't" is one word, not "don" + "t".
_WORD_SEPARATORS = category_ranges(("Z", "P", "S", "C"), add=_NO_SPACE_BLOCKS)


def _word_pattern(below: int) -> str:
    char = f"[^{class_body(_WORD_SEPARATORS, below)}]"
    return f"{char}+(?:['\u2019]{char}+)*"


_WORD = BmpFastPattern(_word_pattern)
# Letters in the broad sense: combining marks are part of the letters of
# Indic, Arabic, Hebrew ... text and must not count as "non-letters".
_LETTER_RANGES = category_ranges(("L", "M"))
_LETTERS = BmpFastPattern(lambda below: f"[{class_body(_LETTER_RANGES, below)}]+")
_WHITESPACE = re.compile(r"\s+")


def _no_space_letters(text: str) -> int:
    return len(text) - len(_NO_SPACE_LETTER.on(text).sub("", text))


def count_words(text: str) -> int:
    """Words in `text`: runs between spaces/punctuation, plus one per Han,
    kana, Thai (Lao, Myanmar, Khmer) letter."""
    return len(_WORD.on(text).findall(text)) + _no_space_letters(text)


def text_drop_reason(text: str, thresholds: QualityThresholds) -> str | None:
    """Why `text` (a whole document) should be dropped, or None to keep it."""
    non_space = len(_WHITESPACE.sub("", text))
    if non_space == 0:
        return EMPTY
    words = _WORD.on(text).findall(text)
    no_space_letters = _no_space_letters(text)
    if len(words) + no_space_letters < thresholds.min_words:
        return TOO_SHORT
    letters = len(text) - len(_LETTERS.on(text).sub("", text))
    if (non_space - letters) / non_space > thresholds.max_non_letter_ratio:
        return TOO_MANY_NON_LETTERS
    # Word length only means something where spaces delimit words; in
    # CJK/Thai-dominant text the "words" are whole phrases.
    if words and no_space_letters * 2 < letters:
        mean_length = sum(map(len, words)) / len(words)
        if not thresholds.min_mean_word_length <= mean_length <= thresholds.max_mean_word_length:
            return BAD_WORD_LENGTH
    return None


def sentences_drop_reason(
    sentences: Sequence[str], thresholds: QualityThresholds
) -> str | None:
    """Why a segmented document should be dropped, or None to keep it."""
    if sum(1 for s in sentences if s.strip()) < thresholds.min_sentences:
        return TOO_FEW_SENTENCES
    return None
