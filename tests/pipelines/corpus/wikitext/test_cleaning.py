"""Tests for pipelines/corpus/wikitext/cleaning.py on real articles (tests/data/wikitext,
see SOURCES.md there) and on small synthetic wikitext cases."""
from __future__ import annotations

import pickle
import re

import pytest

from pipelines.corpus.wikitext.cleaning import (
    CLEANERS,
    MwparserfromhellCleaner,
    WikiExtractorCleaner,
    make_cleaner,
    markup_residue,
    regex_strip,
)
from tests.support import paths

DATA = paths.DATA / "wikitext"

# file -> (language, a prose sentence both cleaners must keep,
#          texts that live only in dropped parts: non-prose sections,
#          categories, references)
ARTICLES = {
    "enwiki-Albedo.wiki": (
        "en",
        "The term was introduced into optics by Johann Heinrich Lambert in his 1760 work",
        ["Solar radiation management", "Lunar Albedo"],
    ),
    "enwiki-Aardwolf.wiki": (
        "en",
        "The aardwolf is generally classified with the Hyaenidae, though it was "
        "formerly placed into the family",
        ["Animal Diversity Web", "Carnivorans of Africa", "Animals described in 1783"],
    ),
    "enwiki-Andorra.wiki": (
        "en",
        "Andorra retained its medieval institutions and rural culture largely "
        "unchanged during this period.",
        ["Official governmental site", "Outline of Andorra", "Liberal democracies"],
    ),
    "jawiki-Taito-ku.wiki": (
        "ja",
        "1947年に旧下谷区と旧浅草区が合併して誕生した。",
        ["日本の地方公共団体一覧", "健康都市連合"],
    ),
    "ukwiki-Metr.wiki": (
        "uk",
        "Таке означення було прийняте, виходячи з тих міркувань, що швидкість "
        "світла є фундаментальною фізичною константою",
        ["Порядки величин (довжина)", "Основні одиниці SI"],
    ),
    "thwiki-Berlin.wiki": (
        "th",
        "เบอร์ลินเป็นหนึ่งในศูนย์กลางที่มีอิทธิพลที่สุดของยุโรป",
        ["นิตยสารเบอร์ลินภาษาอังกฤษ", "เมืองในประเทศเยอรมนี"],
    ),
    "frwiki-Autriche.wiki": (
        "fr",
        "Les trois plus grandes villes sont, dans l'ordre, Vienne, Graz et Linz.",
        ["Portail de l'administration autrichienne"],
    ),
    "arwiki-Berlin.wiki": (
        "ar",
        "برلين هي العاصمة الفيدرالية لجمهورية ألمانيا الاتحادية، وإحدى ولايات ألمانيا الست عشرة",
        ["المجلس الألماني للنساء", "أماكن مأهولة أسست في القرن 13"],
    ),
}

RESIDUE = ["{{", "}}", "[[", "]]", "<ref", "{|", "|}", "&nbsp;", "'''", "==",
           "thumb|", "Category:", "Kategorie:", "Catégorie:", "Категорія:",
           "Категория:", "カテゴリ:", "Categoría:", "تصنيف:", "หมวดหมู่:",
           "File:", "Fichier:", "ファイル:", "Файл:"]


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n") if text else []


@pytest.fixture(scope="module")
def mw() -> MwparserfromhellCleaner:
    return make_cleaner("mwparserfromhell")


def clean(text: str, language: str = "en", title: str = "") -> str:
    return MwparserfromhellCleaner().clean(text, title=title, language=language)


def assert_paragraph_format(text: str) -> None:
    assert "\n\n\n" not in text
    assert text == text.strip()
    for paragraph in paragraphs(text):
        assert paragraph.strip() == paragraph and paragraph
        assert "\n" not in paragraph


# ---------------------------------------------------------------------------
# Real articles, both cleaners

