"""The corpus stage end to end on a real DirectRunner, with the real samples."""
from __future__ import annotations

import bz2
import collections
import fnmatch
import json
import pathlib
import shutil

import pyarrow.parquet as pq
import pytest

from pipelines import handoff
from pipelines.cli import main as cli
from pipelines.corpus import stats
from pipelines.output_folder import WORK_PREFIX
from tests.support.wiki_fixtures import DATA, WIKI, sample_xml, split_dump, write_multistream

GUTENBERG = DATA / "gutenberg"


def run(tmp_path: pathlib.Path, name: str, *arguments: str) -> tuple[pathlib.Path, dict]:
    out = tmp_path / name
    assert cli.main(["corpus", *arguments, "--output", str(out)]) == 0
    return out, json.loads((out / "stats.json").read_text())


def documents(out: pathlib.Path) -> list[dict]:
    rows = []
    for path in sorted(out.glob("documents-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def errors(out: pathlib.Path) -> list[dict]:
    return [json.loads(line) for path in sorted(out.glob("errors-*.jsonl")) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    return run(
        tmp, "out",
        "--input", f"wikipedia:{WIKI}/*.bz2",
        "--input", f"gutenberg:{GUTENBERG}/*.txt",
        "--num_shards", "3", "--text_output",
    )


def test_sample_corpus_counts_reconcile(sample_run):
    out, summary = sample_run
    assert stats.reconciles(summary)
    assert all(stats.reconciles(per_input) for per_input in summary["inputs"].values())
    wiki = summary["inputs"][f"wikipedia:{WIKI}/*.bz2"]
    # ltgwiki 147 + enwiki 37 + 1 + jawiki 2 + ukwiki 3 redirects (see test_wikipedia_dump)
    assert wiki["dropped"]["redirect"] == 190
    assert wiki["dropped"]["namespace"] == 954 + 2 + 1 + 5
    assert wiki["error_reasons"] == {"truncated_page": 1}
    docs = documents(out)
    assert summary["kept"] == summary["documents"] == len(docs)
    assert summary["sentences"] == sum(len(d["sentences"]) for d in docs)


def test_documents_have_schema_ids_and_sentences(sample_run):
    out, _ = sample_run
    assert sorted(p.name for p in out.glob("documents-*.parquet")) == [
        f"documents-0000{i}-of-00003.parquet" for i in range(3)
    ]
    docs = {d["id"]: d for d in documents(out)}
    assert len(docs) == len(documents(out))  # ids are unique
    bulgarian = docs["bgwiki:3"] if "bgwiki:3" in docs else next(d for d in docs.values() if d["title"] == "Григориански календар")
    assert bulgarian["url"].startswith("https://bg.wikipedia.org/wiki/")
    japanese = [d for d in docs.values() if d["id"].startswith("jawiki:")]
    assert japanese and all(len(d["sentences"]) >= 2 for d in japanese)
    assert all(s.endswith(("。", "」", "）", ")", "！", "？", ".")) or len(s) < 400 for d in japanese for s in d["sentences"])
    for doc in docs.values():
        joined = " ".join(doc["sentences"])
        assert "{{" not in joined and "[[" not in joined and "<ref" not in joined, doc["id"]


def test_errors_file_and_text_output(sample_run):
    out, summary = sample_run
    recorded = errors(out)
    assert len(recorded) == summary["errors"]
    assert {(e["reason"], e["source"].rsplit("/", 1)[1]) for e in recorded} >= {
        ("truncated_page", "ukwiki-20230501-pages-articles-excerpt-truncated.xml.bz2")
    }
    text = "".join(p.read_text() for p in sorted((out / "text").glob("part-*.txt")))
    assert text.count("\n\n") == summary["documents"]
    assert len(text.splitlines()) == summary["sentences"] + summary["documents"]


def _bad_inputs(folder: pathlib.Path) -> None:
    """One file per kind of bad input the issue lists, built from real samples."""
    header, pages, footer = split_dump(sample_xml("fowiki-sample-2pages.xml.bz2"))
    good = pages[1]
    folder.mkdir()
    (folder / "empty.xml.bz2").write_bytes(b"")
    corrupt = bytearray((WIKI / "ltgwiki-latest-pages-articles.xml.bz2").read_bytes())
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 64] = b"\x00" * 64
    (folder / "corrupt.xml.bz2").write_bytes(bytes(corrupt))
    invalid = good.replace(b"<id>", b"<id>7", 1).replace(b"kommuna", b"kommuna \xff\xfe", 1)
    bomb = b"<!DOCTYPE mediawiki [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
    huge = good.replace(b"<id>", b"<id>8", 1).replace(b"</text>", b"ord " * (10 * 2**20 // 4) + b"</text>")
    mixed = bomb + header + good + invalid + good.replace(b"<id>", b"<id>9", 1).replace(b"</text>", b"&b;</text>") + huge + footer
    (folder / "mixed.xml.bz2").write_bytes(bz2.compress(mixed))
    shutil.copy(WIKI / "bgwiki-latest-pages-articles-shortened.xml.bz2", folder)  # UTF-16
    shutil.copy(WIKI / "ukwiki-20230501-pages-articles-excerpt-truncated.xml.bz2", folder)


def test_bad_inputs_finish_with_every_bad_record_recorded(tmp_path):
    _bad_inputs(tmp_path / "bad")
    out, summary = run(tmp_path, "out", "--input", f"wikipedia:{tmp_path}/bad/*.bz2", "--min_words", "5")
    reasons = {(e["source"].rsplit("/", 1)[1], e["reason"]) for e in errors(out)}
    assert reasons == {
        ("empty.xml.bz2", "empty_file"),
        ("corrupt.xml.bz2", "corrupt_compressed_data"),
        ("corrupt.xml.bz2", "truncated_page"),  # the page the damaged block cut off
        ("corrupt.xml.bz2", "partial_page"),  # the page the next intact block starts inside
        ("mixed.xml.bz2", "malformed_page"),  # invalid UTF-8 and the undefined bomb entity
        ("mixed.xml.bz2", "page_too_large"),
        ("ukwiki-20230501-pages-articles-excerpt-truncated.xml.bz2", "truncated_page"),
    }
    assert summary["error_reasons"]["malformed_page"] == 2
    assert stats.reconciles(summary)
    titles = {d["title"] for d in documents(out)}
    assert {"Klaksvíkar kommuna", "Григориански календар"} <= titles
    sources = [d["source"].rsplit("/", 1)[1] for d in documents(out)]
    # The ltgwiki articles before and after the damaged block (of 903 in the intact file).
    assert sources.count("corrupt.xml.bz2") > 500
    assert sources.count("ukwiki-20230501-pages-articles-excerpt-truncated.xml.bz2") > 20


def test_multistream_dump_is_read_in_ranges(tmp_path):
    write_multistream(sample_xml("ltgwiki-latest-pages-articles.xml.bz2"), tmp_path, "ltgwiki-20170101")
    out, summary = run(tmp_path, "multi", "--input", f"{tmp_path}/*.bz2", "--multistream_chunk_mb", "0.05")
    _, whole = run(tmp_path, "whole", "--input", f"wikipedia:{WIKI}/ltgwiki-latest-pages-articles.xml.bz2")
    assert summary["read"] == whole["read"] == 2004
    assert (summary["kept"], summary["dropped"]) == (whole["kept"], whole["dropped"])


def test_exact_and_near_duplicates_across_inputs(tmp_path):
    (tmp_path / "books").mkdir()
    for name in ("nwsnw10-news-from-nowhere-2001-oldheader-excerpt.txt", "pg3261-news-from-nowhere-2015header-excerpt.txt"):
        shutil.copy(GUTENBERG / name, tmp_path / "books")
    books = f"gutenberg:{tmp_path}/books/*.txt"
    again = f"gutenberg:{tmp_path}/books/pg3261*.txt"
    out, summary = run(tmp_path, "exact", "--input", books, "--input", again)
    assert summary["inputs"][again]["dropped"] == {"duplicate": 1}
    assert summary["kept"] == 2  # the two editions differ slightly: not exact duplicates
    out, summary = run(tmp_path, "near", "--input", books, "--near_dedup")
    assert summary["dropped"] == {"near_duplicate": 1} and summary["kept"] == 1


def test_same_output_with_two_worker_processes(tmp_path):
    arguments = ["--input", f"wikipedia:{WIKI}/[ef]*.bz2", "--input", f"gutenberg:{GUTENBERG}/pg10*.txt", "--num_shards", "2"]
    one, _ = run(tmp_path, "one", *arguments)
    two, _ = run(tmp_path, "two", *arguments, "--direct_num_workers", "2", "--direct_running_mode", "multi_processing")
    files = sorted(p.name for p in one.glob("documents-*"))
    assert files == sorted(p.name for p in two.glob("documents-*")) and len(files) == 2
    for name in files:
        assert (one / name).read_bytes() == (two / name).read_bytes()


def test_files_handoff_writes_the_same_documents_and_removes_its_files(tmp_path, monkeypatch):
    arguments = ["--input", f"wikipedia:{WIKI}/[ef]*.bz2", "--input", f"gutenberg:{GUTENBERG}/pg10*.txt",
                 "--input", f"gutenberg:{GUTENBERG}/pg10026*.txt", "--num_shards", "2", "--text_output"]
    shuffled, expected = run(tmp_path, "shuffle", *arguments, "--handoff", "shuffle")
    spilled: list[str] = []
    files: list[str] = []
    add, close = handoff.Spool.add, handoff.Spool.close
    monkeypatch.setattr(handoff, "SPOOL_BYTES", 1)  # a file per value
    monkeypatch.setattr(handoff.Spool, "add", lambda self, value: (spilled.append(type(value).__name__),
                                                                   add(self, value))[1])
    monkeypatch.setattr(handoff.Spool, "close", lambda self: (files.extend([self.path] if self.pending else []),
                                                              close(self)))
    # Two worker threads: the work is spread (one worker reads and cleans without a Reshuffle), and the
    # monkeypatched spool sees every value.
    out, summary = run(tmp_path, "files", *arguments, "--handoff", "files", "--direct_num_workers", "2",
                       "--direct_running_mode", "multi_threading")
    dropped = expected["dropped"]
    assert (summary["kept"], summary["dropped"]) == (expected["kept"], dropped) and dropped["duplicate"] == 1
    for name in sorted(p.name for p in shuffled.glob("*-of-*")):
        assert (out / name).read_bytes() == (shuffled / name).read_bytes(), name
    # Blocks of pages before cleaning; each cleaned document before deduplication (the kept, the duplicate, those
    # segmentation drops), each segmented one before the shard writers.
    kinds = collections.Counter(spilled)
    cleaned = summary["kept"] + 1 + dropped.get("too_few_sentences", 0)
    assert kinds["list"] > 1 and kinds["Document"] == cleaned + summary["kept"]
    assert files and all(fnmatch.fnmatch(path, f"{out}/{WORK_PREFIX}corpus-*/{handoff.FOLDER}/*") for path in files)
    assert not list(out.glob(f"{WORK_PREFIX}*"))


def test_unusable_arguments_stop_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["corpus", "--input", f"{tmp_path}/none-*.bz2", "--output", str(tmp_path / "o")])
    assert stopped.value.code == 2
    assert "matches no file" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit):
        cli.main(["corpus", "--input", f"{WIKI}/fowiki*.bz2", "--output", str(blocker / "sub")])
    assert "not writable" in capsys.readouterr().err
