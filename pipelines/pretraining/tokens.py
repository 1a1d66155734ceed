"""Documents to token ids (once, for every sequence length), with word boundaries for whole-word masking."""
from __future__ import annotations

import functools
import hashlib
import itertools
import logging
from collections.abc import Iterable, Mapping

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.errors import UsageError
from pipelines.pretraining.instances import TokenizedDocument
from vocab.tokenization import WORKER_CACHE_SIZE, FullTokenizer, VocabError, is_chinese_char, parse_vocab

# A vocab with fewer capitalized entries than this is uncased; BERT's cased
# vocab has about 20% of them, the uncased one none.
_CASED_SHARE = 0.01


def check_vocab_case(vocab: Mapping[str, int], do_lower_case: bool) -> None:
    """Refuses a vocab whose case contradicts --do_lower_case, which would fill the data with [UNK]."""
    entries = [token for token in vocab if not (token.startswith("[") and token.endswith("]"))]
    capitalized = [token for token in entries if token.lower() != token]
    if do_lower_case and len(capitalized) > _CASED_SHARE * len(entries):
        raise ValueError(
            f"the vocab is cased ({len(capitalized)} entries with capitals, e.g. {capitalized[:3]}) but "
            "--do_lower_case lowercases the text, so those entries would never be used: pass "
            "--no-do_lower_case or give an uncased vocab")
    # Counting the entries with letters walks every character of the vocab: only --no-do_lower_case needs it.
    if not do_lower_case and not capitalized and sum(any(map(str.isalpha, token)) for token in entries) > 100:
        raise ValueError(
            "the vocab is uncased (no entry has a capital) but --no-do_lower_case keeps capitals, so "
            "capitalized words would become [UNK]: pass --do_lower_case or give a cased vocab")


def load_tokenizer(vocab_path: str, do_lower_case: bool) -> tuple[FullTokenizer, str]:
    """The tokenizer and the vocab file's SHA-256; refuses a vocab whose case contradicts the flag."""
    # Beam's FileSystems, not tf.io.gfile: importing TensorFlow would cost this stage ~0.5 GB of memory.
    try:
        with FileSystems.open(vocab_path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            data = handle.read()
        vocab = parse_vocab(data, vocab_path)
        check_vocab_case(vocab, do_lower_case)
    except (OSError, VocabError, ValueError) as error:
        raise UsageError(f"--vocab {vocab_path}: {error}") from None
    tokenizer = FullTokenizer.from_vocab(vocab, do_lower_case, cache_size=WORKER_CACHE_SIZE)
    return tokenizer, hashlib.sha256(data).hexdigest()


@functools.cache
def _jieba():
    import jieba  # only whole-word masking of Chinese text needs it

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def chinese_word_continuations(text: str) -> list[bool]:
    """For each Chinese character of `text`, in order: does it continue the word of the one before?

    BERT's tokenizer makes every Chinese character a word of its own, so
    whole-word masking would mask single characters; jieba's dictionary
    segmentation (as in Chinese BERT-wwm) groups them into real words.
    """
    flags = []
    for word in _jieba().cut(text):
        previous_chinese = False
        for char in word:
            if is_chinese_char(char):
                flags.append(previous_chinese)
                previous_chinese = True
            else:
                previous_chinese = False
    return flags


def _word_starts(text: str, words: list[str], word_ids: list[tuple[int, ...]]) -> list[bool]:
    continuations: Iterable[bool] = ()
    if any(len(word) == 1 and is_chinese_char(word) for word in words):
        continuations = chinese_word_continuations(text)
    # The k-th one-character Chinese word is the k-th Chinese character of the text.
    continuation = iter(continuations)
    starts: list[bool] = []
    previous_chinese = False
    for word, ids in zip(words, word_ids):
        chinese = len(word) == 1 and is_chinese_char(word)
        joins = chinese and next(continuation, False) and previous_chinese
        if ids:
            starts.append(not joins)
            starts.extend([False] * (len(ids) - 1))
        previous_chinese = chinese
    return starts


class DocumentTokenizer:
    """Sentences to a TokenizedDocument; empty sentences are dropped, as the reference does."""

    def __init__(self, tokenizer: FullTokenizer, whole_word_mask: bool) -> None:
        self.tokenizer = tokenizer
        self.whole_word_mask = whole_word_mask

    def __call__(self, doc_id: str, sentences: Iterable[str]) -> TokenizedDocument | None:
        starts: list[list[bool]] = []
        if self.whole_word_mask:
            pieces: list[list[int]] = []
            for sentence in sentences:
                words, word_ids = self.tokenizer.encode_words(sentence)
                ids = list(itertools.chain.from_iterable(word_ids))
                if ids:
                    starts.append(_word_starts(sentence, words, word_ids))
                    pieces.append(ids)
        else:  # a document's sentences in one call: the tokenizer's batch path amortizes its per-call work
            pieces = [ids for ids in self.tokenizer.encode_batch(list(sentences)) if ids]
        if not pieces:
            return None
        offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
        np.cumsum([len(ids) for ids in pieces], out=offsets[1:])
        tokens = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int32, count=int(offsets[-1]))
        word_starts = np.fromiter(itertools.chain.from_iterable(starts), dtype=bool, count=len(tokens)) \
            if self.whole_word_mask else None
        return TokenizedDocument(doc_id, tokens, offsets, word_starts)
