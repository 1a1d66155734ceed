"""Indexed multistream dumps: split by stream offsets, read range by range."""
from __future__ import annotations

import bz2
import io

from pipelines.corpus.documents import MalformedInput
from pipelines.corpus.readers import wikipedia_multistream as ms
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump
from tests.support.wiki_fixtures import damage_block, sample_xml, write_multistream


def test_index_names_follow_wikimedia():
    assert ms.index_path_for("gs://b/enwiki-20240601-pages-articles-multistream.xml.bz2") == (
        "gs://b/enwiki-20240601-pages-articles-multistream-index.txt.bz2"
    )
    assert ms.index_path_for("enwiki-20240601-pages-articles-multistream1.xml-p1p41242.bz2") == (
        "enwiki-20240601-pages-articles-multistream-index1.txt-p1p41242.bz2"
    )
    assert ms.index_path_for("enwiki-latest-pages-articles.xml.bz2") == ""
    assert ms.is_index_file("enwiki-20240601-pages-articles-multistream-index.txt.bz2")


def _ranges(dump, index, chunk_bytes):
    offsets = list(ms.iter_stream_offsets(bz2.open(index)))
    return offsets, list(ms.plan_ranges(str(dump), offsets, dump.stat().st_size, chunk_bytes))


def test_ranges_read_the_same_pages_as_the_whole_dump(tmp_path):
    dump, index = write_multistream(sample_xml("ltgwiki-latest-pages-articles.xml.bz2"), tmp_path, "ltgwiki-20170101")
    offsets, ranges = _ranges(dump, index, chunk_bytes=100_000)
    assert len(offsets) == 21  # 2,004 pages in streams of 100
    assert len(ranges) > 3  # several independent work items
    with dump.open("rb") as handle:
        assert ms.read_header(handle, offsets[0]).dbname == "ltgwiki"
        from_ranges = [p for r in ranges for p in ms.iter_range_pages(handle, r, 1 << 20)]
    whole = [p for p in iter_dump(bz2.open(dump)) if isinstance(p, WikiPage)]
    assert len(whole) == 2004
    assert [(p.page_id, p.text) for p in from_ranges] == [(p.page_id, p.text) for p in whole]


def test_corrupt_stream_costs_only_its_pages(tmp_path):
    dump, index = write_multistream(sample_xml("ltgwiki-latest-pages-articles.xml.bz2"), tmp_path, "ltgwiki-20170101")
    offsets, ranges = _ranges(dump, index, chunk_bytes=10**9)
    data = bytearray(dump.read_bytes())
    data[offsets[5] + 100 : offsets[5] + 200] = b"\x00" * 100  # inside the 6th page stream
    items = [i for r in ranges for i in ms.iter_range_pages(io.BytesIO(bytes(data)), r, 1 << 20)]
    errors = [i for i in items if isinstance(i, MalformedInput)]
    assert [e.reason for e in errors] == ["corrupt_compressed_data"]
    assert len(items) - 1 == 2004 - 100


def test_damaged_block_costs_only_its_pages_not_its_stream(tmp_path):
    # At level 1 each 100-page stream holds about two 100 kB bzip2 blocks.
    dump, index = write_multistream(sample_xml("ltgwiki-latest-pages-articles.xml.bz2"), tmp_path, "ltgwiki-20170101", level=1)
    offsets, ranges = _ranges(dump, index, chunk_bytes=10**9)
    stream = dump.read_bytes()[offsets[5] : offsets[6]]
    damaged_stream, at = damage_block(stream, 1)  # the second block of the 6th page stream
    data = dump.read_bytes()[: offsets[5]] + damaged_stream + dump.read_bytes()[offsets[6] :]
    items = [i for r in ranges for i in ms.iter_range_pages(io.BytesIO(data), r, 1 << 20)]
    pages = [i for i in items if isinstance(i, WikiPage)]
    errors = [i for i in items if isinstance(i, MalformedInput)]
    assert [e.reason for e in errors] == ["truncated_page", "corrupt_compressed_data"]
    assert errors[1].record.startswith("compressed byte ") and int(errors[1].record.split()[-1]) <= offsets[5] + at
    # Before, the whole stream (100 pages) was lost; now its first block's pages are read.
    assert len(pages) == 1963  # 1,904 before: the whole stream was lost
