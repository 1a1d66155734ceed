"""Tests for vocab.tokenization against the reference google-research/bert tokenizer.

The oracle is bert-tensorflow 1.0.4's `tokenization` (see tests/support/reference_bert.py);
every comparison checks both the BasicTokenizer output (sensitive to casing
and punctuation even where the uncased vocab maps a word to [UNK]) and the
FullTokenizer output. Text: the repo's own Gutenberg and Wikipedia samples,
hand-picked edge cases, every Unicode code point in a few contexts, and a
seeded random mix of scripts. Every comparison runs on both paths: the compiled
loop (vocab/_wordpiece.c) and the pure-Python one used without a C compiler.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import itertools
import pathlib
import pickle
import random
import sys
import unicodedata

import pytest

pytest.importorskip("bert", reason="the reference bert-tensorflow==1.0.4 is the test oracle")
pytest.importorskip("tensorflow")

import tensorflow as tf  # noqa: E402

from pipelines.corpus.readers.gutenberg import decode_book  # noqa: E402
from tests.support.paths import DATA  # noqa: E402
from tests.support.reference_bert import import_reference_tokenization  # noqa: E402
from vocab import tokenization  # noqa: E402
from vocab.tokenization import BasicTokenizer, FullTokenizer, VocabError, WordpieceTokenizer, load_vocab  # noqa: E402

VOCAB = str(DATA / "vocab" / "bert-base-uncased-vocab.txt")
PATHS = ["compiled", "python"]


@contextlib.contextmanager
def on_path(path: str):
    """Tokenizers built inside use the compiled loop, or the pure-Python path as without a C compiler."""
    if path == "compiled":
        assert tokenization._compiled is not None  # built by setup.py here and in CI
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokenization, "_compiled", None)
        yield


@pytest.fixture(params=PATHS)
def code_path(request):
    with on_path(request.param):
        yield request.param


@pytest.fixture(scope="module")
def reference():
    return import_reference_tokenization()


class Pair:
    """The reference and our tokenizer for one casing and path; `diff` compares them."""

    def __init__(self, reference, lower: bool, path: str) -> None:
        self.ref = reference.FullTokenizer(VOCAB, do_lower_case=lower)
        with on_path(path):
            self.ours = FullTokenizer(VOCAB, do_lower_case=lower)
        assert (self.ours._compiled_ids is not None) == (path == "compiled")
        assert (self.ours.basic_tokenizer._compiled is not None) == (path == "compiled")

    def diff(self, text: str) -> tuple | None:
        """None when equal, else (text, reference tokens, ours)."""
        expected = self.ref.basic_tokenizer.tokenize(text)
        got = self.ours.basic_tokenizer.tokenize(text)
        if expected == got:
            expected = self.ref.tokenize(text)
            got = self.ours.tokenize(text)
            if expected == got:
                ids = self.ref.convert_tokens_to_ids(expected)
                got = self.ours.encode(text)
                if ids == got:
                    return None
                expected = ids
        return text, expected, got

    def diffs(self, texts) -> list[tuple]:
        return [d for d in map(self.diff, texts) if d is not None]


@pytest.fixture(scope="module", params=list(itertools.product([True, False], PATHS)),
                ids=lambda p: f"{'uncased' if p[0] else 'cased'}-{p[1]}")
def pair(request, reference) -> Pair:
    return Pair(reference, *request.param)


def _report(diffs: list[tuple], total: int) -> str:
    shown = "\n".join(f"{t!r}\n  ref:  {e}\n  ours: {g}" for t, e, g in diffs[:5])
    return f"{len(diffs)} of {total} texts differ:\n{shown}"


# --------------------------------------------------------------------------
# Real multilingual text from tests/data
# --------------------------------------------------------------------------

GUTENBERG = sorted((DATA / "gutenberg").glob("*.txt"))
WIKITEXT = sorted((DATA / "wikitext").glob("*.wiki"))


def test_sample_files_present():
    assert len(GUTENBERG) >= 10 and len(WIKITEXT) >= 8


@pytest.mark.parametrize("path", GUTENBERG + WIKITEXT, ids=lambda p: p.name)
def test_repo_text_every_line_matches_reference(pair, path):
    data = path.read_bytes()
    text = decode_book(data) if path.suffix == ".txt" else data.decode("utf-8")
    lines = text.split("\n")
    diffs = pair.diffs(lines)
    assert not diffs, _report(diffs, len(lines))


# --------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------

EDGE_CASES = [
    "",
    " ",
    " \t\n\r\u3000\u00a0\u2028\u2029 ",
    "\x00",
    "\ufffd",
    "a\x00b\ufffdc",
    "control\x01\x07\x1b\x7fchars\x0b\x0c\x1c\x1d\x1e\x1f\x85x",
    "soft\u00adhyphen zero\u200bwidth\u200cnon\u200djoiner\u2060wj \ufeffbom \u202eRTL\u202c",
    # NFD or lower() of one character makes punctuation or a combining mark.
    "\u037e",
    "a\u037eb",
    "\u1fef",
    "x\u1fefy",
    "\u0387\u1fed\u1fee\u1ffd",
    "a\u2260b a\u226eb a\u226fb",
    "İstanbul İ",
    "DİYARBAKIR",
    "Straße STRASSE ß ẞ",
    "ﬁne ﬂow ﬀ ﬃ ﬄ Ǆ ǅ ǆ Ĳ",
    "K Å Ω",  # Kelvin, Angstrom, Ohm signs
    # Final sigma depends on the neighbours of Σ inside the whitespace token.
    "ΟΔΥΣΣΕΥΣ. ΟΔΥΣΣΕΥΣ.Α ΑΣ'Β Σ ΑΣ\u0301 Α\u00adΣ ΑΣ中 中Σ Α Σ",
    "naïve café Ångström Łódź Dvořák Ærø",
    "e\u0301 e\u0301\u0327 \u0301\u0301 a\u0308\u0304",
    "combining after space \u0301x and after punct .\u0301 and after CJK 中\u0301",
    "enclosing a\u20dd \u20dd spacing mark \u0915\u093f",
    # CJK range edges and neighbours (the reference's exact ranges).
    "".join(
        chr(cp)
        for first, last in tokenization._CJK_RANGES
        for cp in (first - 1, first, first + 1, last - 1, last, last + 1)
    ),
    "中文字ab中c 漢字かなカナ한국어 ＡＢＣ１２３！？",
    "\ufa6c\ufacf\ufad5 \U0002f800\U0002fa1d",  # compatibility ideographs; NFD to astral
    # Punctuation of every general category, ASCII symbols counted as punctuation.
    "a_b a-b a(b)c a[b]{c} «a» ‹b› a‐b a—b a“b”c ¡a! ¿b? a…b a·b a¶b a§b a‰b",
    "$^`|~+<=>@#%&*\\/ £€¥©®°±×÷",
    "don't won’t \"quoted\" 'single' —dash– e.g. U.S.A. 3.14 1,000,000 $5.00",
    "emoji 😀👍🏽👨‍👩‍👧 🇫🇷 ❤️ 🀄",
    "\U0001d400\U0001d41a \U00010400\U00010428",  # math bold letters, Deseret case pair
    "\ud800 lone \udfff surrogates",
    "Ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ",
    "Ελληνικά Русский українська עברית العربية ไทย हिन्दी 日本語",
    "a" * 199,
    "a" * 200,
    "a" * 201,
    "b" * 500,
    "a\u0301" * 150,  # 300 characters before accent stripping, 150 after
    "a\u0301" * 101,
    ("x" * 150 + ".") * 3,
    ("unaffable" * 30) + " tail",
    "unwanted running unwantedX [UNK] [CLS] [MASK] ##ing ## #",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_match_reference(pair, text):
    assert pair.diff(text) is None


@pytest.mark.parametrize(
    "text, lower, expected",
    [
        ("\u037e", True, [";"]),  # GREEK QUESTION MARK -> ";" by NFD
        ("x\u1fefy", True, ["x", "`", "y"]),  # GREEK VARIA -> "`", ASCII punctuation
        ("a\u2260b", True, ["a", "=", "b"]),  # NOT EQUAL TO -> "=" + U+0338
        ("a\u2260b", False, ["a\u2260b"]),  # no NFD when cased: a symbol, not punctuation
        ("İstanbul", True, ["istanbul"]),  # lower() gives i + U+0307, stripped
        ("ΟΔΥΣΣΕΥΣ.", True, ["οδυσσευς", "."]),  # final sigma before the split
        ("a\x00b\ufffdc", True, ["abc"]),  # dropped, not turned into spaces
        ("中文a", False, ["中", "文", "a"]),
        ("\u2028x\u2029y", False, ["x", "y"]),  # str.split() whitespace
    ],
)
def test_basic_tokenizer_known_outputs(text, lower, expected, code_path):
    assert BasicTokenizer(do_lower_case=lower).tokenize(text) == expected


def test_word_length_is_counted_after_basic_tokenization(code_path):
    uncased = FullTokenizer(VOCAB, do_lower_case=True)
    cased = FullTokenizer(VOCAB, do_lower_case=False)
    assert uncased.tokenize("a" * 200) != ["[UNK]"]
    assert uncased.tokenize("a" * 201) == ["[UNK]"]
    # 300 characters, 150 once the accents are stripped.
    assert uncased.tokenize("a\u0301" * 150) != ["[UNK]"]
    assert cased.tokenize("a\u0301" * 150) == ["[UNK]"]


# --------------------------------------------------------------------------
# Every code point
# --------------------------------------------------------------------------


def _contexts(char: str) -> str:
    # Alone, inside and at both ends of a word, doubled, next to a combining
    # mark, punctuation, CJK, and around a Greek sigma (case context).
    return (
        f"a{char}b {char} A{char} {char}B ΑΣ{char} Σ{char}α {char}\u0301 x{char}{char}y "
        f".{char}. 中{char}文 İ{char}Σ {char}ς"
    )


def _code_points() -> list[int]:
    """All of the BMP; of the astral planes every assigned non-letter, every
    97th letter (ideograph blocks are uniform) and both ends of each CJK range."""
    points = list(range(0x10000))
    for cp in range(0x10000, 0x110000):
        category = unicodedata.category(chr(cp))
        if category not in ("Cn", "Co", "Lo") or (category == "Lo" and cp % 97 == 0):
            points.append(cp)
    for first, last in tokenization._CJK_RANGES:
        points += [first - 1, first, last, last + 1]
    return sorted(set(points))


def test_every_code_point_in_context_matches_reference(pair):
    points = _code_points()
    chunks = [points[i : i + 256] for i in range(0, len(points), 256)]
    bad = []
    for chunk in chunks:
        if pair.diff(" ".join(_contexts(chr(cp)) for cp in chunk)) is not None:
            bad += [hex(cp) for cp in chunk if pair.diff(_contexts(chr(cp))) is not None]
            if len(bad) > 20:
                break
    assert not bad, f"code points that differ: {bad}"


def test_unicode_facts_the_fast_path_relies_on():
    """Checked over all code points for the running Python's unicodedata."""
    cjk = tokenization._CJK_RANGES

    def is_cjk(ch: str) -> bool:
        return any(first <= ord(ch) <= last for first, last in cjk)

    spaces = [chr(cp) for cp in range(0x110000) if chr(cp).isspace()]
    # Every Zs is str.split() whitespace, so splitting never needs the Zs -> " " map.
    assert all(chr(cp).isspace() for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Zs")
    for sep in spaces + ["\u4e00", "\u9fff", "\U00020000"]:
        # Neither cased nor case-ignorable: lower() of the whole text sees the
        # same final-sigma context as lower() of each token.
        assert ("ΑΣ" + sep + "Α").lower() == "ας" + sep.lower() + "α"
        assert ("Α" + sep + "Σ").lower() == "α" + sep.lower() + "σ"
    tables = tokenization._tables()
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        mapped = unicodedata.normalize("NFD", char.lower())
        # CJK stays CJK and nothing else becomes CJK under lower() + NFD.
        assert all(map(is_cjk, mapped)) if is_cjk(char) else not any(map(is_cjk, mapped)), hex(cp)
        # BMP characters that map to astral ones take the full path.
        if cp < 0x10000 and max(mapped) > "\uffff":
            assert tables.astral_re.search(char), hex(cp)


# --------------------------------------------------------------------------
# Random fuzz over a mix of scripts
# --------------------------------------------------------------------------

_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    " \t\n\r\u00a0\u2000\u2009\u202f\u3000\u2028\u2029\x0b\x0c\x1c\x85",
    "\x00\x01\x1b\x7f\u00ad\u200b\u200c\u200d\u2060\ufeff\ufffd\u202e\U000e0001",
    "àáâãäåæçèéêëìíîïñòóöøùúüýÿÀÉÎÕÜßẞİıĲŁłŒœ",
    "\u0300\u0301\u0302\u0308\u0327\u0338\u20dd\u093f\u0903",
    "ΑΒΓΔΣσςΩωάέήίόύώΐΰ\u037e\u0387\u1fef\u1fed\u1fee\u1ffd",
    "АБВГДЕЁЖЗИЙКабвгдеёжзийкЇїЄєІі",
    "中文字漢語的一是不了人我在有他这为之大来以个\u3400\u4dbf\u9fff\uf900\ufa6c\ufaff",
    "\U00020000\U0002a6df\U0002a700\U0002b81f\U0002ceaf\U0002f800\U0002fa1f\U00030000",
    "ぁあいうえおかきくけこアイウエオカキクケコー。、「」・",
    "한국어조선말가나다",
    "ภาษาไทยกขคงจฉ",
    "العربيةابتثجحخ،؛؟",
    "हिन्दीकखगघ।",
    "😀👍🏽❤️\u200d🔥🇫🇷🀄\U0001d400\U0001d41a\U00010400\U00010428",
    "ﬁﬂﬀﬃﬄǄǅǆ\u2260\u226e\u226f\u212a\u212b\u2126…‰‐–—“”‘’«»‹›¡¿¶§·",
    "\ud800\udfff",
]


