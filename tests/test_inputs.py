"""--input parsing, glob expansion through Beam FileSystems, and format detection."""
from __future__ import annotations

import bz2
import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.inputs import InputError, detect_format, expand_inputs, parse_input_spec
from tests.wiki_fixtures import WIKI, sample_xml, write_multistream


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
