"""--input parsing, glob expansion through Beam FileSystems, and format detection."""
from __future__ import annotations

import bz2
import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.corpus.inputs import InputError, detect_format, expand_inputs, parse_input_spec
from tests.support.gcs_emulator import upload
from tests.support.wiki_fixtures import DATA, WIKI, sample_xml, write_multistream

GUTENBERG = DATA / "gutenberg"


def test_prefixes_and_urls():
    assert parse_input_spec("wikipedia:gs://b/*.bz2").format == "wikipedia"
    assert parse_input_spec("wikipedia:gs://b/*.bz2").pattern == "gs://b/*.bz2"
    assert parse_input_spec("gs://b/x.txt").format == ""
    assert parse_input_spec("gs://b/x.txt").pattern == "gs://b/x.txt"
    with pytest.raises(InputError, match="unknown input format 'wiki'"):
        parse_input_spec("wiki:/data/x.bz2")


def test_detection(tmp_path):
    assert detect_format(str(WIKI / "ltgwiki-latest-pages-articles.xml.bz2")) == "wikipedia"
    no_extension = tmp_path / "dump.bz2"
    no_extension.write_bytes(bz2.compress(sample_xml("fowiki-sample-2pages.xml.bz2")))
    assert detect_format(str(no_extension)) == "wikipedia"
    book = tmp_path / "book.txt"
    book.write_text("The Project Gutenberg eBook of Nothing\n\nTitle: Nothing\n")
    assert detect_format(str(book)) == "gutenberg"
    plain = tmp_path / "notes.txt"
    plain.write_text("Just a note.\n")
    assert detect_format(str(plain)) == "text"
    rows = tmp_path / "rows.jsonl.gz"
    with gzip.open(rows, "wt") as handle:
        handle.write(json.dumps({"text": "x"}) + "\n")
    assert detect_format(str(rows)) == "jsonl"
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["x"]}), table)
    assert detect_format(str(table)) == "parquet"


def test_expansion_pairs_multistream_index_and_skips_it_as_input(tmp_path):
    write_multistream(sample_xml("fowiki-sample-2pages.xml.bz2"), tmp_path, "fowiki-20200101", pages_per_stream=1)
    shutil.copy(WIKI / "thwiki-dbpedia-minidump.xml.bz2", tmp_path)
    files = expand_inputs([f"{tmp_path}/*.bz2"])
    assert [(f.format, f.path.rsplit("/", 1)[1], bool(f.index_path)) for f in files] == [
        ("wikipedia", "fowiki-20200101-pages-articles-multistream.xml.bz2", True),
        ("wikipedia", "thwiki-dbpedia-minidump.xml.bz2", False),
    ]
    assert all(f.input == f"{tmp_path}/*.bz2" for f in files)


def test_unmatched_input_is_a_usage_error(tmp_path):
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([f"text:{tmp_path}/nothing-*.txt"])


def _book_folder(tmp_path):
    folder = tmp_path / "books"
    (folder / "more").mkdir(parents=True)
    for name in ("pg1342-pride-and-prejudice-2025header-excerpt.txt", "pg64317-great-gatsby-2025header-excerpt.txt"):
        shutil.copy(GUTENBERG / name, folder)
    shutil.copy(GUTENBERG / "pg2701-moby-dick-2008-excerpt.txt", folder / "more")  # a subfolder is not read
    (folder / ".notes.txt").write_text("hidden, not read\n")
    (folder / "notes.md").write_text("Where these books come from.\n")
    return folder


@pytest.mark.parametrize("suffix", ["", "/"])
def test_folder_reads_the_files_directly_in_it(tmp_path, suffix):
    folder = _book_folder(tmp_path)
    files = expand_inputs([f"{folder}{suffix}"])
    # The format is detected per extension, so a README does not decide it for the books.
    assert [(f.path.rsplit("/", 1)[1], f.format) for f in files] == [
        ("notes.md", "text"),
        ("pg1342-pride-and-prejudice-2025header-excerpt.txt", "gutenberg"),
        ("pg64317-great-gatsby-2025header-excerpt.txt", "gutenberg"),
    ]
    assert [f.format for f in expand_inputs([f"gutenberg:{folder}"])] == ["gutenberg"] * 3


def test_folder_without_files_and_unmatched_glob_are_refused(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / ".hidden").write_text("x")
    with pytest.raises(InputError, match="is a folder with no .non-hidden. files directly in it; subfolders"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([f"{tmp_path}/empty/*.txt"])


def test_folder_in_a_bucket(gcs_bucket, tmp_path):
    folder = _book_folder(tmp_path)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            upload(path, f"gs://{gcs_bucket}/books/{path.relative_to(folder)}")
    files = expand_inputs([f"gs://{gcs_bucket}/books"])
    assert [f.path.rsplit("/", 1)[1] for f in files] == [
        "notes.md", "pg1342-pride-and-prejudice-2025header-excerpt.txt", "pg64317-great-gatsby-2025header-excerpt.txt"
    ]
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([f"gs://{gcs_bucket}/no-such-folder"])
