"""SentenceStarts gives the sentence spans of spaCy's whole blank pipeline with its sentencizer."""
import bz2
import glob
import itertools
from pathlib import Path

import pytest

from pipelines.corpus.normalization import normalize_text
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump
from pipelines.corpus.readers.wikipedia_pages import page_drop_reason
from pipelines.corpus.segmentation import _PARAGRAPH_BREAK, _blank_pipeline, cut_text, spacy_language
from pipelines.corpus.sentence_starts import LONG_WORD, SentenceStarts
from pipelines.corpus.wikitext.cleaners import make_cleaner

DATA = Path(__file__).resolve().parents[2] / "data"

# Words whose tokens decide boundaries in every way the sentencizer knows: abbreviations the tokenizer keeps
# whole, ellipses, runs of terminators, quotes and brackets after them, emoticons and other special cases,
# numbers, URLs, full-width and other scripts' terminators, punctuation inside words.
TRICKY = [
    'He said "Stop." Then he left. (It was late.) [Really?] "Yes!" she said.',
    "Mr. Smith met Dr. Jones at 3 p.m. in the U.S. yesterday. e.g. this one. i.e. that one.",
    "Wait... what?! No!!! Really?!? Fine.. ok . . . done ...",
    "Prices rose 3.5% to $4.20. The index was 1.000,5 on 1.1.2020. v1.2.3 shipped.",
    "See https://example.org/a.b?c=d. Mail me@example.com. Then :) or :-( and :P. Done.",
    "It ended.\u201d He smiled.\u2019 Next.\u00bb \u00abGo.\u00bb Fin.",
    "\u00bfQu\u00e9? \u00a1Vamos! Bien. \u0645\u0631\u062d\u0628\u0627\u061f \u0646\u0639\u0645. \u0939\u093e\u0901\u0964 \u0928\u0939\u0940\u0902\u0965 end.",
    "\u3053\u308c\u306f\u30da\u30f3\u3067\u3059\u3002\u305d\u3046\u3067\u3059\u304b\uff1f Yes\uff01 ok\uff0e\u300c\u306f\u3044\u3002\u300dand then.",
    "end.-- dash. \u2014Next. 'quoted.' \"double.\" ((nested.)) end?)] Start. ?. !. .x .",
    "word.word word!word word?word \u2026 ellipsis\u2026 Next. No. 5. St. Louis. Jan. 5.",
    "trailing space after the last word. ",
    "no sentence end and a trailing space ",
]


def _spans(nlp, text):
    return [(sentence.start_char, sentence.end_char) for sentence in nlp(text).sents]


def _check(language: str, texts) -> int:
    nlp = _blank_pipeline(spacy_language(language))
    starts = SentenceStarts(nlp)
    checked = 0
    for text in texts:
        for piece in (c for p in _PARAGRAPH_BREAK.split(text) if p.strip() for c in cut_text(p)):
            shortcut = starts.spans(piece)
            if shortcut is not None:
                assert shortcut == _spans(nlp, piece), piece[:300]
                checked += 1
    return checked


@pytest.mark.parametrize("language", ["en", "es", "fr", "xx", "ar", "uk"])
def test_tricky_texts(language):
    assert _check(language, TRICKY) == len(TRICKY)


@pytest.mark.parametrize("text", ["two  spaces. Here.", " leading space. Here.", "a line\nbreak. Here.",
                                  "a tab\there. Here.", "no\u00a0break. Here."])
def test_irregular_whitespace_is_left_to_the_pipeline(text):
    assert SentenceStarts(_blank_pipeline("en")).spans(text) is None


def test_a_long_word_with_punctuation_is_left_to_the_pipeline():
    starts = SentenceStarts(_blank_pipeline("xx"))
    long_word = "\u6587" * LONG_WORD + "\u3002" + "\u6587" * 3
    assert starts.spans(f"Short. {long_word}") is None
    # Without punctuation a long word is one ordinary token.
    assert starts.spans(f"Short. {'x' * (LONG_WORD + 1)} end.") == [(0, 6), (7, 7 + LONG_WORD + 1 + 5)]


def test_the_word_cache_is_bounded(monkeypatch):
    monkeypatch.setattr("pipelines.corpus.sentence_starts.CACHE_WORDS", 3)
    nlp = _blank_pipeline("en")
    starts = SentenceStarts(nlp)
    text = " ".join(f"w{i}." for i in range(10))
    assert starts.spans(text) == _spans(nlp, text)
    assert len(starts._words) <= 3


BOOKS = {"en": ["pg1342", "pg1661", "pg2701", "pg64317", "pg35589", "pg10026"], "es": ["pg2000"],
         "nl": ["pg24675"]}


@pytest.mark.parametrize("language", sorted(BOOKS))
def test_books(language):
    texts = []
    for prefix in BOOKS[language]:
        (path,) = glob.glob(str(DATA / "gutenberg" / f"{prefix}*.txt"))
        raw = Path(path).read_bytes()
        texts.append(normalize_text(raw.decode("latin-1" if "latin1" in path else "utf-8")))
    checked = _check(language, texts)
    assert checked > 100


def _wiki_articles(dump: Path):
    with bz2.open(dump) as stream:
        items = iter_dump(stream)
        language = next(items).language
        pages = [p for p in items if isinstance(p, WikiPage) and page_drop_reason(p) is None]
    cleaner = make_cleaner("mwparserfromhell")
    return language, [normalize_text(cleaner.clean(p.text, p.title, language)) for p in itertools.islice(pages, 15)]


@pytest.mark.parametrize("dump", sorted(p.name for p in (DATA / "wikipedia").glob("*.bz2")))
def test_wikipedia_articles(dump):
    language, texts = _wiki_articles(DATA / "wikipedia" / dump)
    assert _check(language, texts) > 0
