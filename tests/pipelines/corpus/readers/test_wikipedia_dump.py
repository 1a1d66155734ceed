"""MediaWiki dump reading on the real samples, and every bad-input case."""
from __future__ import annotations

import bz2
import collections
import io
import time

import pytest

from pipelines.corpus.documents import MalformedInput
from pipelines.corpus.readers.bz2_blocks import decompressed_chunks
from pipelines.corpus.readers.wikipedia_dump import SiteInfo, WikiPage, iter_dump, language_of_dbname
from pipelines.corpus.readers.wikipedia_pages import page_drop_reason
from tests.support.wiki_fixtures import WIKI, damage_block, sample_xml, split_dump


def read(xml: bytes, **kwargs) -> tuple[SiteInfo, list[WikiPage], list[MalformedInput]]:
    items = list(iter_dump(io.BytesIO(xml), **kwargs))
    assert isinstance(items[0], SiteInfo)
    pages = [i for i in items[1:] if isinstance(i, WikiPage)]
    errors = [i for i in items[1:] if isinstance(i, MalformedInput)]
    assert len(pages) + len(errors) == len(items) - 1
    return items[0], pages, errors


def outcomes(pages: list[WikiPage]) -> dict[str, int]:
    return dict(collections.Counter(page_drop_reason(p) or "keep" for p in pages))


@pytest.mark.parametrize(
    "name, expected",
    [
        # Counts from the sample descriptions in ../shared/data/SOURCES.md.
        ("ltgwiki-latest-pages-articles.xml.bz2", {"keep": 903, "redirect": 147, "namespace": 954}),
        ("enwiki-pages-articles-sample-3pages.xml.bz2", {"keep": 2, "redirect": 1}),
        ("enwiki-pages-articles1-excerpt-40pages.xml.bz2", {"keep": 3, "redirect": 37}),
        ("fowiki-sample-2pages.xml.bz2", {"keep": 1, "namespace": 1}),
        ("jawiki-20250801-pages-articles-excerpt-20pages.xml.bz2", {"keep": 12, "namespace": 5, "redirect": 2, "disambiguation": 1}),
    ],
)
def test_page_outcomes_on_real_dumps(name, expected):
    _, pages, errors = read(sample_xml(name))
    assert errors == []
    assert outcomes(pages) == expected


def test_ltgwiki_non_wikitext_pages_are_never_articles():
    _, pages, _ = read(sample_xml("ltgwiki-latest-pages-articles.xml.bz2"))
    models = collections.Counter(p.model for p in pages)
    assert models == {"wikitext": 1968, "css": 4, "javascript": 4, "Scribunto": 28}
    assert all(page_drop_reason(p) for p in pages if p.model != "wikitext")


def test_siteinfo_language_and_urls():
    info, pages, _ = read(sample_xml("jawiki-20250801-pages-articles-excerpt-20pages.xml.bz2"))
    assert (info.dbname, info.language) == ("jawiki", "ja")
    assert info.page_url("東京 都") == "https://ja.wikipedia.org/wiki/%E6%9D%B1%E4%BA%AC_%E9%83%BD"
    old_schema, pages, _ = read(sample_xml("enwiki-pages-articles-sample-3pages.xml.bz2"))
    assert old_schema.base_url == "http://en.wikipedia.org/wiki/"
    assert [p.title for p in pages] == ["AccessibleComputing", "Computer accessibility", "Accessibility"]
    assert language_of_dbname("zh_yuewiki") == "zh-yue"
    assert language_of_dbname("commonswiki") == ""


def test_utf16_dump_is_transcoded():
    xml = sample_xml("bgwiki-latest-pages-articles-shortened.xml.bz2")
    assert xml.startswith(b"\xff\xfe")
    info, pages, errors = read(xml)
    assert errors == [] and info.language == "bg"
    articles = [p for p in pages if page_drop_reason(p) is None]
    assert [p.title for p in articles] == ["Григориански календар"]
    assert "календар" in articles[0].text


def test_localized_redirect_keyword_without_redirect_element():
    _, pages, _ = read(sample_xml("jawiki-20250801-pages-articles-excerpt-20pages.xml.bz2"))
    text_only = [p for p in pages if p.namespace == 0 and not p.redirect and p.text.lstrip().startswith(("#転送", "#REDIRECT"))]
    assert all(page_drop_reason(p) == "redirect" for p in text_only)
    page = WikiPage("1", 0, "X", False, "wikitext", "#ПЕРЕНАПРАВЛЕННЯ [[Київ]]", 0)
    assert page_drop_reason(page) == "redirect"


def test_truncated_dump_keeps_complete_pages():
    xml = sample_xml("ukwiki-20230501-pages-articles-excerpt-truncated.xml.bz2")
    _, pages, errors = read(xml)
    assert len(pages) == 40
    assert [e.reason for e in errors] == ["truncated_page"]
    header, complete, _ = split_dump(xml + b"</page>")  # the cut page's title is reported
    assert errors[0].record in complete[-1].decode()


