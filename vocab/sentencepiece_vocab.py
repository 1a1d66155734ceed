"""A WordPiece vocab trained by SentencePiece (unigram or BPE), converted to BERT's format.

SentencePiece marks word starts with "▁"; WordPiece marks the opposite,
word continuations, with "##". A SentencePiece piece "▁xyz" therefore
becomes "xyz" and a non-initial piece "xyz" becomes "##xyz"; SentencePiece's
own specials (<unk>, <s>, </s>) and the bare "▁" are dropped.

What makes the result usable unchanged by BERT's WordPiece tokenizer:

* SentencePiece trains on the text exactly as WordPiece will see it: each
  line goes through BERT's basic tokenizer (lowercasing and accent stripping
  when uncased, punctuation split off, CJK characters spaced) and the words
  are joined by single spaces. Its own normalization (NFKC) is turned off,
  since it would produce pieces for characters WordPiece never sees.
* Every character of the training text, and its "##" form, is added (the
  alphabet), so no word of the training text becomes [UNK] — SentencePiece
  itself keeps only `character_coverage` of the characters.
* The layout is BERT's (`vocab_file.special_layout`), exactly `vocab_size`
  lines: SentencePiece is asked for enough pieces to fill the room left
  after the specials and the alphabet, and its lowest-ranked pieces are cut
  (unigram ranks by score, BPE by merge order).

A caveat on quality: unigram pieces are chosen for Viterbi segmentation,
but BERT splits greedily, longest match first; `benchmarks/vocab_quality.py`
measures the effect against `wordpiece_learner`, which prunes for greedy
matching directly.

Deterministic: SentencePiece's output depends on its thread count, so it
runs with one thread, a fixed random seed and the input in the order given
(no shuffling, no sampling).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from vocab.vocab_file import assemble_vocab, minimum_vocab_size
from vocab.wordpiece_learner import MAX_WORD_CHARS, alphabet

__all__ = ["MODEL_TYPES", "train_sentencepiece_wordpiece", "wordpiece_pieces"]

MODEL_TYPES = ("unigram", "bpe")
WORD_START = "\u2581"  # "▁", SentencePiece's word-start marker
# SentencePiece skips longer input lines (max_sentence_length, in bytes), so
# long lines are cut at word boundaries; pieces never cross words anyway.
_MAX_LINE_BYTES = 4000


def wordpiece_pieces(sentencepiece_pieces: list[str]) -> list[str]:
    """SentencePiece pieces (in rank order) -> WordPiece pieces, same order.

    "▁xyz" -> "xyz", "xyz" -> "##xyz"; the bare "▁", angle-bracket specials
    and pieces with a space or an inner "▁" (which cannot occur with
    whitespace splitting) are dropped, as are repeats.
    """
    out: list[str] = []
    seen: set[str] = set()
    for piece in sentencepiece_pieces:
        if piece in ("<unk>", "<s>", "</s>", "<pad>", WORD_START):
            continue
        if piece.startswith(WORD_START):
            converted = piece[len(WORD_START):]
        else:
            converted = "##" + piece
        if not converted or WORD_START in converted or any(ch.isspace() for ch in converted):
            continue
        if converted not in seen:
            seen.add(converted)
            out.append(converted)
    return out


def _basic_tokenizer(do_lower_case: bool) -> Callable[[str], list[str]]:
    from vocab.tokenization import BasicTokenizer

    return BasicTokenizer(do_lower_case=do_lower_case).tokenize


def _prepare(sentences_file: str, out_path: str, do_lower_case: bool) -> dict[str, int]:
    """Writes the basic-tokenized text, words joined by spaces; returns word counts."""
    import tensorflow as tf  # tf.io.gfile: the input may also be a gs:// path

    tokenize = _basic_tokenizer(do_lower_case)
    counts: dict[str, int] = {}
    with tf.io.gfile.GFile(sentences_file, "rb") as src, open(out_path, "w", encoding="utf-8") as dst:
        for raw in src:
            # Words over 200 characters are [UNK] for BERT: no use learning pieces of them.
            words = [w for w in tokenize(raw.decode("utf-8", errors="replace")) if len(w) <= MAX_WORD_CHARS]
            line: list[str] = []
            size = 0
            for word in words:
                counts[word] = counts.get(word, 0) + 1
                nbytes = len(word.encode("utf-8")) + 1
                if line and size + nbytes > _MAX_LINE_BYTES:
                    dst.write(" ".join(line) + "\n")
                    line, size = [], 0
                line.append(word)
                size += nbytes
            if line:
                dst.write(" ".join(line) + "\n")
    return counts


def train_sentencepiece_wordpiece(
    sentences_file: str,
    vocab_size: int,
    *,
    model_type: str = "unigram",
    num_unused: int = 99,
    do_lower_case: bool = True,
    character_coverage: float = 0.9995,
    min_char_count: int = 1,
    max_piece_chars: int = 16,
    seed: int = 0,
) -> list[str]:
    """Trains SentencePiece on `sentences_file` (one sentence per line, UTF-8)
    and returns the full BERT vocab, exactly `vocab_size` lines.

    `min_char_count`: characters seen fewer times stay out of the alphabet.
    `max_piece_chars`: SentencePiece's max_sentencepiece_length (characters).
    Raises ValueError for an unknown `model_type`, a file with no words, or a
    `vocab_size` too small for the specials and the alphabet (naming the
    minimum).
    """
    import sentencepiece as spm

    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    with tempfile.TemporaryDirectory(prefix="bertprep-spm-") as folder:
        text_path = os.path.join(folder, "text.txt")
        counts = _prepare(sentences_file, text_path, do_lower_case)
        alpha = alphabet(counts, min_char_count)
        if not alpha:
            raise ValueError(f"{sentences_file} holds no words: nothing to learn a vocabulary from")
        minimum = minimum_vocab_size(len(alpha), num_unused)
        if vocab_size < minimum:
            assemble_vocab([], vocab_size, num_unused, required=alpha)  # raises, naming the minimum
        # Room for learned pieces, plus what conversion drops or finds already
        # in the alphabet (single characters, "▁", <unk>): those slots would
        # otherwise go unused. Extra pieces are cut by rank below.
        room = vocab_size - minimum + len(alpha) + 2
        prefix = os.path.join(folder, "spm")
        spm.set_random_generator_seed(seed)
        spm.SentencePieceTrainer.train(
            input=text_path,
            model_prefix=prefix,
            model_type=model_type,
            vocab_size=max(room, 8),
            character_coverage=character_coverage,
            max_sentencepiece_length=max_piece_chars,
            normalization_rule_name="identity",  # the text is already what WordPiece sees
            bos_id=-1,
            eos_id=-1,
            num_threads=1,
            shuffle_input_sentence=False,
            input_sentence_size=0,
            hard_vocab_limit=False,  # a small corpus may not support `room` pieces
            minloglevel=2,
        )
        processor = spm.SentencePieceProcessor(model_file=prefix + ".model")
        pieces = [
            processor.id_to_piece(i)
            for i in range(processor.get_piece_size())
            if not (processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i))
        ]
    return assemble_vocab(wordpiece_pieces(pieces), vocab_size, num_unused, required=alpha)
