"""spaCy's rule-based sentencizer, computed from the tokens of only the words that can move a boundary.

The sentencizer (spacy/pipeline/sentencizer.pyx) walks every token: a token
whose text is one of its `punct_chars` ("." "!" "?" "。" ...) arms it, and the
next token that is neither one of those nor all punctuation (`is_punct`:
every character of Unicode category P) starts a sentence. Tokenizing every
word of a text to find those few tokens is most of what segmentation costs
(a Doc with a lexeme per token), while the answer only depends on:

* the words (space-separated) that hold a `punct_chars` character, and
* after one of them, the words up to the first token that is not punctuation.

spaCy's tokenizer splits text at spaces first and tokenizes each word on its
own (prefixes, suffixes, infixes and special cases never cross a space), so
a word's tokens are the same alone as in its sentence; a word without any
punctuation character cannot hold a `punct_chars` token nor an all-punctuation
one, so it acts as one ordinary token. This module therefore tokenizes only
words with punctuation, with the pipeline's own tokenizer and a cache of
words, and applies the sentencizer's rule to them: the same sentences as the
whole pipeline (checked against it on every sample text by
tests/pipelines/corpus/test_sentence_starts.py), 3-4x faster.

It applies to text whose only whitespace is single spaces after words
(paragraphs after `normalize_text`) and whose words are short (not unspaced
Chinese or Japanese); elsewhere the caller runs the pipeline.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vocab.unicode_classes import BmpFastPattern, category_ranges, class_body

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["SentenceStarts"]

# Whitespace other than single spaces after words: spaCy makes tokens of it.
_IRREGULAR_SPACE = re.compile(r"[^\S ]|  |^ ")
# A longer word with punctuation (unspaced Chinese or Japanese, a URL) sends its text to the pipeline, which
# walks long token lists faster than Python does.
LONG_WORD = 100
_PUNCTUATION_RANGES = category_ranges(("P",))
_PUNCTUATION = BmpFastPattern(lambda below: f"[{class_body(_PUNCTUATION_RANGES, below)}]")
# Words tokenized and kept per pipeline; at the limit the cache starts over (memory stays bounded on any input).
CACHE_WORDS = 200_000

# One token of a word: (offset in the word, text is a sentencizer punct char, all of it is punctuation).
_Token = tuple[int, bool, bool]
_ORDINARY_WORD: tuple[_Token, ...] = ((0, False, False),)


class SentenceStarts:
    """The sentence spans the rule-based sentencizer of `nlp` finds, for texts spaced by single spaces."""

    def __init__(self, nlp: Language) -> None:
        self._tokenizer = nlp.tokenizer
        self._punct_chars = frozenset(nlp.get_pipe("sentencizer").punct_chars)
        self._ends = re.compile("[" + "".join(map(re.escape, sorted(self._punct_chars))) + "]")
        self._words: dict[str, tuple[_Token, ...]] = {}

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        """(start, end) character offsets of each sentence of `text`, as `doc.sents` gives them; None where
        `text` holds whitespace other than single spaces after words or a long word with punctuation (the caller
        then runs the pipeline)."""
        if not text or _IRREGULAR_SPACE.search(text):
            return None
        starts = [0]
        length = len(text)
        walked = 0  # the words before this offset are done
        for end_char in self._ends.finditer(text):
            if end_char.start() < walked:
                continue
            # Nothing between a word with a punct char and the next such word can start a sentence, unless the
            # rule is still armed after it: then the next words are walked until it is not.
            word_start = text.rfind(" ", 0, end_char.start()) + 1
            armed = False
            while word_start < length:
                word_end = text.find(" ", word_start)
                if word_end < 0:
                    word_end = length
                tokens = self._tokens(text[word_start:word_end])
                if tokens is None:
                    return None
                for offset, ends, punctuation in tokens:
                    if armed and not punctuation and not ends:
                        starts.append(word_start + offset)
                        armed = False
                    elif ends:
                        armed = True
                word_start = word_end + 1
                if not armed:
                    break
            walked = word_start
        return [(start, _rstrip_end(text, start, end)) for start, end in zip(starts, [*starts[1:], length])]

    def _tokens(self, word: str) -> tuple[_Token, ...] | None:
        if word.isalnum():  # letters and digits only (no category P), the common case after a sentence end
            return _ORDINARY_WORD
        tokens = self._words.get(word)
        if tokens is None:
            if not _PUNCTUATION.on(word).search(word):
                return _ORDINARY_WORD
            if len(word) > LONG_WORD:
                return None
            if len(self._words) >= CACHE_WORDS:
                self._words.clear()
            punct_chars = self._punct_chars
            tokens = self._words[word] = tuple(
                (token.idx, token.text in punct_chars, token.is_punct) for token in self._tokenizer(word))
        return tokens


def _rstrip_end(text: str, start: int, end: int) -> int:
    """`end` moved back over the spaces before it: a sentence ends where its last token does."""
    while end > start and text[end - 1] == " ":
        end -= 1
    return end
