"""Tests for pipelines/corpus/wikitext/mwparserfromhell_cleaner.py (and the tree walker and paragraph
tidying it uses) on small synthetic wikitext cases."""
from __future__ import annotations

import pytest

from pipelines.corpus.wikitext.mwparserfromhell_cleaner import MwparserfromhellCleaner


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n") if text else []


def clean(text: str, language: str = "en", title: str = "") -> str:
    return MwparserfromhellCleaner().clean(text, title=title, language=language)


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