@pytest.mark.parametrize("cleaner_name", CLEANERS)
@pytest.mark.parametrize("article", sorted(ARTICLES))
def test_real_article_keeps_prose_and_leaves_no_markup(cleaner_name, article):
    language, sentence, _ = ARTICLES[article]
    wikitext = read(article)
    out = make_cleaner(cleaner_name).clean(wikitext, title="", language=language)
    assert sentence in out
    for marker in RESIDUE:
        assert marker not in out, (marker, out[max(0, out.find(marker) - 80):out.find(marker) + 80])
    assert not re.search(r"</?(?:ref|div|span|small|sup|sub|br|math|gallery|table)\b", out)
    assert_paragraph_format(out)
    assert 0 < len(out) < len(wikitext)


@pytest.mark.parametrize("article", sorted(ARTICLES))
def test_real_article_drops_non_prose_sections_and_categories(mw, article):
    language, _, absent = ARTICLES[article]
    wikitext = read(article)
    out = mw.clean(wikitext, language=language)
    for text in absent:
        assert text in wikitext  # the check can fail: the text is really there
        assert text not in out
    assert markup_residue(out) == 0


def test_real_article_renders_convert_and_lang_templates(mw):
    aardwolf = mw.clean(read("enwiki-Aardwolf.wiki"), language="en")
    assert "The aardwolf is about 55 to 80 cm long" in aardwolf
    assert "An adult aardwolf weighs approximately 7–10 kg" in aardwolf
    andorra = mw.clean(read("enwiki-Andorra.wiki"), language="en")
    assert andorra.startswith(
        "Andorra, officially the Principality of Andorra (Principat d'Andorra), also called")
    assert "having an area of 468 km² (181 sq mi)" in andorra  # &nbsp; and <sup>2</sup>
    autriche = mw.clean(read("frwiki-Autriche.wiki"), language="fr")
    assert "Son parcours en Autriche s'étend sur 350 km." in autriche
    assert "25000 km de routes régionales (Landesstraßen) ;" in autriche
    assert "une superficie de 10236 km²" in autriche


def test_real_article_keeps_list_items_as_paragraphs(mw):
    out = mw.clean(read("jawiki-Taito-ku.wiki"), language="ja")
    item = "1947年（昭和22年）3月15日 - 東京都行政区の下谷区と浅草区が合併し、台東区が誕生。"
    assert item in paragraphs(out)
    # WikiExtractor drops list items: the reason this cleaner exists
    assert item not in WikiExtractorCleaner().clean(read("jawiki-Taito-ku.wiki"))


# ---------------------------------------------------------------------------
# Synthetic cases, mwparserfromhell cleaner

@pytest.mark.parametrize("wikitext, expected", [
    ("It is {{convert|5|km|mi}} long.", "It is 5 km long."),
    ("It is {{cvt|5|km}} long.", "It is 5 km long."),
    ("From {{convert|5|to|10|km|mi}} wide.", "From 5 to 10 km wide."),
    ("About {{convert|20|-|30|cm|in|abbr=on}} long.", "About 20–30 cm long."),
    ("An area of {{convert|468|km2|sqmi|abbr=on|0}}.", "An area of 468 km²."),
    ("Le mot {{lang|fr|texte}} ici.", "Le mot texte ici."),
    ("Le mot {{lang-fr|texte}} ici.", "Le mot texte ici."),
    ("Le mot {{langue|de|texte=Straße}} ici.", "Le mot Straße ici."),
    ("Kept {{nowrap|together now}}.", "Kept together now."),
    ("Kept {{nobr|x y}}.", "Kept x y."),
    ("Built {{circa|1200}}.", "Built c. 1200."),
    ("Built {{c.|1200}}.", "Built c. 1200."),
    ("Population {{formatnum:1234567}}.", "Population 1234567."),
    ("It cost {{US$|100}}.", "It cost US$100."),
    ("Half is {{frac|1|2}}.", "Half is 1/2."),
    ("Some {{sfrac|3|1|4}} cups.", "Some 3 1/4 cups."),
    ("The {{abbr|NASA|National Aeronautics and Space Administration}} rover.",
     "The NASA rover."),
    ("Paris ({{IPA-fr|paʁi|lang}}) is a city.", "Paris is a city."),
    ("Ça {{date|12|novembre|1918}} fut.", "Ça 12 novembre 1918 fut."),
    ("Au {{s|XII}} et au {{s-|XIX}}.", "Au XIIe siècle et au XIXe."),
    ("Haut de {{unité|3797|m}} et {{unité|83879|km|2}}.", "Haut de 3797 m et 83879 km²."),
    ("{{PAGENAME}} is a page.", "Foo is a page."),
])
def test_value_templates_are_rendered(wikitext, expected):
    assert clean(wikitext, title="Foo") == expected


