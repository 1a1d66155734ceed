"""Masked-LM / next-sentence instances: the reference algorithm as plain functions.

The reference `create_pretraining_data.py` draws everything from one RNG that
walks the whole shuffled corpus, so its output depends on every document read
before. Here every random choice comes from an RNG seeded by the user's seed
and a stable key — (document id, length, duplicate round) for the chunk plan,
plus the chunk index for one instance — so any worker can make any instance
and get the same bytes. The distributions are the reference's:

- per document and round, a target length: `max_seq_length - 3`, or with
  probability `short_seq_prob` uniform in [2, max_seq_length - 3];
- sentences accumulate into a chunk until it reaches the target; A is its
  first 1..n-1 sentences (uniform), B the rest ("actual next"), or, half of
  the time and always for one-sentence chunks, B is taken from a random other
  document starting at a random sentence ("random next") and the unused
  sentences of the chunk are put back;
- `truncate_seq_pair`: remove tokens from the longer segment, each from the
  front or the back with probability 1/2;
- masking (pipelines.pretraining.masking): `min(max_predictions_per_seq,
  max(1, round(len(tokens) * p)))` positions other than [CLS]/[SEP],
  uniformly; each becomes [MASK] 80%, stays 10%, becomes a uniformly random
  vocabulary entry 10% (formats.masking).

Pairing and packing a range of documents (pipelines.pretraining.pairing,
.packing) and encoding instances (.instance_batch) build on these functions.

Fixed on purpose (README, "Differences from the reference"): the random
document is never the document itself (the reference gives up after 10
draws); with whole-word masking the 80/10/10 choice is made once per word,
not per WordPiece, and Chinese words span several characters.
"""
from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class TokenizedDocument(NamedTuple):
    """A document's token ids, sentences back to back (one array pickles far faster than many)."""

    id: str
    tokens: np.ndarray  # int32
    offsets: np.ndarray  # int64, len = sentences + 1; sentence i is tokens[offsets[i]:offsets[i + 1]]
    word_starts: np.ndarray | None  # bool per token, only for whole-word masking

    @property
    def num_sentences(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class InstanceOptions:
    max_seq_length: int
    max_predictions_per_seq: int
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    whole_word_mask: bool = False
    nsp: bool = True

    @property
    def max_num_tokens(self) -> int:
        """Room for content: [CLS] A [SEP] B [SEP], or [CLS] text [SEP] without NSP."""
        return self.max_seq_length - (3 if self.nsp else 2)


@dataclass(frozen=True)
class SpecialIds:
    cls: int
    sep: int
    mask: int
    vocab_size: int

    @classmethod
    def from_vocab(cls, vocab: dict[str, int]) -> SpecialIds:
        missing = [token for token in ("[CLS]", "[SEP]", "[MASK]") if token not in vocab]
        if missing:
            raise ValueError(f"the vocab lacks {', '.join(missing)}, which pretraining instances need")
        return cls(vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"], len(vocab))


_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def stable_int(seed: int, *parts: object) -> int:
    """A 63-bit integer from the seed and a key, the same in every process (unlike hash()).

    63 bits, not 64: Beam encodes ints below 2**63 natively and pickles larger ones.
    """
    text = "\x1f".join(map(str, (seed, *parts))).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


# Per-instance randomness is counter-based: value j of stream s for instance
# seed x is SplitMix64's finalizer applied to (x, s, j). Unlike one RNG object
# per instance, this costs nothing to set up and vectorizes over a batch of
# instances, and each value still depends only on (x, s, j).
PICK, DECIDE, KEEP, REPLACE, TRUNCATE, DONOR_RANK, DONOR_START, ORDER, INSTANCE = range(1, 10)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_words(instance_seeds: np.ndarray, stream: int, count: int, first: int = 0) -> np.ndarray:
    """Value j of `stream`, for every seed (rows) and first <= j < first + count (columns), as uint64.

    Value j is mix(mix(seed + stream * G) + (j + 1) * G), G the golden-ratio
    increment; `% n` turns a value into a draw from range(n) (bias below n / 2**64).
    """
    columns = np.arange(first, first + count, dtype=np.uint64)
    return random_words_at(np.asarray(instance_seeds, dtype=np.uint64)[:, None], stream, columns[None, :])


def random_words_at(instance_seeds: np.ndarray, stream: int, columns: np.ndarray) -> np.ndarray:
    """Value columns[...] of `stream` for instance_seeds[...] (broadcast together), as random_words
    defines it: the values a batch needs at a few positions, without those of every position."""
    with np.errstate(over="ignore"):
        base = _mix(np.asarray(instance_seeds, dtype=np.uint64) + np.uint64(stream) * np.uint64(_GOLDEN))
        return _mix(base + (np.asarray(columns, dtype=np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN))


def instance_seeds(round_seed: int, count: int, first: int = 0) -> np.ndarray:
    """The seeds of instances first..first + count - 1 of a document round, from the round's
    stable_int seed (uint64 below 2**63)."""
    return random_words(np.array([round_seed], dtype=np.uint64), INSTANCE, count, first)[0] >> np.uint64(1)


def round_instance_seeds(round_seeds: Sequence[int], counts: Sequence[int]) -> np.ndarray:
    """instance_seeds(round_seeds[i], counts[i]) of every round i, back to back, in one numpy pass."""
    counts = np.asarray(counts, dtype=np.int64)
    firsts = np.repeat(np.cumsum(counts) - counts, counts)
    rows = np.repeat(np.asarray(round_seeds, dtype=np.uint64), counts)
    return random_words_at(rows, INSTANCE, np.arange(len(rows), dtype=np.int64) - firsts) >> np.uint64(1)


def uniform(words):
    """Floats in [0, 1) from 64-bit words (their top 53 bits)."""
    return (np.asarray(words, dtype=np.uint64) >> np.uint64(11)) * (1.0 / (1 << 53))


class Chunk(NamedTuple):
    """Sentences [start, a_end) form A; B is [a_end, end) or, if random_next, from another document."""

    start: int
    a_end: int
    end: int
    random_next: bool
    target_b_length: int


def plan_chunks(sentence_lengths: Sequence[int], max_num_tokens: int, short_seq_prob: float,
                rng: random.Random) -> list[Chunk]:
    """The reference's A/B split of one document for one round, without touching tokens.

    The reference adds sentences one at a time until the target is reached; here each chunk's last
    sentence is found by bisecting the running token counts, with the same random draws in the same order.
    """
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = rng.randint(2, max_num_tokens)
    ends = list(itertools.accumulate(sentence_lengths, initial=0))  # ends[i]: tokens before sentence i
    chunks = []
    start, last = 0, len(sentence_lengths) - 1
    while start <= last:
        # The first sentence at which the chunk holds `target` tokens, or the last one.
        i = min(bisect.bisect_left(ends, ends[start] + target, start + 1) - 1, last)
        size = i + 1 - start
        a_end = start + (rng.randint(1, size - 1) if size >= 2 else 1)
        if size == 1 or rng.random() < 0.5:
            chunks.append(Chunk(start, a_end, a_end, True, target - (ends[a_end] - ends[start])))
            start = a_end  # the unused sentences are put back
        else:
            chunks.append(Chunk(start, a_end, i + 1, False, 0))
            start = i + 1
    return chunks


def span_index(begins: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions begins[i] .. begins[i] + lengths[i] - 1 of every span, back to back."""
    lengths = np.asarray(lengths, dtype=np.int64)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(begins, dtype=np.int64), lengths) + within


class DocumentRun(NamedTuple):
    """Documents back to back: their tokens, and sentence ends shifted to positions in those tokens."""

    tokens: np.ndarray
    word_starts: np.ndarray | None
    offsets: np.ndarray  # every document's offsets + its first token's position, one document after another
    sentence_bases: np.ndarray  # where each document's offsets begin in `offsets`
    num_sentences: np.ndarray

    @classmethod
    def of(cls, documents: Sequence[TokenizedDocument]) -> DocumentRun:
        token_bases = np.cumsum([0] + [len(document.tokens) for document in documents[:-1]], dtype=np.int64)
        starts = None if documents[0].word_starts is None else np.concatenate([d.word_starts for d in documents])
        return cls(np.concatenate([document.tokens for document in documents]), starts,
                   np.concatenate([document.offsets + base for document, base in zip(documents, token_bases)]),
                   np.cumsum([0] + [len(document.offsets) for document in documents[:-1]], dtype=np.int64),
                   np.array([document.num_sentences for document in documents], dtype=np.int64))

    def document_offsets(self, position: int) -> np.ndarray:
        """Sentence ends of the document at `position`, as positions in `tokens`."""
        base = self.sentence_bases[position]
        return self.offsets[base:base + self.num_sentences[position] + 1]

    def donor_spans(self, donors: np.ndarray, target_b_lengths: np.ndarray, start_words: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Token spans [begin, end) of random-next Bs: sentences of document donors[i] from a random start
        (start_words[i] is the instance's DONOR_START word) until target_b_lengths[i] tokens are reached."""
        bases, sentences = self.sentence_bases[donors], self.num_sentences[donors]
        first = (np.asarray(start_words, dtype=np.uint64) % sentences.astype(np.uint64)).astype(np.int64)
        begin = self.offsets[bases + first]
        goal = begin + np.maximum(target_b_lengths, 1)
        # The first sentence end at or past the goal, or the document's end. Every offset before the donor's
        # is below the goal, so searching all documents at once finds the donor's own sentence ends.
        end = np.minimum(np.searchsorted(self.offsets, goal, side="left") - bases, sentences)
        return begin, self.offsets[bases + np.maximum(end, first + 1)]


_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.int64)


def _heads(seeds: np.ndarray, first_index: int, flips: np.ndarray) -> np.ndarray:
    """Heads among `flips` fair coins per seed: Binomial(flips, 1/2) from popcounts of TRUNCATE words
    first_index, first_index + 1, ... (64 coins a word)."""
    columns = int(flips.max(initial=0) + 63) // 64
    if columns == 0:
        return np.zeros(len(flips), dtype=np.int64)
    words = random_words(seeds, TRUNCATE, columns, first_index)
    take = np.clip(flips[:, None] - 64 * np.arange(columns)[None, :], 0, 64).astype(np.uint64)
    with np.errstate(over="ignore"):  # 1 << 64 is never used: take == 64 keeps every bit
        masks = np.where(take == 64, np.uint64(_MASK64), (np.uint64(1) << take) - np.uint64(1))
    return _POPCOUNT[(words & masks).view(np.uint8)].reshape(len(flips), -1).sum(axis=1)


def truncations(length_a: np.ndarray, length_b: np.ndarray, max_num_tokens: int,
                seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(front, back) tokens to cut from A and from B per instance, as `truncate_seq_pair` would.

    The reference removes one token at a time from the longer segment (B on a
    tie); which segment loses how many follows from the lengths alone, and the
    front/back choices are fair coins, so their count is Binomial(n, 1/2).
    """
    length_a, length_b = np.asarray(length_a, dtype=np.int64), np.asarray(length_b, dtype=np.int64)
    excess = np.maximum(length_a + length_b - max_num_tokens, 0)
    a_longer = length_a > length_b
    # The longer segment alone loses tokens until it is as long as the other (one
    # more for B, which loses ties); the rest alternates, starting with the other.
    alone = np.minimum(np.where(a_longer, length_a - length_b, length_b - length_a + 1), excess)
    rest = excess - alone
    from_longer, from_other = alone + rest // 2, (rest + 1) // 2
    from_a = np.where(a_longer, from_longer, from_other)
    from_b = np.where(a_longer, from_other, from_longer)
    front_a, front_b = _heads(seeds, 0, from_a), _heads(seeds, 1 << 32, from_b)
    return front_a, from_a - front_a, front_b, from_b - front_b