def _fuzz_texts(count: int) -> list[str]:
    rng = random.Random(1234)
    vocab_words = [w for w in load_vocab(VOCAB) if not w.startswith("[")]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 12)):
            kind = rng.random()
            if kind < 0.3:
                word = rng.choice(vocab_words)
                parts.append(word.upper() if rng.random() < 0.3 else word)
            elif kind < 0.97:
                pools = rng.sample(_POOLS, rng.randint(1, 3))
                parts.append("".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 12))))
            else:  # near and past max_input_chars_per_word
                parts.append(rng.choice("aé中ß") * rng.randint(190, 230))
        texts.append(rng.choice(["", " ", "\n"]).join(parts))
    return texts


def test_random_multiscript_fuzz_matches_reference(pair):
    texts = _fuzz_texts(4000)
    diffs = pair.diffs(texts)
    assert not diffs, _report(diffs, len(texts))


# --------------------------------------------------------------------------
# WordPiece
# --------------------------------------------------------------------------

SMALL_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]


def test_wordpiece_small_vocab_matches_reference(reference):
    vocab = {token: i for i, token in enumerate(SMALL_VOCAB)}
    ours = WordpieceTokenizer(vocab=vocab)
    ref = reference.WordpieceTokenizer(vocab=vocab)
    assert ours.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert ours.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
    assert ours.tokenize("") == []
    for text in ["unwanted running", "unwantedX running", "", " wa  want,", "wawant ##ed", "a" * 201]:
        assert ours.tokenize(text) == ref.tokenize(text)


