"""Tests for pipelines/corpus/wikitext/templates.py: value and date templates render to their text."""
from __future__ import annotations

import pytest

from pipelines.corpus.wikitext.mwparserfromhell_cleaner import MwparserfromhellCleaner


def clean(text: str, language: str = "en", title: str = "") -> str:
    return MwparserfromhellCleaner().clean(text, title=title, language=language)


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
