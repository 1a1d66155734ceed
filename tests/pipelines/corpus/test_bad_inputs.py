"""`bertprep corpus` on damaged and awkward inputs, on a real DirectRunner:
nothing is lost without a counted, recorded reason."""
from __future__ import annotations

import bz2
import json
import pathlib
import shutil

import pyarrow.parquet as pq

from pipelines.cli import main as cli
from pipelines.corpus import stats
from tests.support.wiki_fixtures import DATA, damage_block, sample_xml

GUTENBERG = DATA / "gutenberg"

ENWIKI_40 = sample_xml("enwiki-pages-articles1-excerpt-40pages.xml.bz2")  # Anarchism, Autism, Albedo + 37 redirects


def run(tmp_path: pathlib.Path, *inputs: str) -> tuple[pathlib.Path, dict]:
    out = tmp_path / "out"
    arguments = [part for name in inputs for part in ("--input", name)]
    assert cli.main(["corpus", *arguments, "--output", str(out)]) == 0
    summary = json.loads((out / "stats.json").read_text())
    assert stats.reconciles(summary)
    return out, summary


def errors(out: pathlib.Path) -> list[dict]:
    return [json.loads(line) for path in sorted(out.glob("errors-*.jsonl")) for line in path.read_text().splitlines()]


def titles(out: pathlib.Path) -> list[str]:
    return sorted(row["title"] for path in out.glob("documents-*.parquet") for row in pq.read_table(path).to_pylist())


def test_dump_with_a_damaged_bzip2_block(tmp_path):
    data, at = damage_block(bz2.compress(ENWIKI_40, 1), 2)  # 5 blocks of 100 kB; the 3rd is inside "Autism"
    dump = tmp_path / "enwiki-20240101-pages-articles.xml.bz2"
    dump.write_bytes(data)
    out, summary = run(tmp_path, str(dump))
    # 39 of the 40 pages are read (before: 6, everything after the damage was lost).
    assert titles(out) == ["Albedo", "Anarchism"] and summary["dropped"] == {"redirect": 37}
    assert summary["error_reasons"] == {"truncated_page": 1, "corrupt_compressed_data": 1, "partial_page": 1}
    [gap] = [e for e in errors(out) if e["reason"] == "corrupt_compressed_data"]
    assert gap["source"] == str(dump)
    offset = int(gap["record"].removeprefix("compressed byte "))
    skipped = int(gap["detail"].split("skipped ")[1].split()[0])
    assert offset <= at < offset + skipped < len(data)
    cut = next(e for e in errors(out) if e["reason"] == "truncated_page")
    assert cut["record"] == "Autism"


def test_cut_off_dump(tmp_path):
    data = bz2.compress(ENWIKI_40, 1)
    dump = tmp_path / "enwiki-20240101-pages-articles.xml.bz2"
    dump.write_bytes(data[: len(data) * 6 // 10])
    out, summary = run(tmp_path, str(dump))
    assert titles(out) == ["Anarchism"]
    assert summary["read"] == 11 + 2  # the pages of the complete blocks, and two errors
    assert summary["error_reasons"] == {"truncated_page": 1, "truncated_compressed_data": 1}
    [gap] = [e for e in errors(out) if e["reason"] == "truncated_compressed_data"]
    offset = int(gap["record"].removeprefix("compressed byte "))
    assert f"the last {len(data) * 6 // 10 - offset} compressed bytes" in gap["detail"]


def _with_stray_bytes(data: bytes, count: int) -> bytes:
    """`data` with `count` cp1252 curly quotes (invalid UTF-8) put between ASCII characters."""
    damaged = bytearray(data)
    for k in range(count, 0, -1):
        at = len(data) * k // (count + 1)
        while damaged[at] >= 0x80:
            at += 1
        damaged[at:at] = b"\x93"
    return bytes(damaged)


def test_folder_of_books_with_invalid_utf8_and_a_latin1_book(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    pride = (GUTENBERG / "pg1342-pride-and-prejudice-2025header-excerpt.txt").read_bytes()
    (books / "pg1342.txt").write_bytes(_with_stray_bytes(pride, 20))
    shutil.copy(GUTENBERG / "pg24675-8-ontboezemingen-dutch-latin1-excerpt.txt", books)
    (books / ".partial.txt").write_text("a hidden file is not read")
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(
        json.dumps({"text": "Caf\u00e9 \u201cnoir\u201d, caf\u00e9 cr\u00e8me. " * 8}, ensure_ascii=False).encode().replace(b"noir", b"n\xffoir", 1)
        + b"\n"
    )
    out, summary = run(tmp_path, str(books), f"jsonl:{rows}")
    assert summary["inputs"][str(books)]["kept"] == 2
    assert summary["inputs"][str(books)]["repaired"] == {"invalid_utf8_bytes": 20}
    assert summary["inputs"][f"jsonl:{rows}"] == {**summary["inputs"][f"jsonl:{rows}"], "kept": 1, "repaired": {"invalid_utf8_bytes": 1}}
    assert summary["repaired"] == {"invalid_utf8_bytes": 21} and summary["errors"] == 0
    sentences = {row["id"]: " ".join(row["sentences"]) for path in out.glob("documents-*.parquet") for row in pq.read_table(path).to_pylist()}
    assert "\u2019" in sentences["gutenberg:pg1342"] and "\u00e2\u20ac" not in sentences["gutenberg:pg1342"]  # no mojibake
    assert "GABRIËL" in sentences["gutenberg:pg24675-8-ontboezemingen-dutch-latin1-excerpt"]
    assert "Café “noir”, café crème." in sentences["rows:1"]


def test_one_line_text_is_cut_and_a_huge_jsonl_line_is_a_counted_error(tmp_path):
    words = " ".join((GUTENBERG / "pg1342-pride-and-prejudice-2025header-excerpt.txt").read_text("utf-8").split())
    one_line = tmp_path / "one-line.txt"
    one_line.write_text(words * 5)  # 280 kB without a line break
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"text": words[:5000]}) + "\n" + json.dumps({"text": words * 5}) + "\n")
    out = tmp_path / "out"
    arguments = ["corpus", "--input", f"text:{one_line}", "--input", f"jsonl:{rows}", "--output", str(out),
                 "--max_page_bytes", "100000", "--no_dedup"]
    assert cli.main(arguments) == 0
    summary = json.loads((out / "stats.json").read_text())
    text = summary["inputs"][f"text:{one_line}"]
    assert text["kept"] == 3 and text["repaired"] == {"oversized_documents_split": 1}
    assert text["characters"] > 0.95 * len(words) * 5  # every piece kept (sentences lose only spaces)
    assert summary["inputs"][f"jsonl:{rows}"]["kept"] == 1
    [error] = errors(out)
    assert (error["reason"], error["record"]) == ("record_too_large", "line 2")