def test_wordpiece_real_vocab_matches_reference(reference):
    vocab = load_vocab(VOCAB)
    ours = WordpieceTokenizer(vocab=vocab, max_input_chars_per_word=12)
    ref = reference.WordpieceTokenizer(vocab=vocab, max_input_chars_per_word=12)
    words = ["unaffable", "tokenization", "hippopotomonstrosesquipedalian", "##ing", "12345678901", "x" * 12]
    words += ["x" * 13, "straße", "中文", "😀", "naïve"]
    for word in words:
        assert ours.tokenize(word) == ref.tokenize(word), word


# Non-ASCII chunks (whitespace-separated) recurring in other contexts, so that the compiled path's chunk cache
# answers: next to ASCII chunks, at both ends of a line, joined by the controls that cleaning drops (which do
# not separate chunks although str.isspace() holds for some), around the 64-character limit on cached chunks,
# normalizing to nothing, and with final-sigma contexts.
CHUNK_TEXTS = [
    "café CAFÉ café, (café) café. café",
    "café x café\x0bcafé café\x0ccafé café\x1ccafé café\x85café café\u00adcafé café\u200bcafé",
    "Ünïcode ünïcode ÜNÏCODE «ünïcode» ünïcode",
    "ΑΣ ΑΣ ΑΣ. ΑΣ\x0bΑ ΑΣ\x85Α Σ ΑΣ",
    "\u0301 \u0301\u0301 é\u0301 x\u0301 \x0b\u0301 \u0301",
    "中文 中文字 a中文 中文 ΑΣ中 ΑΣ中",
    "é" * 63 + " " + "é" * 64 + " " + "é" * 65 + " " + "é" * 64 + " " + "é" * 65 + " " + "é" * 63,
    ("Éa" * 40 + " ") * 3,
    "\u3000café\u3000\u00a0ΑΣ\u2028ΑΣ\u2029ΑΣ\u205fΑΣ\u1680",
]


