import dataclasses

import pytest

from pipelines.corpus import filters as qf
from pipelines.corpus.filters import (
    QualityThresholds,
    count_words,
    sentences_drop_reason,
    text_drop_reason,
)

DEFAULT = QualityThresholds()

# Pride and Prejudice, chapter I (data/gutenberg/pg1342-...-2025header.txt).
PRIDE_PARAGRAPH = (
    "However little known the feelings or views of such a man may be on his first "
    "entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one "
    "or other of their daughters."
)
PRIDE_SHORT = "Mr. Bennet made no answer."

# Hong Lou Meng, chapter 1 (data/gutenberg/pg24264-0-hong-lou-meng-chinese-
# noheader.txt, lines 4-5): 48 Han characters, no spaces.
HONG_LOU_MENG = (
    "此開卷第一回也．作者自云：因曾歷過一番夢幻之后，故將真事隱去，"
    "而借\"通靈\"之說，撰此《石頭記》一書也．故曰\"甄士隱\"云云．"
)
# jawiki "日本語" (data/wikipedia/jawiki-20250801-...-100k_lines.xml.bz2).
JAPANESE = (
    "婉曲表現の一部は、敬意表現としても用いられる。たとえば、相手に窓を開けてほしい場合は、"
    "命令表現によらずに、「窓を開けてくれる？」などと問いかけ表現を用いる。"
)
# thwiki "เบอร์ลิน" (data/wikipedia/thwiki-dbpedia-minidump.xml.bz2), links removed.
THAI = (
    "เบอร์ลินเป็นหนึ่งในศูนย์กลางที่มีอิทธิพลที่สุดของยุโรป ในด้านการเมือง วัฒนธรรม "
    "สื่อสารมวลชน และวิทยาการ"
)
# arwiki "برلين" (data/wikipedia/arwiki-dbpedia-minidump.xml.bz2), links removed.
ARABIC = (
    "يعود أول توثيق لوجود برلين للقرن الثالث عشر، وكانت المدينة على مر التاريخ عاصمة "
    "لمرغريفية براندنبورغ ومملكة بروسيا والرايخ الألماني."
)
# enwiki "ASCII" (data/wikipedia/enwiki-latest-pages-articles1...-shortened.bz2):
# four rows of the printable-characters table (binary, octal, decimal, hex,
# glyph) with the cell styles stripped, as a bad table extraction leaves them.
ASCII_TABLE_ROWS = (
    "100 0001 101 65 41 A\n100 0010 102 66 42 B\n100 0011 103 67 43 C\n100 0100 104 68 44 D"
)
# Same table, glyph column only: 26 one-letter "words".
ASCII_GLYPHS = "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z"
# Same dump: the titles of its first 20 redirect pages, old CamelCase links.
REDIRECT_TITLES = (
    "AccessibleComputing AfghanistanHistory AfghanistanGeography AfghanistanPeople "
    "AfghanistanCommunications AfghanistanTransportations AfghanistanMilitary "
    "AfghanistanTransnationalIssues AssistiveTechnology AmoeboidTaxa AlbaniaHistory "
    "AlbaniaPeople AsWeMayThink AlbaniaGovernment AlbaniaEconomy AfroAsiaticLanguages "
    "ArtificalLanguages AbacuS AbalonE AbbadideS"
)


def test_reason_constants():
    assert qf.TEXT_DROP_REASONS == (
        "empty",
        "too_short",
        "too_many_non_letters",
        "bad_word_length",
    )
    assert qf.SENTENCE_DROP_REASONS == ("too_few_sentences",)
    assert (qf.EMPTY, qf.TOO_SHORT, qf.TOO_MANY_NON_LETTERS, qf.BAD_WORD_LENGTH) == (
        qf.TEXT_DROP_REASONS
    )
    assert qf.TOO_FEW_SENTENCES == "too_few_sentences"


def test_default_thresholds():
    assert DEFAULT == QualityThresholds(
        min_words=20,
        min_sentences=2,
        max_non_letter_ratio=0.5,
        min_mean_word_length=2.0,
        max_mean_word_length=15.0,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.min_words = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_words": -1},
        {"max_non_letter_ratio": 1.5},
        {"min_mean_word_length": 16.0},
    ],
)
def test_unusable_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError):
        QualityThresholds(**kwargs)


