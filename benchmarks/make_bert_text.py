"""The benchmarks' reference-format input (a sentence per line, a blank line between documents) from books.

    python benchmarks/make_bert_text.py OUT.txt BOOK.txt...

Deliberately crude and independent of bertprep's own readers, so that both sides of a comparison read
the same text: the body is cut at the `*** START OF` / `*** END OF` markers, paragraphs of over 40
characters are kept, every 50 of them make a document, split into sentences by spaCy's sentencizer.
The figures in RESULTS.md come from this exact output; keep it byte-identical.
"""
import re
import sys
from collections.abc import Iterator

PARAGRAPHS_PER_DOCUMENT = 50
# The eight English books of benchmarks/data/gutenberg that make the 4.8 MB benchmark input.
BENCHMARK_BOOKS = [
    "pg2701-moby-dick-2008.txt", "pg1342-pride-and-prejudice-2025header.txt", "pg345-dracula-2025header.txt",
    "pg1661-adventures-of-sherlock-holmes-2012.txt", "pg84-frankenstein-2025header.txt",
    "pg64317-great-gatsby-2025header.txt", "pg10076-listers-great-adventure.txt",
    "pg3261-news-from-nowhere-2015header.txt",
]


def documents(books: list[str]) -> Iterator[list[str]]:
    """The sentences of every document of the books, in order."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 10**8
    for path in books:
        with open(path, encoding="utf-8", errors="replace") as handle:
            raw = handle.read()
        start, end = re.search(r"\*\*\* ?START OF.*?\*\*\*", raw, re.S), re.search(r"\*\*\* ?END OF", raw)
        body = raw[start.end() if start else 0: end.start() if end else len(raw)]
        paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", body)]
        paragraphs = [p for p in paragraphs if len(p) > 40]
        for first in range(0, len(paragraphs), PARAGRAPHS_PER_DOCUMENT):
            sentences = [s.text.strip() for s in nlp(" ".join(paragraphs[first:first + PARAGRAPHS_PER_DOCUMENT])).sents
                         if s.text.strip()]
            if len(sentences) >= 2:
                yield sentences


if __name__ == "__main__":
    with open(sys.argv[1], "w") as out:
        for sentences in documents(sys.argv[2:]):
            out.write("\n".join(sentences) + "\n\n")