@pytest.mark.parametrize("repeat", [1, 2, 3])
def test_recurring_chunks_match_reference(pair, repeat):
    texts = CHUNK_TEXTS * repeat + [" ".join(CHUNK_TEXTS), "\n".join(reversed(CHUNK_TEXTS))]
    diffs = pair.diffs(texts)
    assert not diffs, _report(diffs, len(texts))


@pytest.mark.skipif(tokenization._compiled is None, reason="the compiled loop is not built")
def test_compiled_chunks_normalized_alone_where_normalizing_makes_spaces():
    # The chunks a text's cache lacks go to `normalize` joined by spaces and are split back at its spaces;
    # a `normalize` that makes spaces of its own makes the parts miscount, and each chunk goes alone.
    calls = []

    def normalize(text: str) -> str:
        calls.append(text)
        return tokenization._normalize_lower(text).replace("e", " e ")

    encoder = tokenization._compiled.Encoder(
        lower=True, normalize=normalize, isolated=tokenization._isolated_bitmap(), lookup={}, ids=False,
        cache={}, chunks={}, cache_limit=100, max_chars=200, unk_token="[UNK]")
    text = "ça été x Élevé été"
    expected = ["ca", "e", "t", "e", "x", "e", "l", "e", "v", "e", "e", "t", "e"]
    assert encoder.basic(text) == expected
    assert calls == ["ça été Élevé été", "ça", "été", "Élevé", "été"]
    assert encoder.basic(text) == expected and len(calls) == 5  # all cached


