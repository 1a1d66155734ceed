import unicodedata

import pytest

from pipelines.corpus.normalization import normalize_text, split_paragraphs
from tests.support.sample_texts import PRIDE_CHAPTER_1_RAW

# Its first three paragraphs, hard-wrapped as in the file.
PRIDE_RAW = "\n\n".join(PRIDE_CHAPTER_1_RAW.split("\n\n")[:3]) + "\n"
PRIDE_PARAGRAPHS = [
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune must be in want of a wife.",
    "However little known the feelings or views of such a man may be on his first "
    "entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one "
    "or other of their daughters.",
    "\u201cMy dear Mr. Bennet,\u201d said his lady to him one day, \u201chave you heard that "
    "Netherfield Park is let at last?\u201d",
]

# Hong Lou Meng, chapter 1 (data/gutenberg/pg24264-0-hong-lou-meng-chinese-
# noheader.txt, lines 31-33): wrapped at a fixed width, so lines break inside
# words and even between 。 and the closing quote ”.
HONG_LOU_MENG_RAW = (
    "溫柔鄉里受享几年，自當永佩洪恩，万劫不忘也。”二仙師听畢，齊憨笑道\n"
    "：“善哉，善哉！那紅塵中有卻有些樂事，但不能永遠依恃，況又有`美中\n"
    "不足，好事多魔'八個字緊相連屬，瞬息間則又樂极悲生，人非物換，究竟\n"
)
HONG_LOU_MENG_PARAGRAPH = (
    "溫柔鄉里受享几年，自當永佩洪恩，万劫不忘也。”二仙師听畢，齊憨笑道"
    "：“善哉，善哉！那紅塵中有卻有些樂事，但不能永遠依恃，況又有`美中"
    "不足，好事多魔'八個字緊相連屬，瞬息間則又樂极悲生，人非物換，究竟"
)


def test_latin_lines_join_with_a_space_and_paragraphs_with_one_blank_line():
    assert normalize_text(PRIDE_RAW) == "\n\n".join(PRIDE_PARAGRAPHS)
    assert split_paragraphs(PRIDE_RAW) == PRIDE_PARAGRAPHS


def test_cjk_lines_join_without_a_space():
    assert normalize_text(HONG_LOU_MENG_RAW) == HONG_LOU_MENG_PARAGRAPH
    # Japanese (jawiki "日本語"), wrapped by hand between kana and kanji.
    assert normalize_text("修飾語は被修飾語の\n前に位置する。") == "修飾語は被修飾語の前に位置する。"


def test_mixed_and_hangul_line_breaks_become_spaces():
    assert normalize_text("日本語\nJapanese") == "日本語 Japanese"
    assert normalize_text("Berlin\nベルリン") == "Berlin ベルリン"
    # Korean separates words with spaces, so a wrapped line is a space.
    assert normalize_text("한국어\n문장") == "한국어 문장"


def test_paragraph_separation_is_exactly_one_blank_line():
    text = "\n \n  First para\nstill first.  \n\n\n\n \t \n\nSecond\u3000para.\n\n\n"
    assert normalize_text(text) == "First para still first.\n\nSecond para."
    assert split_paragraphs(text) == ["First para still first.", "Second para."]
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\n\t\n") == []


def test_nfc_composes_decomposed_characters():
    decomposed = "Antoine Meillet est un linguiste franc\u0327ais ne\u0301 a\u0300 Moulins."
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert normalize_text(decomposed) == "Antoine Meillet est un linguiste français né à Moulins."
    assert normalize_text("Cafe\u0301") == "Caf\u00e9"


def test_control_format_private_and_replacement_characters_are_removed():
    text = (
        "\ufeffIt is a tru\u00adth\u200b univer\u200esally\x07 ackno\ufffdwledged\ue000, "
        "that\x00 a single\x1b man."
    )
    assert normalize_text(text) == "It is a truth universally acknowledged, that a single man."


def test_zero_width_joiners_are_kept_inside_words():
    # Persian "I want": ZWNJ between the prefix می and the verb.
    assert normalize_text("من می\u200cخواهم") == "من می\u200cخواهم"
    # Emoji ZWJ sequence (family).
    assert normalize_text("\U0001F468\u200d\U0001F469") == "\U0001F468\u200d\U0001F469"
    # Next to a space or at the edge a joiner joins nothing.
    assert normalize_text("\u200dword \u200c next\u200d") == "word next"


def test_tabs_nbsp_and_unicode_spaces_become_one_space():
    text = "Berlin\u00a0has 3.4\u2009million\tpeople \u00a0 \u3000in\u202fthe  city."
    assert normalize_text(text) == "Berlin has 3.4 million people in the city."


def test_carriage_returns_are_removed():
    assert normalize_text("Call me Ishmael.\r\nSome years ago\r\n\r\nnever mind") == (
        "Call me Ishmael. Some years ago\n\nnever mind"
    )
    assert normalize_text("old\rmac") == "old mac"
    assert "\r" not in normalize_text("a\r\r\nb\r")


def test_unicode_line_and_paragraph_separators():
    assert normalize_text("one\u2028two\u2029three\x0cfour") == "one two\n\nthree four"


@pytest.mark.parametrize(
    "text",
    [PRIDE_RAW, HONG_LOU_MENG_RAW, "a\u00a0 b\n\n\n c\u200d \u200c\r\nd e\u0301\u2029"],
)
def test_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert split_paragraphs(once) == split_paragraphs(text)
