"""vocab.sentencepiece_vocab: SentencePiece (unigram, bpe) converted to BERT WordPiece vocabs."""
from __future__ import annotations

import collections
import functools
import re

import pytest

from tests.support.reference_bert import import_reference_tokenization
from tests.support.vocab_texts import BERT_LAYOUT, ENGLISH, basic_tokenize, read_text
from vocab.sentencepiece_vocab import train_sentencepiece_wordpiece, wordpiece_pieces
from vocab.vocab_file import vocab_sha256, write_vocab
from vocab.wordpiece_learner import alphabet, evaluate

pytest.importorskip("sentencepiece")

# English books and pages plus Spanish (accents, stripped when uncased).
FILES = ENGLISH + ["gutenberg/pg2000-don-quijote-spanish-excerpt.txt"]
SIZE = 3000


@functools.cache
def corpus_lines() -> tuple[str, ...]:
    return tuple(line for relative in FILES for line in read_text(relative).split("\n") if line.strip())


@pytest.fixture(scope="module")
def sentences_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("spm") / "sentences.txt"
    path.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    return str(path)


@functools.cache
def training_counts(do_lower_case: bool = True) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()
    for line in corpus_lines():
        counts.update(basic_tokenize(line, do_lower_case))
    return dict(counts)


_trained: dict = {}


def trained(sentences_file: str, model_type: str) -> list[str]:
    if model_type not in _trained:
        _trained[model_type] = train_sentencepiece_wordpiece(sentences_file, SIZE, model_type=model_type)
    return _trained[model_type]


def test_piece_conversion():
    pieces = ["<unk>", "<s>", "</s>", "\u2581", "\u2581the", "ing", "\u2581a", "a", "\u2581the", "x\u2581y"]
    assert wordpiece_pieces(pieces) == ["the", "##ing", "a", "##a"]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_valid_bert_vocab(sentences_file, model_type):
    vocab = trained(sentences_file, model_type)
    assert len(vocab) == SIZE
    assert vocab[:104] == BERT_LAYOUT
    assert len(set(vocab)) == SIZE
    assert all(t and t != "##" and "\u2581" not in t and not any(c.isspace() for c in t) for t in vocab)
    assert not any(t.startswith("<") and t.endswith(">") and len(t) > 2 for t in vocab)
    assert set(alphabet(training_counts())) <= set(vocab)
    assert not any(re.fullmatch(r"\[unused\d+\]", t) for t in vocab[104:])
    learned = vocab[104 + len(alphabet(training_counts())):]
    assert sum(t.startswith("##") for t in learned) > 100 and sum(not t.startswith("##") for t in learned) > 500
    # The text went through the uncased basic tokenizer: no capitals, no accents.
    assert not any(re.search(r"[A-ZÁÉÍÓÚÑ]", t) for t in vocab[104:])


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_training_text_tokenizes_without_unk(sentences_file, model_type):
    stats = evaluate(trained(sentences_file, model_type), training_counts())
    assert stats["unk_rate"] == 0.0
    assert stats["pieces_per_word"] < 1.5


def test_reference_tokenizer_uses_the_vocab_unchanged(sentences_file, tmp_path):
    tokenization = import_reference_tokenization()
    vocab = trained(sentences_file, "unigram")
    path = str(tmp_path / "vocab.txt")
    write_vocab(vocab, path)
    tokenizer = tokenization.FullTokenizer(vocab_file=path, do_lower_case=True)
    text = read_text("wikitext/enwiki-Aardwolf.wiki")
    tokens = tokenizer.tokenize(text)
    words = collections.Counter(tokenization.BasicTokenizer(do_lower_case=True).tokenize(text))
    stats = evaluate(vocab, words)
    assert len(tokens) == round(stats["pieces_per_word"] * sum(words.values()))
    assert tokens.count("[UNK]") / len(tokens) < 0.01


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_deterministic_across_runs(sentences_file, model_type):
    again = train_sentencepiece_wordpiece(sentences_file, SIZE, model_type=model_type)
    assert vocab_sha256(again) == vocab_sha256(trained(sentences_file, model_type))


def test_cased_keeps_capitals(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("\n".join(corpus_lines()[:400]) + "\n", encoding="utf-8")
    vocab = train_sentencepiece_wordpiece(str(path), 1500, do_lower_case=False)
    assert len(vocab) == 1500 and any(re.search("[A-Z]", t) for t in vocab[104:])


def test_argument_errors(sentences_file, tmp_path):
    minimum = 104 + len(alphabet(training_counts()))
    with pytest.raises(ValueError, match=rf"at least {minimum}\b"):
        train_sentencepiece_wordpiece(sentences_file, minimum - 1)
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece_wordpiece(sentences_file, SIZE, model_type="char")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="no words"):
        train_sentencepiece_wordpiece(str(empty), SIZE)
