"""Tests for pipelines.corpus.readers.gutenberg: decoding, boilerplate removal, reflow.

Real books (or byte-exact excerpts of them) from tests/data/gutenberg cover
each header/footer style Project Gutenberg has used; see its SOURCES.md.
"""
from __future__ import annotations

import codecs
import difflib

import pytest

from pipelines.corpus.documents import MalformedInput
from pipelines.corpus.readers.gutenberg import (
    DecodedText,
    GutenbergBook,
    decode_book,
    decode_text,
    decode_utf8_or_legacy,
    parse_book,
)
from tests.support import paths

DATA = paths.DATA / "gutenberg"

BOILERPLATE = (
    "Project Gutenberg",
    "PROJECT GUTENBERG",
    "SMALL PRINT",
    "Produced by",
    "E-text prepared",
    "\ufeff",
)


def _parse(name: str) -> GutenbergBook:
    return parse_book((DATA / name).read_bytes())


# name, title, ebook number, language, first words of the body, last words.
BOOKS = [
    pytest.param(
        "pg64317-great-gatsby-2025header-excerpt.txt",
        "The Great Gatsby",
        64317,
        "en",
        "The Great Gatsby by F. Scott Fitzgerald\n\nOnce again to Zelda",
        "So we beat on, boats against the current, borne back ceaselessly into the past.",
        id="2025",
    ),
    pytest.param(
        "pg1342-pride-and-prejudice-2025header-excerpt.txt",
        "Pride and Prejudice",
        1342,
        "en",
        "PRIDE. and PREJUDICE\n\nby Jane Austen,",
        "the means of uniting them.\n\n"
        "CHISWICK PRESS:--CHARLES WHITTINGHAM AND CO. TOOKS COURT, CHANCERY LANE, LONDON.",
        id="2025-illustrated",
    ),
    pytest.param(
        "pg2701-moby-dick-2008-excerpt.txt",
        "Moby Dick; or The Whale",
        2701,
        "en",
        "MOBY DICK; OR THE WHALE\n\nBy Herman Melville\n\nETYMOLOGY.",
        "only found another orphan.",
        id="2008",
    ),
    pytest.param(
        "pg10026-mirror-of-literature-vol10.txt",
        "The Mirror of Literature, Amusement, and Instruction, Vol. 10, Issue 268, August 11, 1827",
        10026,
        "en",
        "THE MIRROR OF LITERATURE, AMUSEMENT, AND INSTRUCTION.\n\nVOL. 10, No. 268.]",
        "_Printed and published by J LIMBIRD, 143, Strand, (near Somerset House,) "
        "and sold by all Newsmen and Booksellers._",
        id="2003-wrapped",
    ),
    pytest.param(
        "pg10089-elves-and-heroes.txt",
        "Elves and Heroes",
        10089,
        "en",
        "ELVES AND HEROES\n\nBY\n\nDONALD A. MACKENZIE.",
        "dreads to meet Finn, and is in constant fear of discovery.",
        id="2003-one-line",
    ),
    pytest.param(
        "pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt",
        "The Adventures of Sherlock Holmes",
        1661,
        "en",
        "The Adventures of Sherlock Holmes\n\nBy Arthur Conan Doyle\n\nA Scandal in Bohemia\n\nI.\n\n"
        "To Sherlock Holmes she is always _the_ woman.",
        "where I believe that she has met with considerable success.",
        id="2012-bom-wrapped",
    ),
    pytest.param(
        "nwsnw10-news-from-nowhere-2001-oldheader-excerpt.txt",
        "News from Nowhere",
        3261,
        "en",
        "NEWS FROM NOWHERE or AN EPOCH OF REST being some chapters from A UTOPIAN ROMANCE\n\n"
        "by William Morris\n\nCHAPTER I: DISCUSSION AND BED",
        "{3} Cirencester and Burford he must have meant.",
        id="old-small-print",
    ),
    pytest.param(
        "pg3261-news-from-nowhere-2015header-excerpt.txt",
        "News from Nowhere or An Epoch of Rest, being some chapters from A Utopian Romance",
        3261,
        "en",
        "NEWS FROM NOWHERE OR AN EPOCH OF REST BEING SOME CHAPTERS FROM A UTOPIAN ROMANCE",
        "{3} Cirencester and Burford he must have meant.",
        id="2015",
    ),
    pytest.param(
        "pg24675-8-ontboezemingen-dutch-latin1-excerpt.txt",
        "Ontboezemingen",
        24675,
        "nl",
        "ELK DEEL IS AFZONDERLIJK VERKRIJGBAAR\n\nGULDENS-EDITIE.\n\nONTBOEZEMINGEN\n\nDOOR\n\nGABRIËL.",
        "» 73.--=Célestine.= Rob's moeder.",
        id="latin1-dutch",
    ),
    pytest.param(
        "pg2000-don-quijote-spanish-excerpt.txt",
        "Don Quijote",
        2000,
        "es",
        "El ingenioso hidalgo don Quijote de la Mancha\n\nTASA\n\n"
        "Yo, Juan Gallo de Andrada, escribano de Cámara del Rey nuestro señor,",
        "y han de caer del todo, sin duda alguna. Vale.\n\nFin",
        id="spanish-bom-crlf-toc",
    ),
    pytest.param(
        "pg35589-story-of-my-life-vols1-3-excerpt.txt",
        "Story of My Life, volumes 1-3",
        35589,
        "en",
        "THE STORY OF MY LIFE\n\nVOLUMES 1-3\n\nTHE STORY OF MY LIFE",
        "[438] A neighbour and the wife of an old college friend.\n\n[439] Rector of Ashburnham.",
        id="2011-wrapped-end-of-line",
    ),
    pytest.param(
        "pg24264-0-hong-lou-meng-chinese-noheader-excerpt.txt",
        "",
        None,
        "",
        "第一回 甄士隱夢幻識通靈 賈雨村風塵怀閨秀\n\n此開卷第一回也．作者自云：因曾歷過一番夢幻之后，",
        "當時封氏孺人也因思女构疾，日日請醫療治．",
        id="chinese-no-header",
    ),
]


