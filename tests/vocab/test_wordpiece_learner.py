"""vocab.wordpiece_learner on real text: the books and wiki pages in tests/data."""
from __future__ import annotations

import collections
import functools
import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.reference_bert import import_reference_tokenization
from tests.support.vocab_texts import BERT_LAYOUT, ENGLISH, ENGLISH_HELDOUT, MULTILINGUAL, basic_tokenize, read_text
from vocab import wordpiece_learner
from vocab.vocab_file import special_layout, vocab_sha256, write_vocab
from vocab.wordpiece_learner import alphabet, evaluate, learn_wordpiece


@functools.cache
def word_counts(files: tuple[str, ...]) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()
    for relative in files:
        counts.update(basic_tokenize(read_text(relative)))
    return dict(counts)


@functools.cache
def english_vocab(size: int = 3000) -> tuple[str, ...]:
    return tuple(learn_wordpiece(word_counts(tuple(ENGLISH)), size))


# --------------------------------------------------------------------------
# Layout, size, alphabet


def test_learned_vocab_has_bert_layout_exact_size_and_no_duplicates():
    vocab = english_vocab()
    assert len(vocab) == 3000
    assert list(vocab[:104]) == BERT_LAYOUT
    assert vocab[0] == "[PAD]" and vocab[100] == "[UNK]" and vocab[101] == "[CLS]"
    assert vocab[102] == "[SEP]" and vocab[103] == "[MASK]"
    assert len(set(vocab)) == len(vocab)
    assert not any(re.fullmatch(r"\[unused\d+\]", t) for t in vocab[104:])  # real pieces fill the room
    assert all(t and not any(ch.isspace() for ch in t) and t != "##" for t in vocab)


def test_alphabet_chars_and_their_continuation_forms_are_always_in():
    counts = word_counts(tuple(ENGLISH))
    alpha = alphabet(counts)
    chars = {ch for word in counts for ch in word}
    assert alpha == sorted(chars) + ["##" + ch for ch in sorted(chars)]
    assert {"e", "##e", ".", "##.", "1", "##1"} <= set(alpha)
    assert set(alpha) <= set(english_vocab())


def test_alphabet_min_char_count():
    counts = {"ab": 3, "ac": 1, "d": 2}
    assert alphabet(counts, 1) == ["a", "b", "c", "d", "##a", "##b", "##c", "##d"]
    assert alphabet(counts, 2) == ["a", "b", "d", "##a", "##b", "##d"]
    assert alphabet(counts, 5) == []


def test_too_small_vocab_size_names_the_minimum():
    counts = word_counts(tuple(ENGLISH))
    minimum = 104 + len(alphabet(counts))
    with pytest.raises(ValueError, match=rf"at least {minimum}\b"):
        learn_wordpiece(counts, minimum - 1)
    vocab = learn_wordpiece(counts, minimum)
    assert vocab == special_layout() + alphabet(counts)


def test_tiny_corpus_pads_with_unused_slots():
    vocab = learn_wordpiece({"ab": 3, "b": 1}, 115, num_unused=2)
    assert len(vocab) == 115
    assert vocab[:7] == ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[7:12] == ["a", "b", "##a", "##b", "ab"]
    assert vocab[12:14] == ["[unused2]", "[unused3]"] and vocab[-1] == "[unused104]"


# --------------------------------------------------------------------------
# Determinism


def test_same_counts_give_identical_bytes_in_any_order(tmp_path):
    counts = word_counts(tuple(ENGLISH))
    first = learn_wordpiece(counts, 2000)
    shuffled = dict(sorted(counts.items(), key=lambda item: (item[1], item[0][::-1])))
    assert list(shuffled) != list(counts)
    second = learn_wordpiece(shuffled, 2000)
    assert write_vocab(first, str(tmp_path / "a.txt")) == write_vocab(second, str(tmp_path / "b.txt"))
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    # (word, count) pairs, as the vocab stage's counting hands them over, learn the same vocab.
    assert learn_wordpiece(list(shuffled.items()), 2000) == first


def test_identical_across_hash_seeds(tmp_path):
    """Set and dict iteration order of strings changes with PYTHONHASHSEED."""
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(word_counts(tuple(ENGLISH_HELDOUT))), encoding="utf-8")
    script = (
        "import json, sys; from vocab.wordpiece_learner import learn_wordpiece;"
        "from vocab.vocab_file import vocab_sha256;"
        f"print(vocab_sha256(learn_wordpiece(json.load(open({str(path)!r}, encoding='utf-8')), 1500)))"
    )
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {vocab_sha256(learn_wordpiece(word_counts(tuple(ENGLISH_HELDOUT)), 1500))}


# --------------------------------------------------------------------------
# Coverage and quality


def test_training_words_never_become_unk_in_any_script():
    counts = word_counts(tuple(MULTILINGUAL))
    assert any(len(w) == 1 and "\u4e00" <= w <= "\u9fff" for w in counts)  # Chinese is there
    vocab = learn_wordpiece(counts, 5000)
    assert len(vocab) == 5000
    assert evaluate(vocab, counts)["unk_rate"] == 0.0


