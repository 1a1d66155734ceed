"""BmpFastPattern: the BMP-only build is a speed-up that no text can observe; the shipped category runs are a
fresh scan's."""
import pathlib
import re
import sys
import unicodedata

import pytest

from pipelines.corpus import filters
from vocab import unicode_classes
from vocab.unicode_classes import BmpFastPattern, category_ranges, class_body

SEPARATORS = category_ranges(("Z", "P", "S", "C"))


def _not_separator(below: int) -> str:
    return f"[^{class_body(SEPARATORS, below)}]+"


WORD = BmpFastPattern(_not_separator)
WHOLE_WORD = re.compile(_not_separator(sys.maxunicode + 1))

# Every code point but the surrogates, which a str can hold but no text has.
ALL_CHARACTERS = "".join(chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF)
BMP_CHARACTERS = "".join(c for c in ALL_CHARACTERS if ord(c) < 0x10000)


def test_the_bmp_build_is_chosen_for_bmp_text_and_agrees_with_the_whole_class():
    assert WORD.on(BMP_CHARACTERS).pattern != WHOLE_WORD.pattern
    assert WORD.on(BMP_CHARACTERS).findall(BMP_CHARACTERS) == WHOLE_WORD.findall(BMP_CHARACTERS)


@pytest.mark.parametrize("astral", ["\U0001F600", "\U00020000", "\U000E0001", "\U0010FFFF"])
def test_one_astral_character_selects_the_whole_build(astral):
    text = f"word{astral}word"
    assert WORD.on(text).pattern == WHOLE_WORD.pattern
    # The BMP build's negated class would take an astral separator (an emoji, a tag) into the word.
    assert WORD.on(text).findall(text) == WHOLE_WORD.findall(text)


def test_all_of_unicode_through_the_whole_build():
    assert WORD.on(ALL_CHARACTERS).findall(ALL_CHARACTERS) == WHOLE_WORD.findall(ALL_CHARACTERS)


def test_the_filters_count_astral_letters_and_separators():
    # U+20000 is a Han letter of the no-space scripts: one word each; U+1F600 (an emoji) separates words.
    assert filters.count_words("alpha\U0001F600beta") == 2
    assert filters.count_words("\U00020000\U00020001 word") == 3
    # U+1D400 (mathematical bold A) is a letter; U+1F600 is not.
    long_words = " ".join(["\U0001D400bcdef"] * 30)
    assert filters.text_drop_reason(long_words, filters.QualityThresholds()) is None
    emoji = " ".join(["\U0001F600\U0001F600\U0001F600a"] * 30)
    assert filters.text_drop_reason(emoji, filters.QualityThresholds()) == filters.TOO_MANY_NON_LETTERS


# --------------------------------------------------------------------------
# The category runs shipped in vocab/unidata
# --------------------------------------------------------------------------

UNIDATA = pathlib.Path(unicode_classes.__file__).parent / "unidata"


# The supported Pythons' versions ship; another interpreter scans (slower, the same classes).
running_version_ships = pytest.mark.skipif(
    unicode_classes.shipped_category_runs(unicodedata.unidata_version) is None,
    reason=f"no category runs ship for Unicode {unicodedata.unidata_version} (`python -m vocab.unidata` writes them)")


@running_version_ships
def test_the_running_version_ships_and_equals_a_fresh_scan():
    shipped = unicode_classes.shipped_category_runs(unicodedata.unidata_version)
    scanned = unicode_classes.scan_category_runs()
    assert shipped == scanned
    assert unicode_classes.category_runs() == scanned


@running_version_ships
def test_the_shipped_module_is_what_the_generator_writes(tmp_path):
    written = unicode_classes.write_unidata_module(tmp_path)
    shipped = UNIDATA / written.name
    assert shipped.read_text(encoding="utf-8") == written.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(UNIDATA.glob("v*.py")), ids=lambda path: path.stem)
def test_every_shipped_module_covers_all_code_points_once(path):
    version = path.stem[1:].replace("_", ".")
    runs = unicode_classes.shipped_category_runs(version)
    assert runs[0][0] == 0 and runs[-1][1] == sys.maxunicode
    assert all(end + 1 == next_start for (_, end, _), (next_start, _, _) in zip(runs, runs[1:]))
    assert all(first <= last for first, last, _ in runs)
    # Runs are maximal: neighbours differ, and every category is one of Unicode's.
    assert all(a[2] != b[2] for a, b in zip(runs, runs[1:]))
    assert {category for _, _, category in runs} <= set(
        "Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf Cs Co Cn".split())


def test_a_version_without_shipped_runs_is_scanned(monkeypatch):
    assert unicode_classes.shipped_category_runs("1.0.0") is None
    monkeypatch.setattr(unicodedata, "unidata_version", "1.0.0")
    monkeypatch.setattr(unicode_classes, "scan_category_runs", lambda: "scanned")
    assert unicode_classes.category_runs.__wrapped__() == "scanned"


def test_a_shipped_module_of_another_version_is_refused(monkeypatch):
    # A module named for one version that holds another's data must not pass for it.
    running = unicode_classes.unidata_module_name(unicodedata.unidata_version)
    monkeypatch.setattr(unicode_classes, "unidata_module_name", lambda _: running)
    with pytest.raises(ImportError, match=f"holds Unicode {unicodedata.unidata_version}, not 1.0.0"):
        unicode_classes.shipped_category_runs("1.0.0")


def test_encoded_runs_decode_to_themselves():
    runs = ((0, 0x40, "Cc"), (0x41, 0x10FFFE, "Lu"), (sys.maxunicode, sys.maxunicode, "Cn"))
    encoded = unicode_classes.encode_category_runs(runs)
    assert encoded == "0Cc 41Lu 10ffffCn"
    assert unicode_classes.decode_category_runs(encoded) == runs