@pytest.mark.parametrize("name, title, number, language, first, last", BOOKS)
def test_real_books_metadata_and_body_bounds(name, title, number, language, first, last):
    book = _parse(name)
    assert (book.title, book.ebook_number, book.language) == (title, number, language)
    assert book.body.startswith(first)
    assert book.body.endswith(last)
    for phrase in BOILERPLATE:
        assert phrase not in book.body, phrase


@pytest.mark.parametrize("name", [p.values[0] for p in BOOKS])
def test_real_books_body_shape(name):
    body = _parse(name).body
    paragraphs = body.split("\n\n")
    assert all(p and p == p.strip() for p in paragraphs)  # no empty, no edge spaces
    assert "\n\n\n" not in body and "\r" not in body
    assert not any("  " in p or "\n" in p for p in paragraphs)  # reflowed, collapsed
    assert "[Illustration" not in body


def test_latin1_dutch_is_decoded_from_declared_charset():
    data = (DATA / "pg24675-8-ontboezemingen-dutch-latin1-excerpt.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = decode_book(data)
    assert text.startswith("Project Gutenberg's Ontboezemingen, by Gabriël\n")
    assert "\ufffd" not in text and "\r" not in text
    assert "GABRIËL." in parse_book(data).body


def test_dutch_contents_and_trailing_transcriber_notes_are_dropped():
    body = _parse("pg24675-8-ontboezemingen-dutch-latin1-excerpt.txt").body
    assert "INHOUD" not in body and "Bladz." not in body
    assert "PORTSMOUTH BINNEN" not in body  # an entry of the contents
    assert "AAN ZIJN BROEDER WILLIBALD.\n\nBEREISDE LIEDEN.\n\nEEN PROLOOG." in body
    assert "Transcriber" not in body and "Normalised" not in body


def test_bom_is_not_in_text_or_body():
    for name in ("pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt", "pg2000-don-quijote-spanish-excerpt.txt"):
        data = (DATA / name).read_bytes()
        assert data.startswith(codecs.BOM_UTF8)
        assert not decode_book(data).startswith("\ufeff")
        assert "\ufeff" not in _parse(name).body


def test_front_production_notes_are_dropped():
    moby = _parse("pg2701-moby-dick-2008-excerpt.txt").body
    assert "Daniel Lazarus" not in moby
    assert "Transcriber" not in moby and "Virginia Tech" not in moby
    mirror = _parse("pg10026-mirror-of-literature-vol10.txt").body
    assert "Jonathan Ingram" not in mirror and "HTML version" not in mirror
    elves = _parse("pg10089-elves-and-heroes.txt").body
    assert "Editorial note" not in elves
    old = _parse("nwsnw10-news-from-nowhere-2001-oldheader-excerpt.txt").body
    new = _parse("pg3261-news-from-nowhere-2015header-excerpt.txt").body
    assert "David Price" not in old and "David Price" not in new


def test_old_small_print_header_is_dropped():
    body = _parse("nwsnw10-news-from-nowhere-2001-oldheader-excerpt.txt").body
    for phrase in ("Etext", "donations", "Michael Hart", "Small Print", "This etext was produced"):
        assert phrase not in body, phrase


def test_old_and_2015_editions_give_nearly_the_same_text():
    old = _parse("nwsnw10-news-from-nowhere-2001-oldheader-excerpt.txt").body
    new = _parse("pg3261-news-from-nowhere-2015header-excerpt.txt").body
    # The title pages differ between the editions; the text from chapter I on
    # is the same transcription, re-wrapped and lightly revised.
    old_paras = old[old.index("CHAPTER I: DISCUSSION AND BED") :].split("\n\n")
    new_paras = new[new.index("CHAPTER I: DISCUSSION AND BED") :].split("\n\n")
    for a, b in zip(old_paras[:8], new_paras[:8]):
        assert difflib.SequenceMatcher(None, a.split(), b.split()).ratio() > 0.97, (a[:60], b[:60])
    assert old_paras[-3:] == new_paras[-3:]  # the footnotes


def test_tables_of_contents_are_dropped():
    gatsby = _parse("pg64317-great-gatsby-2025header-excerpt.txt").body
    assert "Table of Contents" not in gatsby and "VII VIII" not in gatsby
    assert "Thomas Parke d’Invilliers\n\nI\n\nIn my younger and more vulnerable years" in gatsby
    holmes = _parse("pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt").body
    assert "Contents" not in holmes and "The Red-headed League" not in holmes
    quijote = _parse("pg2000-don-quijote-spanish-excerpt.txt").body
    assert "Testimonio de las erratas" not in quijote
    assert "De cómo don Quijote cayó malo" not in quijote
    elves = _parse("pg10089-elves-and-heroes.txt").body
    assert "CONTENTS" not in elves and "Lost Songs\n\nOTHER POEMS" not in elves
    assert elves.count("OTHER POEMS.") == 1  # the heading in the book, not its entry
    assert "to yield an abundant harvest for the poets of the future." in elves
    assert "Inverness Courier\"; the three tales appeared in the \"Celtic Review.\"\n\nTHE WEE FOLK." in elves
    hare = _parse("pg35589-story-of-my-life-vols1-3-excerpt.txt").body
    assert "CONTENTS" not in hare and "LIST OF ILLUSTRATIONS" not in hare and "HURSTMONCEAUX CASTLE" not in hare
    assert "\n\nANTECEDENTS\n\n" in hare and "In 1727, the year of George the First's death" in hare


def test_illustrations_are_stripped_but_the_text_around_them_is_kept():
    body = _parse("pg1342-pride-and-prejudice-2025header-excerpt.txt").body
    assert "[Illustration" not in body and "Copyright 1894" not in body and "]]" not in body
    assert "GEORGE ALLEN PUBLISHER" not in body  # inside a multi-line [Illustration:\n\n ... ]
    assert "Heading to Chapter" not in body  # the list of illustrations
    assert "It is a truth universally acknowledged, that a single man in possession of a good fortune" in body


def test_chinese_lines_join_without_spaces_and_indented_lines_start_paragraphs():
    body = _parse("pg24264-0-hong-lou-meng-chinese-noheader-excerpt.txt").body
    paragraphs = body.split("\n\n")
    assert "-----" not in body and "\u3000" not in body
    assert paragraphs[1].startswith("此開卷第一回也．")
    assert "歷過一番夢幻之后，故將真事隱去，而借" in paragraphs[1]  # line break after 夢
    assert paragraphs[2].startswith("此回中凡用“夢”用“幻”等字")  # an indented line
    assert len(paragraphs) > 20


# --- synthetic books --------------------------------------------------------

HEADER = """\
The Project Gutenberg eBook of A Test Book

Title: A Test Book
       With a Long Subtitle

Author: Nobody

Release date: January 1, 2020 [eBook #99999]

Language: French

*** START OF THE PROJECT GUTENBERG EBOOK A TEST BOOK ***

"""
FOOTER = """

*** END OF THE PROJECT GUTENBERG EBOOK A TEST BOOK ***

Section 1. General Terms of Use and Redistributing Project Gutenberg™
electronic works
"""


def _book(body: str, header: str = HEADER, footer: str = FOOTER) -> bytes:
    return (header + body + footer).encode("utf-8")


def test_synthetic_header_fields():
    book = parse_book(_book("Some text."))
    assert book.title == "A Test Book With a Long Subtitle"
    assert book.ebook_number == 99999
    assert book.language == "fr"
    assert book.body == "Some text."


def test_end_lines_inside_prose_are_body():
    body = (
        "The bell rang.\n\nEnd of school. The children ran out into the yard\nand shouted.\n\n"
        "THE END\n\nEnd of the Project was near, said the engineer.\n\nEND OF PART ONE\n\n"
        "But the story went on for another chapter."
    )
    book = parse_book(_book(body))
    assert book.body == (
        "The bell rang.\n\nEnd of school. The children ran out into the yard and shouted.\n\n"
        "THE END\n\nEnd of the Project was near, said the engineer.\n\nEND OF PART ONE\n\n"
        "But the story went on for another chapter."
    )


def test_footer_is_only_searched_after_the_start_marker():
    header = HEADER.replace("Language: French\n", "Language: French\n\nEnd of Project Gutenberg's A Test Book\n")
    assert parse_book(_book("The only paragraph.", header=header)).body == "The only paragraph."


def test_end_of_project_gutenberg_line_wrapped_over_two_lines():
    footer = "\n\nEnd of the Project\nGutenberg EBook of A Test Book, by Nobody\n\n*** END OF THIS PROJECT GUTENBERG EBOOK ***\n"
    assert parse_book(_book("Last words.", footer=footer)).body == "Last words."


def test_book_without_markers_is_kept_whole():
    text = "Chapter One\n\nIt was a dark and stormy\nnight.\n\nTHE END\n"
    book = parse_book(text.encode())
    assert book == GutenbergBook(title="", ebook_number=None, language="",
                                 body="Chapter One\n\nIt was a dark and stormy night.\n\nTHE END")


def test_production_note_later_in_the_body_is_kept():
    prose = "\n\n".join(f"Paragraph {i} of the story goes on." for i in range(20))
    body = "Produced by Jane Doe and the Online Team\n\n" + prose + "\n\nProduced by the mill, the flour was white."
    result = parse_book(_book(body)).body
    assert not result.startswith("Produced by")
    assert result.endswith("Produced by the mill, the flour was white.")


def test_contents_heading_followed_by_prose_is_kept():
    body = "CONTENTS\n\nThe contents of the box were strange, and nobody in the village\nknew what to make of them."
    assert parse_book(_book(body)).body == (
        "CONTENTS\n\nThe contents of the box were strange, and nobody in the village knew what to make of them."
    )


def test_contents_until_first_chapter_heading():
    body = (
        "CONTENTS\n\nCHAPTER I. The Beginning\nCHAPTER II. The Middle\nCHAPTER III. The End\n\n\n\n"
        "CHAPTER I. The Beginning\n\nOnce upon a time there was a\nstory.\n"
    )
    assert parse_book(_book(body)).body == "CHAPTER I. The Beginning\n\nOnce upon a time there was a story."


def test_hard_wrapped_paragraph_becomes_one_line():
    body = "It was the best of times,\nit was the worst   of times,\n    it was the age of wisdom.\n\nNext one.\n"
    assert parse_book(_book(body)).body == (
        "It was the best of times, it was the worst of times, it was the age of wisdom.\n\nNext one."
    )


def test_cjk_lines_join_without_space_and_latin_with_space():
    body = "\u3000\u3000吾輩は猫である。名前は\nまだ無い。\n\u3000\u3000どこで生れたか\n「とんと見当がつかぬ」\n\nTokyo\nstation.\n"
    assert parse_book(_book(body)).body == (
        "吾輩は猫である。名前はまだ無い。\n\nどこで生れたか「とんと見当がつかぬ」\n\nTokyo station."
    )


def test_multiline_illustration_and_separators_are_removed():
    body = (
        "First paragraph.\n\n[Illustration: A man\n\n   with a hat [_Copyright_]\n]\n\n"
        "       *       *       *       *       *\n\nSecond [Illustration] paragraph."
    )
    assert parse_book(_book(body)).body == "First paragraph.\n\nSecond paragraph."


def test_line_endings_do_not_change_the_body():
    lf = (DATA / "pg64317-great-gatsby-2025header-excerpt.txt").read_bytes()
    assert b"\r" not in lf
    expected = parse_book(lf)
    assert parse_book(lf.replace(b"\n", b"\r\n")) == expected
    assert parse_book(lf.replace(b"\n", b"\r")) == expected
    crlf = (DATA / "pg2701-moby-dick-2008-excerpt.txt").read_bytes()
    assert b"\r\n" in crlf
    assert parse_book(crlf.replace(b"\r\n", b"\n")) == parse_book(crlf)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-8-sig", "utf-32"])
def test_unicode_encodings_with_bom(codec):
    text = (DATA / "pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt").read_text("utf-8-sig")
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    assert parse_book(data) == _parse("pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt")


def test_undeclared_8bit_text_falls_back_to_cp1252():
    data = (HEADER + "Caf\xe9 \u201cnoir\u201d." + FOOTER).encode("cp1252")
    assert parse_book(data).body == "Café “noir”."
    undecodable = b"Na\xefve \x81 text."  # 0x81 is undefined in cp1252
    assert decode_book(undecodable) == "Naïve \x81 text."


def test_declared_8bit_charset_is_used():
    header = HEADER.replace("Language: French\n", "Language: Greek\n\nCharacter set encoding: ISO-8859-7\n")
    data = (header + "Καλημέρα κόσμε." + FOOTER.replace("™", "")).encode("iso-8859-7")
    book = parse_book(data)
    assert (book.body, book.language) == ("Καλημέρα κόσμε.", "el")


def test_utf8_with_a_few_damaged_bytes_stays_utf8():
    text = "Gabriël zag de zee: één, twee, drie golven. " * 20
    data = text.encode("utf-8") + b" caf\xe9"  # one stray Latin-1 byte
    assert decode_book(data) == text + " caf\ufffd"
    assert decode_text(data).invalid_utf8_bytes == 1


def _with_stray_bytes(data: bytes, count: int, stray: bytes = b"\x93") -> bytes:
    """`data` with `count` stray bytes put between ASCII characters, spread over it."""
    damaged = bytearray(data)
    for k in range(count, 0, -1):
        at = len(data) * k // (count + 1)
        while damaged[at] >= 0x80:
            at += 1
        damaged[at:at] = stray
    return bytes(damaged)


@pytest.mark.parametrize(
    "name",
    [
        "pg1342-pride-and-prejudice-2025header-excerpt.txt",  # UTF-8: before, 20 bad bytes made it cp1252
        "pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt",  # UTF-8 with BOM: before, "not_text"
        "pg2000-don-quijote-spanish-excerpt.txt",
        "pg24264-0-hong-lou-meng-chinese-noheader-excerpt.txt",
    ],
)
def test_real_utf8_book_with_stray_bytes_keeps_its_text_and_counts_them(name):
    data = (DATA / name).read_bytes()
    damaged = parse_book(_with_stray_bytes(data, 20))
    assert damaged.invalid_utf8_bytes == 20
    assert damaged.body == parse_book(data).body  # no mojibake; the replacements are normalized away
    assert "\u00e2\u20ac" not in damaged.body  # "â€", what cp1252 makes of a UTF-8 curly quote


def test_legacy_8bit_book_is_still_detected_without_its_charset_line():
    data = (DATA / "pg24675-8-ontboezemingen-dutch-latin1-excerpt.txt").read_bytes()
    undeclared = data.replace(b"Character set encoding: ISO-8859-1", b"")
    decoded = decode_text(undeclared)
    assert "Gabriël" in decoded.text and decoded.invalid_utf8_bytes == 0
    # A valid UTF-8 pair by accident ("Ã©" in Latin-1) does not make it UTF-8.
    decoded = decode_text(undeclared + "Ã©".encode("latin-1"))
    assert "Gabriël" in decoded.text and decoded.text.endswith("Ã©")


def test_mostly_invalid_is_legacy_and_a_declared_utf8_file_is_utf8():
    ascii_book = (DATA / "pg2701-moby-dick-2008-excerpt.txt").read_bytes()
    assert "\u201c" in decode_text(_with_stray_bytes(ascii_book, 3)).text  # cp1252 quotes
    assert decode_utf8_or_legacy(b"Caf\xe9 cr\xe8me").text == "Café crème"
    assert decode_utf8_or_legacy(b"Caf\xe9 cr\xe8me", "utf-8") == DecodedText("Caf\ufffd cr\ufffdme", 2)


def test_empty_file():
    for data in (b"", b"  \r\n\n"):
        with pytest.raises(MalformedInput) as err:
            parse_book(data)
        assert err.value.reason == "empty_file"


def test_binary_data_is_not_text():
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") * 50
    for data in (png, b"\x00" * 4096, bytes(range(256)) * 16):
        with pytest.raises(MalformedInput) as err:
            parse_book(data)
        assert err.value.reason == "not_text"


def test_book_with_only_boilerplate_has_empty_body():
    body = "\n\nProduced by Jane Doe\n\n[Illustration: cover]\n\n"
    with pytest.raises(MalformedInput) as err:
        parse_book(_book(body))
    assert err.value.reason == "empty_body"
    assert err.value.record == "A Test Book With a Long Subtitle"
