"""Real text for the vocabulary tests: which files of tests/data, read and tokenized as the learners see them."""
from __future__ import annotations

import os

from pipelines.corpus.readers.gutenberg import decode_book
from tests.support.paths import DATA
from vocab.tokenization import BasicTokenizer

ENGLISH = [
    "gutenberg/pg1342-pride-and-prejudice-2025header-excerpt.txt",
    "gutenberg/pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt",
    "gutenberg/pg2701-moby-dick-2008-excerpt.txt",
    "gutenberg/pg10026-mirror-of-literature-vol10.txt",
    "gutenberg/pg10089-elves-and-heroes.txt",
    "gutenberg/pg35589-story-of-my-life-vols1-3-excerpt.txt",
    "wikitext/enwiki-Andorra.wiki",
    "wikitext/enwiki-Albedo.wiki",
]
ENGLISH_HELDOUT = [
    "gutenberg/pg64317-great-gatsby-2025header-excerpt.txt",
    "wikitext/enwiki-Aardwolf.wiki",
]
# Every script in tests/data: Latin with accents, Han, kana, Thai, Arabic, Cyrillic.
MULTILINGUAL = sorted(
    f"{folder}/{name}"
    for folder in ("gutenberg", "wikitext")
    for name in os.listdir(DATA / folder)
    if name.endswith((".txt", ".wiki")) and name != "SOURCES.md"
)
BERT_LAYOUT = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def basic_tokenize(text: str, do_lower_case: bool = True) -> list[str]:
    return BasicTokenizer(do_lower_case=do_lower_case).tokenize(text)


def read_text(relative: str) -> str:
    with open(DATA / relative, "rb") as handle:
        data = handle.read()
    return decode_book(data) if relative.startswith("gutenberg/") else data.decode("utf-8")