def test_small_cache_is_cleared_and_stays_correct(reference, code_path):
    vocab = load_vocab(VOCAB)
    ours = WordpieceTokenizer(vocab=vocab, cache_size=5)
    ref = reference.WordpieceTokenizer(vocab=vocab)
    text = " ".join(_fuzz_texts(200))
    assert ours.tokenize(text) == ref.tokenize(text)
    assert len(ours._cache) <= 5
    full = FullTokenizer.from_vocab(vocab, cache_size=5)
    expected = reference.FullTokenizer(VOCAB).tokenize(text)
    assert full.tokenize(text) == expected and full.encode(text) == full.convert_tokens_to_ids(expected)
    assert len(full.wordpiece_tokenizer._cache) <= 5 and len(full._id_cache) <= 5
    assert len(full._chunk_cache) <= 5 and (code_path == "python" or full._chunk_cache)
    basic = pickle.loads(pickle.dumps(BasicTokenizer(cache_size=5)))  # as a pipeline worker gets it
    assert basic.cache_size == 5 and basic.tokenize(text) == reference.BasicTokenizer(do_lower_case=True).tokenize(text)
    assert len(basic._chunk_cache) <= 5 and (code_path == "python" or basic._chunk_cache)


def _random_vocab(rng: random.Random) -> list[str]:
    """A small vocab whose entries share prefixes, so the greedy search often stops at a shorter entry."""
    letters = "abcé中"
    bodies = {"".join(rng.choice(letters) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(3, 30))}
    tokens = [*tokenization.SPECIAL_TOKENS]
    for body in sorted(bodies):
        tokens.append(("##" + body) if rng.random() < 0.5 else body)
    return tokens


def test_greedy_longest_match_on_random_vocabs_matches_reference(reference, tmp_path, code_path):
    rng = random.Random(99)
    file = tmp_path / "vocab.txt"
    for _ in range(60):
        tokens = _random_vocab(rng)
        file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
        ref = reference.FullTokenizer(str(file), do_lower_case=False)
        ours = FullTokenizer.from_vocab({token: i for i, token in enumerate(tokens)}, do_lower_case=False)
        words = ["".join(rng.choice("abcé中") for _ in range(rng.randint(1, 12))) for _ in range(40)]
        text = " ".join(words + ["#a", "a##b", "x" * 201, "é" * 200])
        expected = ref.tokenize(text)
        assert ours.tokenize(text) == expected, tokens
        assert ours.encode(text) == ref.convert_tokens_to_ids(expected), tokens


