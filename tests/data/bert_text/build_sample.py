"""Rebuilds books-en.txt (see SOURCES.md): python tests/data/bert_text/build_sample.py"""
from pathlib import Path

from pipelines.gutenberg import parse_book
from pipelines.segmentation import SentenceSegmenter
from pipelines.text_normalization import split_paragraphs

BOOKS = ["pg1342-pride-and-prejudice-2025header-excerpt.txt", "pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt",
         "pg2701-moby-dick-2008-excerpt.txt", "pg64317-great-gatsby-2025header-excerpt.txt",
         "pg3261-news-from-nowhere-2015header-excerpt.txt", "pg35589-story-of-my-life-vols1-3-excerpt.txt"]
PARAGRAPHS_PER_DOCUMENT = 6

here = Path(__file__).parent
segmenter = SentenceSegmenter(None)
documents = []
for name in BOOKS:
    paragraphs = split_paragraphs(parse_book((here.parent / "gutenberg" / name).read_bytes()).body)
    for start in range(0, len(paragraphs), PARAGRAPHS_PER_DOCUMENT):
        block = "\n\n".join(paragraphs[start:start + PARAGRAPHS_PER_DOCUMENT])
        documents.append("\n".join(segmenter.segment("en", block)))
(here / "books-en.txt").write_text("\n\n".join(documents) + "\n", encoding="utf-8")