def test_invalid_utf8_costs_only_that_page():
    header, pages, footer = split_dump(sample_xml("fowiki-sample-2pages.xml.bz2"))
    broken = pages[1].replace(b"<text", b"<text data='\xff\xfe'", 1)
    _, read_pages, errors = read(header + pages[0] + broken + pages[0].replace(b"<id>", b"<id>9", 1) + footer)
    assert len(read_pages) == 2
    assert [e.reason for e in errors] == ["malformed_page"]
    assert errors[0].record == "Klaksvíkar kommuna"


def test_entity_expansion_bomb_is_not_expanded():
    header, pages, footer = split_dump(sample_xml("fowiki-sample-2pages.xml.bz2"))
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    bomb = f"<?xml version='1.0'?><!DOCTYPE mediawiki [{entities}]>".encode() + header
    evil = pages[1].replace(b"</text>", b"&lol9;</text>")
    started = time.perf_counter()
    _, read_pages, errors = read(bomb + pages[0] + evil + footer)
    assert time.perf_counter() - started < 5
    assert len(read_pages) == 1 and [e.reason for e in errors] == ["malformed_page"]


@pytest.mark.parametrize("page_mb", [10])
def test_oversized_page_is_skipped_in_bounded_memory(page_mb):
    header, pages, footer = split_dump(sample_xml("fowiki-sample-2pages.xml.bz2"))
    huge = pages[1].replace(b"</text>", b"word " * (page_mb * 1024 * 1024 // 5) + b"</text>")
    _, read_pages, errors = read(header + huge + pages[1] + footer)
    assert [p.title for p in read_pages] == ["Klaksvíkar kommuna"]
    assert [(e.reason, e.record) for e in errors] == [("page_too_large", "Klaksvíkar kommuna")]
    # A larger limit reads it.
    _, read_pages, errors = read(header + huge + footer, max_page_bytes=16 * 1024 * 1024)
    assert len(read_pages) == 1 and errors == []


LTG = WIKI / "ltgwiki-latest-pages-articles.xml.bz2"  # 2,004 pages in 5 bzip2 blocks


def read_bz2(data: bytes) -> tuple[list[WikiPage], list[MalformedInput]]:
    items = list(iter_dump(decompressed_chunks(io.BytesIO(data))))
    return [i for i in items if isinstance(i, WikiPage)], [i for i in items if isinstance(i, MalformedInput)]


def assert_pages_intact(pages: list[WikiPage]) -> None:
    """Every page read from a damaged dump is exactly the page of the intact dump."""
    _, intact, _ = read(sample_xml(LTG.name))
    by_id = {p.page_id: (p.title, p.text) for p in intact}
    assert all(by_id[p.page_id] == (p.title, p.text) for p in pages)


def test_stream_read_error_keeps_pages_before_it():
    data, _ = damage_block(LTG.read_bytes(), 2)
    items = list(iter_dump(bz2.BZ2File(io.BytesIO(data))))
    pages = [i for i in items if isinstance(i, WikiPage)]
    errors = [i for i in items if isinstance(i, MalformedInput)]
    assert 300 < len(pages) < 2004
    assert [e.reason for e in errors] == ["truncated_page", "corrupt_compressed_data"]


def test_damaged_bz2_block_costs_only_its_pages():
    data, at = damage_block(LTG.read_bytes(), 2)
    pages, errors = read_bz2(data)
    # Blocks 1-2 start 380 + 469 pages, block 3 starts 694, blocks 4-5 461: the
    # page open at the damage and the one the next block starts inside are lost.
    assert len(pages) == 2004 - 694 - 1 == 1309
    assert_pages_intact(pages)
    assert [(e.reason, e.record) for e in errors] == [
        ("truncated_page", "Žemaišu volūda"),
        ("corrupt_compressed_data", "compressed byte 386382"),
        ("partial_page", errors[2].record),
    ]
    skipped = int(errors[1].detail.split("skipped ")[1].split()[0])
    assert 386382 <= at < 386382 + skipped == 528478  # to the start of block 4


def test_truncated_bz2_dump_keeps_every_complete_block():
    data = LTG.read_bytes()
    pages, errors = read_bz2(data[: len(data) * 6 // 10])
    assert len(pages) == 380 + 469 - 1  # blocks 1-2, less the page they end inside
    assert_pages_intact(pages)
    assert [e.reason for e in errors] == ["truncated_page", "truncated_compressed_data"]
    assert errors[1].record == "compressed byte 386382"


def test_damage_before_the_first_page_keeps_the_rest():
    xml = sample_xml("enwiki-pages-articles1-excerpt-40pages.xml.bz2")
    data, _ = damage_block(bz2.compress(xml, 1), 0)  # the header and the first two pages
    items = list(iter_dump(decompressed_chunks(io.BytesIO(data))))
    assert isinstance(items[0], SiteInfo)
    titles = [p.title for p in items if isinstance(p, WikiPage)]
    assert len(titles) == 38 and "Anarchism" not in titles and "Albedo" in titles
    assert [e.reason for e in items if isinstance(e, MalformedInput)] == ["corrupt_compressed_data", "partial_page"]


def test_empty_and_non_dump_input():
    assert [i.reason for i in iter_dump(io.BytesIO(b"")) if isinstance(i, MalformedInput)] == ["not_a_dump"]
    assert [i.reason for i in iter_dump(io.BytesIO(b"just some text\n" * 100)) if isinstance(i, MalformedInput)] == [
        "not_a_dump"
    ]