@pytest.mark.parametrize("template, english, iso", [
    ("{{birth date|1950|3|5}}", "5 March 1950", "1950-03-05"),
    ("{{birth date and age|df=yes|1950|03|05}}", "5 March 1950", "1950-03-05"),
    ("{{death date and age|2000|1|2|1950|3|5}}", "2 January 2000", "2000-01-02"),
    ("{{start date|1990|7}}", "July 1990", "1990-07"),
    ("{{end date|1990}}", "1990", "1990"),
    ("{{dts|1777|12|16}}", "16 December 1777", "1777-12-16"),
    ("{{dts|July 4, 1776}}", "July 4, 1776", "July 4, 1776"),
])
def test_date_templates_are_rendered(template, english, iso):
    assert clean(f"Born {template} here.", language="en") == f"Born {english} here."
    assert clean(f"Born {template} here.", language="de") == f"Born {iso} here."


def test_links_emphasis_entities_and_tags_keep_their_text():
    out = clean(
        "'''Paris''' is [[Paris|the capital]] of [[France]]; see "
        "[http://x.org the site] or http://bare.example.org now. "
        "A&nbsp;B &ndash; C &amp; D. ''Italic'' <b>bold</b> <span style=\"x\">span</span> "
        "H<sub>2</sub>O <small>small</small> <nowiki>[[literal]]</nowiki>.")
    assert out == ("Paris is the capital of France; see the site or now. "
                   "A B – C & D. Italic bold span H2O small literal.")


def test_poem_and_blockquote_contents_are_kept():
    out = clean("Intro.\n<blockquote>To be, or not to be.</blockquote>\n<poem>Line one\nLine two</poem>")
    assert "To be, or not to be." in paragraphs(out)
    assert "Line one Line two" in out