def test_rare_characters_below_min_char_count_are_left_out():
    counts = word_counts(tuple(MULTILINGUAL))
    vocab = learn_wordpiece(counts, 3000, min_char_count=10)
    chars = collections.Counter()
    for word, count in counts.items():
        for ch in word:
            chars[ch] += count
    rare = {ch for ch, n in chars.items() if n < 10}
    assert rare and not rare & set(vocab)
    assert {ch for ch, n in chars.items() if n >= 10} <= set(vocab)
    stats = evaluate(vocab, counts)
    assert 0 < stats["unk_rate"] < 0.05  # only words with a rare character


def test_pieces_respect_max_piece_chars():
    vocab = learn_wordpiece(word_counts(tuple(ENGLISH)), 2500, max_piece_chars=4)
    learned = [t.removeprefix("##") for t in vocab[104:]]
    assert max(len(t) for t in learned) == 4


def test_pruning_beats_merge_order_vocab_under_greedy_matching():
    """Pieces kept for greedy longest-match beat the first merges (HF's method)."""
    counts = word_counts(tuple(ENGLISH))
    size = 3000
    alpha = alphabet(counts)
    budget = size - 104 - len(alpha)
    merges = wordpiece_learner.merge_candidates(wordpiece_learner.word_items(counts), budget, 100)
    merge_order = special_layout() + alpha + [m for m in merges if m not in alpha][:budget]
    ours = evaluate(english_vocab(size), counts)["pieces_per_word"]
    baseline = evaluate(merge_order[:size], counts)["pieces_per_word"]
    assert ours < baseline - 0.01


def test_heldout_english_is_covered():
    stats = evaluate(english_vocab(), word_counts(tuple(ENGLISH_HELDOUT)))
    assert stats["unk_rate"] < 0.001  # only characters never seen in training
    assert 1.0 < stats["pieces_per_word"] < 1.35


# --------------------------------------------------------------------------
# Agreement with the reference tokenizer (bert-tensorflow, oracle)


def test_evaluate_counts_match_reference_wordpiece_tokenizer():
    tokenization = import_reference_tokenization()
    vocab = english_vocab()
    counts = dict(word_counts(tuple(ENGLISH_HELDOUT)))
    counts["x" * 201] = 2  # longer than max_input_chars_per_word: [UNK]
    counts["héllo→世界"] = 3  # characters outside the vocab: [UNK]
    counts["x" * 200] = 1  # exactly the limit: tokenized
    wordpiece = tokenization.WordpieceTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    words = unk = pieces = 0
    for word, count in counts.items():
        split = wordpiece.tokenize(word)
        words += count
        pieces += count * len(split)
        unk += count * (split == ["[UNK]"])
    stats = evaluate(vocab, counts)
    assert stats["unk_rate"] == pytest.approx(unk / words, abs=1e-12)
    assert stats["pieces_per_word"] == pytest.approx(pieces / words, abs=1e-12)
    assert unk >= 5


def test_reference_full_tokenizer_reads_the_written_vocab(tmp_path):
    tokenization = import_reference_tokenization()
    vocab = english_vocab()
    path = str(tmp_path / "vocab.txt")
    write_vocab(vocab, path)
    tokenizer = tokenization.FullTokenizer(vocab_file=path, do_lower_case=True)
    text = read_text(ENGLISH_HELDOUT[1])
    tokens = tokenizer.tokenize(text)
    assert tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]"]) == [101, 102, 103, 100, 0]
    stats = evaluate(vocab, collections.Counter(tokenization.BasicTokenizer(do_lower_case=True).tokenize(text)))
    words = len(tokenization.BasicTokenizer(do_lower_case=True).tokenize(text))
    assert len(tokens) == round(stats["pieces_per_word"] * words)
    assert tokens.count("[UNK]") == round(stats["unk_rate"] * words)


# --------------------------------------------------------------------------
# Input checks


def test_input_validation():
    with pytest.raises(TypeError):
        learn_wordpiece({"a": 1.5}, 200)
    with pytest.raises(ValueError, match="negative"):
        learn_wordpiece({"a": -1}, 200)
    with pytest.raises(ValueError, match="whitespace"):
        learn_wordpiece({"a b": 1}, 200)
    with pytest.raises(ValueError, match="no words"):
        learn_wordpiece({"a": 0}, 200)
    with pytest.raises(ValueError, match="'ab' is given twice"):
        learn_wordpiece([("ab", 2), ("b", 1), ("ab", 1)], 200)


def test_evaluate_on_a_hand_made_vocab():
    vocab = special_layout() + ["un", "##aff", "##able", "##a", "a"]
    stats = evaluate(vocab, {"unaffable": 2, "una": 1, "b": 1})
    assert stats == {"unk_rate": 0.25, "pieces_per_word": (2 * 3 + 2 + 1) / 4}