def test_count_words_space_delimited():
    assert count_words(PRIDE_PARAGRAPH) == len(PRIDE_PARAGRAPH.split()) == 48
    assert count_words(PRIDE_SHORT) == 5
    # Apostrophes inside a word keep it whole; dashes and hyphens split.
    assert count_words("“Don’t you know—it’s a well-known fact,” said she.") == 10
    assert count_words(ARABIC) == 20
    assert count_words("") == 0
    assert count_words(" ,.;— \n ") == 0


def test_count_words_cjk_and_thai_count_each_character():
    # 此開卷第一回也(7) 作者自云(4) 因曾歷過一番夢幻之后(10) 故將真事隱去(6)
    # 而借(2) 通靈(2) 之說(2) 撰此(2) 石頭記(3) 一書也(3) 故曰(2) 甄士隱(3) 云云(2)
    assert count_words(HONG_LOU_MENG) == 48
    assert count_words("「窓を開けてくれる？」") == 8
    assert count_words(JAPANESE) == len(
        [c for c in JAPANESE if c not in "、。「」？"]
    )
    # Thai vowel signs and tone marks are not letters of their own.
    assert count_words("ภาษาไทย") == 7
    assert count_words("วัฒนธรรม") == 7  # ั is a combining mark
    # Latin words and numbers inside CJK text are counted as words.
    # 日本の人口は(6) 1 億 2000 万人(2) English
    assert count_words("日本の人口は1億2000万人、English") == 12


@pytest.mark.parametrize("text", [PRIDE_PARAGRAPH, HONG_LOU_MENG, JAPANESE, THAI + " " + THAI, ARABIC])
def test_normal_text_is_kept(text):
    assert text_drop_reason(text, DEFAULT) is None


@pytest.mark.parametrize("text", ["", "  \n\n\t \u3000"])
def test_empty(text):
    assert text_drop_reason(text, DEFAULT) == qf.EMPTY


def test_too_short():
    assert text_drop_reason(PRIDE_SHORT, DEFAULT) == qf.TOO_SHORT
    assert text_drop_reason(PRIDE_SHORT, QualityThresholds(min_words=5)) is None
    assert text_drop_reason("此開卷第一回也．", DEFAULT) == qf.TOO_SHORT


def test_too_many_non_letters():
    assert count_words(ASCII_TABLE_ROWS) == 24
    assert text_drop_reason(ASCII_TABLE_ROWS, DEFAULT) == qf.TOO_MANY_NON_LETTERS
    assert text_drop_reason(ASCII_TABLE_ROWS, QualityThresholds(max_non_letter_ratio=1.0)) is None


def test_combining_marks_count_as_letters():
    # Arabic with full vowel marks (harakat, Unicode category Mn): the
    # Basmala, repeated to reach min_words.
    vocalized = " ".join(["بِسْمِ ٱللَّٰهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ"] * 5)
    assert text_drop_reason(vocalized, DEFAULT) is None


def test_bad_word_length():
    assert text_drop_reason(ASCII_GLYPHS, DEFAULT) == qf.BAD_WORD_LENGTH  # mean 1.0
    assert text_drop_reason(REDIRECT_TITLES, DEFAULT) == qf.BAD_WORD_LENGTH  # mean 16.8
    lenient = QualityThresholds(min_mean_word_length=1.0, max_mean_word_length=17.0)
    assert text_drop_reason(ASCII_GLYPHS, lenient) is None
    assert text_drop_reason(REDIRECT_TITLES, lenient) is None


def test_word_length_is_not_checked_for_cjk_dominant_text():
    # Unspaced CJK text has "words" as long as whole clauses; a run of
    # Han characters must not trigger bad_word_length.
    strict = QualityThresholds(min_mean_word_length=3.0, max_mean_word_length=4.0)
    assert text_drop_reason(HONG_LOU_MENG, strict) is None
    assert text_drop_reason(JAPANESE, strict) is None
    assert text_drop_reason(PRIDE_PARAGRAPH, strict) == qf.BAD_WORD_LENGTH


def test_sentences_drop_reason():
    assert sentences_drop_reason([], DEFAULT) == qf.TOO_FEW_SENTENCES
    assert sentences_drop_reason([PRIDE_PARAGRAPH], DEFAULT) == qf.TOO_FEW_SENTENCES
    assert sentences_drop_reason([PRIDE_PARAGRAPH, "  "], DEFAULT) == qf.TOO_FEW_SENTENCES
    assert sentences_drop_reason([PRIDE_PARAGRAPH, PRIDE_SHORT], DEFAULT) is None
    assert sentences_drop_reason([PRIDE_SHORT], QualityThresholds(min_sentences=1)) is None