@pytest.mark.parametrize("tokens", [
    ["[UNK]", "a", "ab", "b"],  # no word-internal pieces: a word is one piece or unknown
    ["[UNK]", "a", "##a", "##", "#", "##b", ""],  # "##" and "" themselves never match an empty piece
    ["[UNK]", "é", "##é", "##éé", "中", "##中", "😀", "##😀", "##😀😀😀"],  # 2- and 4-byte strings
])
def test_greedy_search_edge_vocabs_match_reference(reference, code_path, tokens):
    vocab = {token: i for i, token in enumerate(tokens)}
    ours = FullTokenizer.from_vocab(vocab, do_lower_case=False)
    basic = reference.BasicTokenizer(do_lower_case=False)
    ref = reference.WordpieceTokenizer(vocab=vocab)
    # Words of more than 64 pieces too (the compiled search keeps up to 64 on the stack).
    words = ["a", "ab", "aab", "abab", "b", "#", "##", "a#", "é" * 63, "é" * 64, "é" * 65, "é" * 199, "中" * 130,
             "😀" * 70, "😀" * 201, "a" * 64, "a" * 65, "a" * 200, "a" * 201, "éa"]
    for word in words:
        expected = [piece for token in basic.tokenize(word) for piece in ref.tokenize(token)]
        assert ours.tokenize(word) == expected, word
        assert ours.encode(word) == [vocab[piece] for piece in expected], word


def test_compiled_and_python_paths_agree_on_words_and_ids():
    texts = _fuzz_texts(500) + EDGE_CASES
    outputs = []
    for code_path in PATHS:
        with on_path(code_path):
            tokenizer = FullTokenizer(VOCAB)
            basic = BasicTokenizer(do_lower_case=False)
        outputs.append((
            [tokenizer.encode_words(text) for text in texts],
            tokenizer.encode_batch(texts),
            tokenizer.tokenize_batch(texts),
            [basic.tokenize(text) for text in texts],
        ))
    assert outputs[0] == outputs[1]


def test_missing_unknown_token_raises_on_both_paths(code_path):
    tokenizer = FullTokenizer.from_vocab({"a": 0, "##b": 1})
    assert tokenizer.tokenize("ab x") == ["a", "##b", "[UNK]"]
    assert tokenizer.encode("ab") == [0, 1]
    with pytest.raises(KeyError):
        tokenizer.encode("ab x")


# --------------------------------------------------------------------------
# load_vocab
# --------------------------------------------------------------------------


def test_load_vocab_matches_reference(reference):
    ours = load_vocab(VOCAB)
    ref = reference.load_vocab(VOCAB)
    assert list(ours.items()) == list(ref.items())
    assert len(ours) == 30522 and ours["[UNK]"] == 100 and ours["[MASK]"] == 103