@pytest.mark.parametrize("markup", [
    "<ref>Smith 2001, p. 3.</ref>",
    "<ref name=\"a\" />",
    "<ref name=b>{{cite web|url=http://x|title=T}}</ref>",
    "<references/>",
    "<!-- hidden comment -->",
    "<math>E = mc^2</math>",
    "<gallery>\nFile:A.jpg|Caption\n</gallery>",
    "<timeline>ImageSize = width:100</timeline>",
    "<syntaxhighlight lang=\"python\">print(1)</syntaxhighlight>",
    "<source lang=\"c\">int x;</source>",
    "<pre>preformatted</pre>",
    "<code>x = 1</code>",
    "<score>\\relative c' { c d e }</score>",
    "<imagemap>Image:Foo.jpg|200px</imagemap>",
    "<mapframe width=200 height=100 />",
    "__NOTOC__",
    "{{Infobox country|name=Foo|capital=[[Bar]]}}",
    "{{cite book|title=Ignored}}",
    "{{#if:x|y|z}}",
    "[[File:Foo.jpg|thumb|right|A caption with [[link]]]]",
    "[[Image:Foo.png|200px|Caption]]",
    "[[Datei:Foo.jpg|mini|Bildunterschrift]]",
    "[[Fichier:Foo.jpg|vignette|gauche|Légende]]",
    "[[Файл:Foo.jpg|міні|Підпис]]",
    "[[ファイル:Foo.jpg|thumb|説明]]",
    "[[Archivo:Foo.jpg|miniaturadeimagen|Pie]]",
    "[[Bestand:Foo.jpg|thumb|Bijschrift]]",
    "[[Plik:Foo.jpg|mały|Opis]]",
    "[[Imagen:Foo.jpg|thumb|Pie]]",
    "[[Slika:Unknown namespace.jpg|thumb|Caption]]",
    "[[Kép:Budapest.jpg]]",
    "[[Category:Things]]",
    "[[Kategorie:Dinge]]",
    "[[Catégorie:Choses]]",
    "[[Категорія:Речі]]",
    "[[Категория:Вещи]]",
    "[[カテゴリ:もの]]",
    "[[Categoría:Cosas]]",
    "[[Kategoria:Rzeczy]]",
    "[[تصنيف:أشياء]]",
    "[[หมวดหมู่:สิ่งของ]]",
    "[[de:Ding]]",
    "[[zh-yue:Foo]]",
    "{| class=\"wikitable\"\n|-\n! Header\n|-\n| cell || cell\n|}",
])
def test_non_prose_markup_is_dropped(markup):
    out = clean(f"Before text.\n{markup}\nAfter text.")
    assert out in ("Before text.\n\nAfter text.", "Before text. After text.")


def test_headings_and_non_prose_sections_are_dropped():
    wikitext = (
        "Lead paragraph.\n\n== History ==\nHistory prose.\n\n"
        "=== Early ===\nEarly prose.\n\n"
        "== See also ==\n* [[Other article]]\n\n"
        "== Geography ==\nGeography prose after See also.\n\n"
        "== Notes and references ==\n=== Notes ===\n{{reflist|group=n}}\n"
        "=== Citations ===\n* Citation text\n\n"
        "== External links ==\n* [http://example.org Example site]\n"
        "== Further reading ==\n* Some book\n")
    out = clean(wikitext)
    assert paragraphs(out) == ["Lead paragraph.", "History prose.", "Early prose.",
                               "Geography prose after See also."]


@pytest.mark.parametrize("heading", [
    "Einzelnachweise", "Weblinks", "Siehe auch", "Références", "Notes et références",
    "Liens externes", "Voir aussi", "Примітки", "Посилання", "Див. також",
    "Примечания", "Ссылки", "脚注", "出典", "参考文献", "関連項目", "外部リンク",
    "Referencias", "Enlaces externos", "Véase también", "المراجع", "وصلات خارجية",
    "อ้างอิง", "แหล่งข้อมูลอื่น", "Bibliography", "Sources", "References ",
])
def test_localized_non_prose_sections_are_dropped(heading):
    out = clean(f"Prose.\n== {heading} ==\n* Item in that section\nA line there too.\n")
    assert out == "Prose."


def test_literature_is_dropped_only_as_a_top_level_section():
    wikitext = ("== Культура ==\n=== Література ===\nПроза про літературу.\n"
                "== Література ==\n* Книга, 1999\n")
    assert clean(wikitext, language="uk") == "Проза про літературу."


def test_list_items_are_paragraphs_and_empty_ones_are_dropped():
    wikitext = ("Intro line\ncontinues here.\n"
                "* First item with [[Link|text]]\n"
                "** Nested item\n"
                "* {{cite web|title=only a template}}\n"
                "# Numbered item\n"
                "; Term\n"
                ": Definition\n"
                "Closing paragraph.")
    assert paragraphs(clean(wikitext)) == [
        "Intro line continues here.", "First item with text", "Nested item",
        "Numbered item", "Term", "Definition", "Closing paragraph."]


