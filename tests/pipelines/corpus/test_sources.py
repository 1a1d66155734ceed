"""The readers on real text: invalid UTF-8, over-long lines and documents."""
from __future__ import annotations

import io
import json

import pytest

from pipelines.corpus import sources
from pipelines.corpus.documents import INVALID_UTF8_BYTES, REPAIRED, SPLIT_DOCUMENTS, Document, ErrorRecord, Outcome
from pipelines.corpus.inputs import InputFile
from pipelines.corpus.sources import ReadOptions, read_file
from tests.support.wiki_fixtures import DATA

BOOK = (DATA / "gutenberg" / "pg1342-pride-and-prejudice-2025header-excerpt.txt").read_text("utf-8")


def read(path, fmt: str, **options) -> list:
    item = InputFile(f"{fmt}:{path}", fmt, str(path), path.stat().st_size)
    return list(read_file(item, ReadOptions(**options)))


def of_type(records: list, kind: type) -> list:
    return [r for r in records if isinstance(r, kind)]


@pytest.mark.parametrize("chunk", [7, 1 << 20])  # lines across many read chunks, and within one
def test_lines_are_split_in_bounded_pieces(chunk):
    data = b"short\n" + b"x" * 100 + b"\n\nlast without newline"
    lines = list(sources.iter_lines(io.BytesIO(data), limit=50, chunk_bytes=chunk))
    assert lines == [(b"short", 6), (None, 101), (b"", 1), (b"last without newline", 20)]


def test_jsonl_huge_line_is_a_counted_error_and_the_rest_is_read(tmp_path):
    paragraphs = [p for p in BOOK.split("\n\n") if len(p) > 200][:3]
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"text": paragraphs[0]}) + "\n"
        + json.dumps({"text": " ".join(paragraphs) * 3000}) + "\n"  # ~3 MB on one line
        + json.dumps({"text": paragraphs[1]}) + "\n"
    )
    records = read(rows, "jsonl", max_page_bytes=1_000_000)
    assert [d.id for d in of_type(records, Document)] == ["rows:1", "rows:3"]
    [error] = of_type(records, ErrorRecord)
    huge = len(rows.read_text().splitlines()[1]) + 1
    assert (error.reason, error.record, error.detail) == ("record_too_large", "line 2", f"{huge} bytes")


def test_jsonl_line_with_invalid_utf8_is_kept_and_counted(tmp_path):
    rows = tmp_path / "rows.jsonl"
    good = json.dumps({"id": "p", "text": "“Mr. Bennet,” said she. " * 3}, ensure_ascii=False).encode()
    rows.write_bytes(good + b"\n" + good.replace(b"Bennet", b"Ben\xffnet\xfe", 1).replace(b'"p"', b'"q"') + b"\n")
    records = read(rows, "jsonl")
    docs = of_type(records, Document)
    assert [d.id for d in docs] == ["p", "q"] and "“Mr. Ben\ufffdnet\ufffd,” said she." in docs[1].text
    assert of_type(records, Outcome) == [Outcome(f"jsonl:{rows}", REPAIRED, INVALID_UTF8_BYTES, count=2)]


def test_long_text_is_cut_into_bounded_documents(tmp_path):
    text = " ".join(BOOK.split()) * 4  # one line of ~250 kB
    path = tmp_path / "one-line.txt"
    path.write_text(text)
    records = read(path, "text", max_page_bytes=50_000)
    docs = of_type(records, Document)
    assert len(docs) == 5 and all(len(d.text) <= 50_000 for d in docs)
    assert "".join(d.text for d in docs) == text  # nothing lost: cut at spaces
    assert all(d.text.endswith(" ") for d in docs[:-1])
    assert [d.id for d in docs] == [f"one-line:0#{n}" for n in range(1, 6)]
    assert of_type(records, Outcome) == [Outcome(f"text:{path}", REPAIRED, SPLIT_DOCUMENTS)]
    # Under the limit it stays one document.
    assert [d.id for d in of_type(read(path, "text"), Document)] == ["one-line:0"]


def test_a_book_is_read_normalized_and_its_cut_pieces_are_plain_again(tmp_path):
    from pipelines.corpus.documents import NORMALIZED
    from pipelines.corpus.normalization import normalize_text

    path = tmp_path / "pg1342.txt"
    path.write_text(BOOK)
    (book,) = of_type(read(path, "gutenberg"), Document)
    # Cleaning skips normalizing it again, which is only right if the body is in normalize_text's form.
    assert book.markup == NORMALIZED and normalize_text(book.text) == book.text
    pieces = of_type(read(path, "gutenberg", max_page_bytes=20_000), Document)
    assert len(pieces) > 1 and {piece.markup for piece in pieces} == {"plain"}
    assert any(normalize_text(piece.text) != piece.text for piece in pieces)
