"""vocab.vocab_file: BERT's special-token layout, assembly to an exact size, writing."""
from __future__ import annotations

import hashlib
import os

import pytest

from tests.support import paths
from vocab.vocab_file import (
    SPECIAL_TOKENS,
    assemble_vocab,
    special_layout,
    vocab_sha256,
    write_vocab,
)

REPO = str(paths.REPO)
BERT_UNCASED_VOCAB = os.path.join(REPO, "tests", "data", "vocab", "bert-base-uncased-vocab.txt")

# The first 104 lines of BERT's released uncased vocab.
BERT_LAYOUT = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_special_layout_has_bert_ids():
    layout = special_layout()
    assert layout == BERT_LAYOUT
    assert {token: layout.index(token) for token in SPECIAL_TOKENS} == {
        "[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103,
    }
    assert layout[1] == "[unused0]" and layout[99] == "[unused98]"


def test_special_layout_matches_released_vocab_file():
    if not os.path.exists(BERT_UNCASED_VOCAB):
        pytest.skip("tests/data/vocab/bert-base-uncased-vocab.txt not present")
    with open(BERT_UNCASED_VOCAB, encoding="utf-8") as handle:
        first = [next(handle).rstrip("\n") for _ in range(104)]
    assert special_layout() == first


def test_special_layout_other_unused_counts():
    assert special_layout(0) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert special_layout(2) == ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    with pytest.raises(ValueError):
        special_layout(-1)


def test_assemble_truncates_to_exact_size_keeping_required_and_rank_order():
    vocab = assemble_vocab(["the", "##s", "and", "of"], 109, required=["a", "##a"])
    assert vocab == BERT_LAYOUT + ["a", "##a", "the", "##s", "and"]


def test_assemble_drops_repeats_and_special_tokens():
    vocab = assemble_vocab(["a", "b", "a", "[UNK]", "[unused3]", "c"], 108, required=["b"])
    assert vocab == BERT_LAYOUT + ["b", "a", "c", "[unused99]"]
    assert len(set(vocab)) == len(vocab)


def test_assemble_pads_short_vocabs_with_further_unused_slots():
    vocab = assemble_vocab(["x"], 108)
    assert len(vocab) == 108
    assert vocab[:105] == BERT_LAYOUT + ["x"]
    assert vocab[105:] == ["[unused99]", "[unused100]", "[unused101]"]


def test_assemble_too_small_names_the_minimum():
    with pytest.raises(ValueError, match=r"at least 107\b"):
        assemble_vocab(["the"], 106, required=["a", "b", "##a"])
    with pytest.raises(ValueError, match=r"at least 5\b"):
        assemble_vocab([], 4, num_unused=0)
    assert len(assemble_vocab(["the"], 107, required=["a", "b", "##a"])) == 107


@pytest.mark.parametrize("bad", ["", "##", "a b", " a", "a\n", "a\tb"])
def test_assemble_rejects_pieces_a_vocab_file_cannot_hold(bad):
    with pytest.raises(ValueError, match="invalid vocab piece"):
        assemble_vocab(["ok", bad], 200)


def test_write_vocab_bytes_and_hash(tmp_path):
    tokens = assemble_vocab(["héllo", "##世", "的"], 110)
    path = str(tmp_path / "vocab.txt")
    digest = write_vocab(tokens, path)
    data = (tmp_path / "vocab.txt").read_bytes()
    assert data == ("\n".join(tokens) + "\n").encode("utf-8")
    assert digest == hashlib.sha256(data).hexdigest() == vocab_sha256(tokens)
    assert data.decode("utf-8").split("\n")[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_write_vocab_goes_through_gfile():
    import uuid

    import tensorflow as tf

    tokens = special_layout(0) + ["a"]
    path = f"ram://bertprep-test-{uuid.uuid4().hex}/vocab.txt"  # TF's in-memory filesystem, shared per process
    digest = write_vocab(tokens, path)
    assert tf.io.gfile.GFile(path, "rb").read() == b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n"
    assert digest == vocab_sha256(tokens)


def test_written_vocab_loads_in_project_tokenizer(tmp_path):
    tokenization = pytest.importorskip("vocab.tokenization")
    tokens = assemble_vocab(["the", "cat", "##s"], 120)
    path = str(tmp_path / "vocab.txt")
    write_vocab(tokens, path)
    assert tokenization.load_vocab(path) == {token: i for i, token in enumerate(tokens)}
    assert tokenization.FullTokenizer(path, do_lower_case=True).tokenize("The cats!") == ["the", "cat", "##s", "[UNK]"]