@pytest.mark.parametrize("wikitext, expected", [
    ("Foo ({{IPA|fuː}}; {{lang-de|}}) is a word.", "Foo is a word."),
    ("Foo (; , ) is a word.", "Foo is a word."),
    ("Foo ({{IPA|x}}, born 1900) was.", "Foo (born 1900) was."),
    ("A claim {{citation needed}}.", "A claim."),
    ("One , two .", "One, two."),
    ("Double  spaced   words.", "Double spaced words."),
    ("Text.\n\n, ; .\n\nMore.", "Text.\n\nMore."),
    ("東京（{{lang-en|Tokyo}}、）は都市。", "東京（Tokyo）は都市。"),
    ("Il dit : « oui » !", "Il dit : « oui » !"),
])
def test_residue_is_tidied(wikitext, expected):
    language = "fr" if "«" in wikitext else "en"
    assert clean(wikitext, language=language) == expected


def test_interlanguage_but_not_interwiki_or_namespace_like_titles():
    out = clean("See [[wikt:word|word]] and [[Star Wars: Episode I|the film]] "
                "and [[:Category:Foo|this category]].[[fr:Mot]]")
    assert out == "See word and the film and this category."


@pytest.mark.parametrize("wikitext", [
    "{{" * 10_000 + "x" + "}}" * 10_000,
    "{{" * 10_000 + "x",
    "[[" * 10_000 + "x",
    "[[" * 5_000 + "x" + "]]" * 5_000,
    "<ref>" * 10_000,
    "<div>" * 3_000 + "x",
    "{|\n" * 5_000,
    "{{a|[[b|<ref>{|\n" * 3_000,
    "[http://x " * 5_000,
    "''" * 10_000 + "x",
    "<!--" * 10_000,
    "\x00abc{{",
    "&#99999999999; &#x110000; &bogus;",
    "== " * 1000,
])
def test_pathological_input_never_raises(wikitext):
    for cleaner in (MwparserfromhellCleaner(), WikiExtractorCleaner()):
        out = cleaner.clean(wikitext)
        assert isinstance(out, str)
    out = MwparserfromhellCleaner().clean(wikitext)
    assert "{{" not in out and "[[" not in out and "<ref" not in out
    assert_paragraph_format(out)


def test_empty_input():
    for name in CLEANERS:
        assert make_cleaner(name).clean("") == ""
        assert make_cleaner(name).clean("{{stub}}\n[[Category:X]]") == ""


def test_regex_fallback_strips_markup():
    out = regex_strip("'''Foo''' is [[Bar|a bar]]{{cn}}.<ref>x</ref>\n== H ==\n* item\n"
                      "[[Category:Z]] [[File:A.jpg|thumb|cap]]")
    assert out == "Foo is a bar.\n\nitem"


def test_markup_residue_counts_markers():
    assert markup_residue("plain text, nothing left") == 0
    assert markup_residue("a {{b}} [[c]] <ref>") == 6
    assert markup_residue("x | y Category:Z") == 2


# ---------------------------------------------------------------------------
# Interface

def test_make_cleaner_names_and_unknown_name():
    assert CLEANERS == ("mwparserfromhell", "wikiextractor")
    for name in CLEANERS:
        assert make_cleaner(name).name == name
    with pytest.raises(ValueError) as error:
        make_cleaner("nope")
    assert "nope" in str(error.value)
    for name in CLEANERS:
        assert name in str(error.value)


@pytest.mark.parametrize("name", CLEANERS)
def test_cleaners_survive_pickling(name):
    from apache_beam.internal import pickler

    cleaner = make_cleaner(name)
    wikitext = read("enwiki-Aardwolf.wiki")
    expected = cleaner.clean(wikitext, language="en")  # used before pickling
    for restored in (pickle.loads(pickle.dumps(cleaner)),
                     pickler.loads(pickler.dumps(cleaner))):
        assert restored.name == name
        assert restored.clean(wikitext, language="en") == expected


def test_output_is_deterministic(mw):
    wikitext = read("frwiki-Autriche.wiki")
    assert mw.clean(wikitext, language="fr") == mw.clean(wikitext, language="fr")