def test_load_vocab_whitespace_and_blank_lines_like_reference(reference, tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\r\n  [UNK] \n\n[CLS]\t\n[SEP]\n[MASK]\nhello world\nlast")
    ours = load_vocab(str(path))
    assert list(ours.items()) == list(reference.load_vocab(str(path)).items())
    assert ours[""] == 2 and ours["hello world"] == 6 and ours["last"] == 7


def _write(tmp_path, content: bytes) -> str:
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    return str(path)


def test_load_vocab_duplicate_names_file_and_lines(tmp_path):
    path = _write(tmp_path, b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nof\nthe\n")
    with pytest.raises(VocabError, match=r"vocab\.txt, line 8: token 'the' duplicates line 6"):
        load_vocab(path)


def test_load_vocab_missing_special_tokens_listed(tmp_path):
    path = _write(tmp_path, b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
    with pytest.raises(VocabError, match=r"vocab\.txt lacks the special token\(s\) \[MASK\]"):
        load_vocab(path)
    path = _write(tmp_path, b"the\n")
    with pytest.raises(VocabError, match=r"\[UNK\] \[CLS\] \[SEP\] \[MASK\]"):
        load_vocab(path)


def test_load_vocab_empty_and_undecodable(tmp_path):
    with pytest.raises(VocabError, match="is empty"):
        load_vocab(_write(tmp_path, b""))
    with pytest.raises(VocabError, match="line 2: not valid UTF-8"):
        load_vocab(_write(tmp_path, b"[UNK]\ncaf\xe9\n"))
    with pytest.raises(VocabError, match="cannot read vocab file"):
        load_vocab(str(tmp_path / "missing.txt"))


def test_load_vocab_reads_through_tf_gfile():
    # gs:// needs a server; TF's in-memory filesystem shows the path goes
    # through tf.io.gfile and not open().
    path = "ram://bertprep-test/vocab.txt"
    tf.io.gfile.makedirs("ram://bertprep-test")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(pathlib.Path(VOCAB).read_bytes())
    assert load_vocab(path) == load_vocab(VOCAB)
    assert FullTokenizer(path).tokenize("Hello, world!") == ["hello", ",", "world", "!"]


# --------------------------------------------------------------------------
# FullTokenizer interface
# --------------------------------------------------------------------------


def test_batch_methods_equal_per_text(code_path):
    tokenizer = FullTokenizer(VOCAB)
    texts = _fuzz_texts(300) + EDGE_CASES
    expected = [tokenizer.tokenize(text) for text in texts]
    assert tokenizer.tokenize_batch(texts) == expected
    assert tokenizer.encode_batch(texts) == [tokenizer.convert_tokens_to_ids(t) for t in expected]
    ids = tokenizer.encode_batch(texts)
    assert [tokenizer.convert_ids_to_tokens(i) for i in ids] == expected
    assert tokenizer.tokenize_batch([]) == [] and tokenizer.encode_batch([]) == []


def test_from_vocab_and_cache_size_survive_pickling(code_path):
    tokenizer = FullTokenizer.from_vocab(load_vocab(VOCAB), do_lower_case=False, cache_size=7)
    texts = _fuzz_texts(50)
    expected = FullTokenizer(VOCAB, do_lower_case=False).tokenize_batch(texts)
    assert tokenizer.tokenize_batch(texts) == expected
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone.cache_size == 7 and clone.tokenize_batch(texts) == expected
    assert len(clone.wordpiece_tokenizer._cache) <= 7


def test_vocab_attributes_and_conversions(reference):
    ours = FullTokenizer(VOCAB)
    ref = reference.FullTokenizer(VOCAB)
    assert ours.vocab == dict(ref.vocab) and ours.inv_vocab == ref.inv_vocab
    tokens = ours.tokenize("The quick brown fox, unaffably.")
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    with pytest.raises(KeyError):
        ours.convert_tokens_to_ids(["not-a-token"])


def test_bytes_input_like_reference(reference, code_path):
    ours = FullTokenizer(VOCAB)
    ref = reference.FullTokenizer(VOCAB)
    data = "Café “quoted”".encode() + b"\xff\xfe broken"
    assert ours.tokenize(data) == ref.tokenize(data)
    with pytest.raises(ValueError, match="Unsupported string type"):
        ours.tokenize(42)


@pytest.mark.parametrize("lower", [True, False])
def test_pickle_round_trip_is_small(lower, code_path):
    tokenizer = FullTokenizer(VOCAB, do_lower_case=lower)
    fresh = len(pickle.dumps(tokenizer))
    texts = _fuzz_texts(300)
    expected = tokenizer.tokenize_batch(texts)
    tokenizer.encode_batch(texts)  # fill both caches
    data = pickle.dumps(tokenizer)
    assert len(data) == fresh < 300_000  # the caches stay behind
    clone = pickle.loads(data)
    assert clone.do_lower_case == lower
    assert clone.vocab == tokenizer.vocab and clone.inv_vocab == tokenizer.inv_vocab
    assert clone.tokenize_batch(texts) == expected
    assert clone.encode_batch(texts) == tokenizer.encode_batch(texts)


def test_component_tokenizers_pickle(code_path):
    vocab = {token: i for i, token in enumerate(SMALL_VOCAB)}
    wordpiece = WordpieceTokenizer(vocab=vocab)
    wordpiece.tokenize("unwanted running")
    clone = pickle.loads(pickle.dumps(wordpiece))
    assert clone.vocab == vocab and clone.tokenize("unwanted running") == wordpiece.tokenize("unwanted running")
    scrambled = {token: 2 * i + 7 for i, token in enumerate(SMALL_VOCAB)}  # ids not 0..n-1
    assert pickle.loads(pickle.dumps(WordpieceTokenizer(vocab=scrambled))).vocab == scrambled
    assert pickle.loads(pickle.dumps(WordpieceTokenizer(vocab={}))).vocab == {}
    basic = pickle.loads(pickle.dumps(BasicTokenizer(do_lower_case=False)))
    assert basic.tokenize("Hello, World") == ["Hello", ",", "World"]


# --------------------------------------------------------------------------
# Start-up: the tables' shortcuts, and tokenizers unpickled in one process sharing their parts
# --------------------------------------------------------------------------


def test_bmp_characters_that_become_astral_are_found_by_halving_as_by_a_scan():
    scanned = [(cp, cp) for cp in range(0x10000)
               if not 0xD800 <= cp <= 0xDFFF and max(unicodedata.normalize("NFD", chr(cp).lower())) > "\uffff"]
    assert scanned  # U+FA6C and others, for any Unicode version this code has met
    assert tokenization._bmp_to_astral() == scanned


def test_isolated_bitmap_holds_exactly_the_isolated_class():
    bitmap = tokenization._isolated_bitmap()
    isolated = {cp for first, last in tokenization._tables().isolated for cp in range(first, last + 1)}
    assert len(bitmap) == 0x110000 // 8
    assert {cp for cp in range(0x110000) if bitmap[cp >> 3] >> (cp & 7) & 1} == isolated


def test_the_full_unicode_passes_are_compiled_on_the_first_astral_text(monkeypatch):
    tables = tokenization._Tables()
    monkeypatch.setattr(tokenization, "_tables", lambda: tables)
    assert tokenization._basic_tokens("Café, naïve “x”", True) == ["cafe", ",", "naive", "“", "x", "”"]
    assert "full" not in tables.__dict__
    # U+FA6C is in the BMP but becomes astral under NFD.
    assert tokenization._basic_tokens("a\U0001F600b \ufa6c", True) == ["a\U0001F600b", "\U000242ee"]
    assert "full" in tables.__dict__


def _built_parts(tokenizer: FullTokenizer) -> list:
    return [tokenizer.vocab, tokenizer.inv_vocab, tokenizer.wordpiece_tokenizer, tokenizer._id_cache,
            tokenizer._compiled_ids]


def test_tokenizers_unpickled_in_one_process_share_their_parts(code_path):
    tokenizer = FullTokenizer(VOCAB, cache_size=1000)
    data = pickle.dumps(tokenizer)
    first, second = pickle.loads(data), pickle.loads(data)
    for part in zip(_built_parts(tokenizer), _built_parts(first), _built_parts(second)):
        assert part[0] is part[1] is part[2]
    texts = _fuzz_texts(100)
    assert first.encode_batch(texts) == second.encode_batch(texts) == tokenizer.encode_batch(texts)
    assert pickle.dumps(first) == pickle.dumps(second) == data
    # Another casing, cache size or code path builds its own.
    others = [pickle.loads(pickle.dumps(FullTokenizer(VOCAB, do_lower_case=False, cache_size=1000))),
              pickle.loads(pickle.dumps(FullTokenizer(VOCAB, cache_size=999)))]
    if code_path == "compiled":
        with on_path("python"):
            others.append(pickle.loads(data))
            assert others[-1]._compiled_ids is None
    for other in others:
        assert not any(a is b for a, b in zip(_built_parts(other), _built_parts(tokenizer)) if a is not None)


def test_a_state_unpickled_after_its_tokenizers_are_gone_is_built_again():
    tokenizer = FullTokenizer.from_vocab({token: i for i, token in enumerate(SMALL_VOCAB)}, cache_size=77)
    data = pickle.dumps(tokenizer)
    key = tokenization._shared_key(pickle.loads(data).__getstate__())
    assert key in tokenization._SHARED
    del tokenizer
    gc.collect()
    assert key not in tokenization._SHARED
    clone = pickle.loads(data)
    assert clone.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenization._SHARED[key] is clone._shared


def test_tokenizers_sharing_caches_across_threads_stay_correct(code_path):
    texts = _fuzz_texts(400)
    expected = FullTokenizer(VOCAB).encode_batch(texts)
    data = pickle.dumps(FullTokenizer(VOCAB, cache_size=50))  # small caches: cleared while other threads use them
    clones = [pickle.loads(data) for _ in range(4)]
    assert all(clone._id_cache is clones[0]._id_cache for clone in clones)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with concurrent.futures.ThreadPoolExecutor(len(clones)) as pool:
            results = list(pool.map(lambda clone: [clone.encode(text) for text in texts], clones * 2))
    finally:
        sys.setswitchinterval(interval)
    assert all(result == expected for result in results)
