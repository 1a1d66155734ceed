"""Learn a WordPiece vocabulary from word counts, for BERT's greedy tokenizer.

Input: counts of words *after* BERT's basic tokenization (lowercased and
accent-stripped if uncased; punctuation and each CJK character are words of
their own), as the `bertprep vocab` pipeline counts them. Output: the full
vocab in BERT's layout (`vocab_file.special_layout`), exactly `vocab_size`
lines, which the reference `WordpieceTokenizer` uses unchanged.

The algorithm: frequency merges propose, greedy-match pruning decides.

1. Alphabet. Every character seen at least `min_char_count` times goes in,
   with its "##" form, so that no word made of known characters becomes
   [UNK] (a word whose greedy match fails anywhere is one [UNK]).

2. Candidates by bottom-up pair merges (BPE over the word counts; pieces
   after the first carry "##"): repeatedly merge the most frequent adjacent
   pair, ties broken by string order, until there are 1.5x as many learned
   pieces as there is room for. Pair counts are updated incrementally (only
   the words containing the merged pair are touched) and the best pair comes
   from a heap with lazy invalidation, so each merge costs time proportional
   to the words it changes, not to the corpus.

3. Pruning to size under the tokenizer BERT actually runs. BERT does not
   replay merges: it matches the longest vocab piece first, left to right.
   Under that rule many merge-order pieces are never chosen (in a 30k vocab
   from HF's `WordPieceTrainer`, a BPE trainer, 2,130 learned pieces are
   never used on its own training words in our benchmark), and others save
   little. So each
   candidate's loss is measured exactly — how many more pieces the training
   words need, by count, if it is removed (re-tokenizing only the words whose
   tokenization uses it) — and the piece with the smallest loss is removed,
   one at a time. Losses change as the vocab shrinks; they are recomputed
   when a piece reaches the top of the heap and it is removed only if it is
   still the smallest (lazy greedy; without this recheck results are
   clearly worse). Removing a piece changes the greedy tokenization of
   exactly the words that used it, so tokenizations are updated
   incrementally and stay exact.

Why not the alternatives. The tensor2tensor/tf_text threshold search also
counts under greedy matching, but each of its iterations counts every
substring of every word (quadratic in word length, in Python), it runs
inside a binary search over the threshold, and it reaches the target size
only approximately. Likelihood merges (count(ab) / (count(a) count(b)),
Schuster & Nakajima) change the score of every pair that contains a merged
symbol, i.e. many more updates per merge, and still model merge replay
rather than greedy matching. Plain frequency merges (HF's trainer) are the
fastest proposer, and pruning under the real tokenizer fixes what they get
wrong: in `benchmarks/vocab_quality.py` this gives fewer pieces per held-out
word than HF's `WordPieceTrainer` at 8k and 30k with the same UNK rate.

Cost on one core: a 30k vocab from 100k distinct words takes about 5 s,
from 260k (multilingual, a 6,000-character alphabet) about 18 s, from 500k
about 70 s (merging 60%, pruning 40%); memory is roughly 0.8 KB per
distinct word.

Deterministic: words are processed in sorted order and every tie is broken
by string order, so the same counts give the same vocab, whatever order the
mapping iterates in and whatever PYTHONHASHSEED is.
"""
from __future__ import annotations

import heapq
import itertools
import math
import numbers
from collections.abc import Container, Iterable, Mapping, Sequence

from vocab.vocab_file import assemble_vocab, minimum_vocab_size

__all__ = ["MAX_WORD_CHARS", "alphabet", "evaluate", "learn_wordpiece"]

MAX_WORD_CHARS = 200  # the reference WordpieceTokenizer's max_input_chars_per_word
PREFIX = "##"
CANDIDATE_FACTOR = 1.5  # merges proposed per slot; pruning chooses among them
_PAIR = 1 << 32  # pair (a, b) of symbol ids is stored as the int a * _PAIR + b


# --------------------------------------------------------------------------
# Input and alphabet
# --------------------------------------------------------------------------


def word_items(word_counts: Mapping[str, int] | Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """(word, count) pairs with count > 0, sorted: the order fixes every tie. Pairs given as tuples with int
    counts are kept as they are, not copied (the learner's input is the largest thing the vocab stage holds)."""
    items = []
    for pair in word_counts.items() if isinstance(word_counts, Mapping) else word_counts:
        word, count = pair
        if not isinstance(word, str) or not isinstance(count, numbers.Integral):
            raise TypeError(f"word_counts must map str to int, got {word!r}: {count!r}")
        if count < 0:
            raise ValueError(f"negative count {count} for word {word!r}")
        if count and word:
            if any(ch.isspace() for ch in word):
                raise ValueError(
                    f"word {word!r} contains whitespace: word_counts must hold words after "
                    "BERT basic tokenization, which splits on whitespace"
                )
            items.append(pair if type(pair) is tuple and type(count) is int else (word, int(count)))
    items.sort()
    for before, after in itertools.pairwise(items):
        if before[0] == after[0]:
            raise ValueError(f"word {before[0]!r} is given twice: word_counts must hold each word once")
    return items


def _char_counts(items: list[tuple[str, int]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word, count in items:
        for ch in word:
            counts[ch] = counts.get(ch, 0) + count
    return counts


def _alphabet(items: list[tuple[str, int]], min_char_count: int) -> list[str]:
    if min_char_count < 1:
        raise ValueError(f"min_char_count must be >= 1, got {min_char_count}")
    chars = sorted(ch for ch, n in _char_counts(items).items() if n >= min_char_count)
    return chars + [PREFIX + ch for ch in chars]


def alphabet(word_counts: Mapping[str, int], min_char_count: int = 1) -> list[str]:
    """Every character seen >= `min_char_count` times (sorted), then their "##" forms.

    These pieces are always in the vocab, so a word made only of them never
    becomes [UNK], wherever the character sits in the word.
    """
    return _alphabet(word_items(word_counts), min_char_count)


# --------------------------------------------------------------------------
# Greedy longest-match-first WordPiece (the reference algorithm)
# --------------------------------------------------------------------------


def _max_piece_len(vocab: Iterable[str]) -> int:
    """Longest piece in characters (without "##"): longer substrings need no lookup."""
    return max((len(p) - 2 if p.startswith(PREFIX) and len(p) > 2 else len(p) for p in vocab), default=1)


def _greedy(word: str, vocab: Container[str], max_len: int) -> list[str] | None:
    """The reference WordpieceTokenizer on one word; None where it gives [UNK].

    Trying only substrings up to `max_len` characters gives the same result:
    a longer one cannot be in the vocab.
    """
    n = len(word)
    pieces = []
    start = 0
    while start < n:
        end = min(n, start + max_len)
        while end > start:
            piece = PREFIX + word[start:end] if start else word[start:end]
            if piece in vocab:
                break
            end -= 1
        else:
            return None
        pieces.append(piece)
        start = end
    return pieces


def evaluate(vocab: Sequence[str], word_counts: Mapping[str, int]) -> dict:
    """How the reference WordPiece algorithm splits `word_counts` with `vocab`.

    {"unk_rate": share of words (by count) that become [UNK],
     "pieces_per_word": mean pieces per word (by count; an [UNK] is one piece)}.
    Words longer than 200 characters are [UNK], as in the reference.
    """
    vocab_set = frozenset(vocab)
    max_len = _max_piece_len(vocab_set)
    words = unk = pieces = 0
    for word, count in word_counts.items():
        if count <= 0:
            continue
        words += count
        split = _greedy(word, vocab_set, max_len) if len(word) <= MAX_WORD_CHARS else None
        if split is None:
            unk += count
            pieces += count
        else:
            pieces += count * len(split)
    return {
        "unk_rate": unk / words if words else 0.0,
        "pieces_per_word": pieces / words if words else 0.0,
    }


# --------------------------------------------------------------------------
# Step 2: candidates by frequency merges
# --------------------------------------------------------------------------


class _PairMerger:
    """Frequency merges over a word list: the pair tables and how one merge rewrites them.

    Symbols are ints; a pair is one int key (a * _PAIR + b), which keeps the
    pair tables small. `pair_words` lists the words that contain (or once
    contained) a pair; stale entries are skipped when the pair is merged.
    """

    def __init__(self, items: list[tuple[str, int]]) -> None:
        self.syms: list[str] = []  # symbol id -> piece ("##" on non-initial ones)
        self.sym_chars: list[int] = []  # symbol id -> characters covered
        self.ids: dict[str, int] = {}
        self.words: list[list[int]] = []
        self.counts: list[int] = []
        self.pair_counts: dict[int, int] = {}
        self.pair_words: dict[int, list[int]] = {}
        for wi, (word, count) in enumerate(items):
            w = [self.symbol(word[0], 1)] + [self.symbol(PREFIX + ch, 1) for ch in word[1:]]
            self.words.append(w)
            self.counts.append(count)
            for x, y in itertools.pairwise(w):
                key = x * _PAIR + y
                self.pair_counts[key] = self.pair_counts.get(key, 0) + count
                self._list_word(key, wi)

    def symbol(self, piece: str, chars: int) -> int:
        sid = self.ids.get(piece)
        if sid is None:
            sid = self.ids[piece] = len(self.syms)
            self.syms.append(piece)
            self.sym_chars.append(chars)
        return sid

    def _list_word(self, key: int, wi: int) -> None:
        listed = self.pair_words.get(key)
        if listed is None:
            self.pair_words[key] = [wi]
        elif listed[-1] != wi:
            listed.append(wi)

    def heap_entry(self, key: int, count: int) -> tuple:
        return (-count, self.syms[key // _PAIR], self.syms[key % _PAIR], key)  # ties: string order

    def merge(self, key: int) -> tuple[int, set[int]]:
        """Merges pair `key` in every word holding it: the new symbol and the pairs whose counts grew."""
        a, b = divmod(key, _PAIR)
        new = self.symbol(self.syms[a] + self.syms[b][len(PREFIX):], self.sym_chars[a] + self.sym_chars[b])
        changed: set[int] = set()
        for wi in self.pair_words.pop(key):
            self._rewrite(wi, a, b, new, changed)
        self.pair_counts.pop(key, None)
        return new, changed

    def _rewrite(self, wi: int, a: int, b: int, new: int, changed: set[int]) -> None:
        """Word `wi` with (a, b) replaced by `new`, its pairs' counts moved from the old form to the new."""
        w = self.words[wi]
        n = len(w)
        out: list[int] = []
        i = 0
        while i < n:
            if i + 1 < n and w[i] == a and w[i + 1] == b:
                out.append(new)
                i += 2
            else:
                out.append(w[i])
                i += 1
        if len(out) == n:  # stale: merged away by an earlier merge
            return
        pair_counts, c = self.pair_counts, self.counts[wi]
        emptied = []
        for x, y in itertools.pairwise(w):
            k = x * _PAIR + y
            pair_counts[k] -= c
            if not pair_counts[k]:
                emptied.append(k)
        for x, y in itertools.pairwise(out):
            k = x * _PAIR + y
            pair_counts[k] = pair_counts.get(k, 0) + c
            if x == new or y == new:  # only pairs with the new symbol are new to this word
                changed.add(k)
                self._list_word(k, wi)
        self.words[wi] = out
        for k in emptied:  # free pairs no word has any more (memory)
            if not pair_counts.get(k, 1):
                del pair_counts[k]
                self.pair_words.pop(k, None)


def merge_candidates(items: list[tuple[str, int]], num_merges: int, max_piece_chars: int) -> list[str]:
    """Up to `num_merges` merged pieces, in merge order (most frequent pair first)."""
    merger = _PairMerger(items)
    heap = [merger.heap_entry(key, count) for key, count in merger.pair_counts.items()]
    heapq.heapify(heap)
    merges: list[str] = []
    while heap and len(merges) < num_merges:
        neg_count, _, _, key = heapq.heappop(heap)
        count = merger.pair_counts.get(key, 0)
        if count != -neg_count:  # stale entry: the count dropped since it was pushed
            if count > 0:
                heapq.heappush(heap, merger.heap_entry(key, count))
            continue
        a, b = divmod(key, _PAIR)
        if merger.sym_chars[a] + merger.sym_chars[b] > max_piece_chars:
            continue
        new, changed = merger.merge(key)
        merges.append(merger.syms[new])
        for k in sorted(changed):
            if merger.pair_counts.get(k, 0) > 0:
                heapq.heappush(heap, merger.heap_entry(k, merger.pair_counts[k]))
    return merges


# --------------------------------------------------------------------------
# Step 3: prune under greedy longest-match
# --------------------------------------------------------------------------


def _prune(items: list[tuple[str, int]], alpha: list[str], candidates: list[str], keep: int) -> list[str]:
    """The `keep` candidates that greedy matching needs most, in candidate order."""
    vocab = set(alpha) | set(candidates)
    max_len = _max_piece_len(vocab)
    removable = sorted(set(candidates) - set(alpha))
    splits: list[list[str]] = []  # current greedy split of each word
    users: dict[str, set[int]] = {p: set() for p in removable}  # words whose split uses p (superset)
    for wi, (word, _) in enumerate(items):
        split = _greedy(word, vocab, max_len)
        splits.append(split)
        for piece in split:
            if piece in users:
                users[piece].add(wi)

    def loss(piece: str) -> int:
        """Extra pieces over the training words (by count) without `piece`."""
        vocab.discard(piece)
        extra = 0
        for wi in users[piece]:
            old = splits[wi]
            if piece in old:
                word, count = items[wi]
                extra += count * (len(_greedy(word, vocab, max_len)) - len(old))
        vocab.add(piece)
        return extra

    heap = [(loss(p), p) for p in removable]
    heapq.heapify(heap)
    left = len(removable)
    while left > keep:
        _, piece = heapq.heappop(heap)
        current = loss(piece)
        if heap and current > heap[0][0]:  # no longer the cheapest: requeue at its real loss
            heapq.heappush(heap, (current, piece))
            continue
        vocab.discard(piece)
        left -= 1
        for wi in users.pop(piece):
            if piece in splits[wi]:
                split = _greedy(items[wi][0], vocab, max_len)  # never None: the alphabet stays
                splits[wi] = split
                for other in split:
                    if other in users:
                        users[other].add(wi)
    return [p for p in candidates if p in vocab]


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def learn_wordpiece(
    word_counts: Mapping[str, int] | Iterable[tuple[str, int]],
    vocab_size: int,
    *,
    num_unused: int = 99,
    min_char_count: int = 1,
    max_piece_chars: int = 100,
) -> list[str]:
    """The full BERT vocab (special layout, alphabet, learned pieces), `vocab_size` lines.

    `word_counts`: words after BERT basic tokenization -> counts, as a mapping
    or as (word, count) pairs of distinct words. Characters seen fewer than
    `min_char_count` times are left out (words with them become [UNK] and are
    not learned from), as are words longer than the 200 characters the
    reference tokenizer accepts. Pieces are at most
    `max_piece_chars` characters. Raises ValueError when there are no words,
    or when `vocab_size` cannot hold the special tokens and the alphabet (the
    message names the minimum).
    """
    if max_piece_chars < 1:
        raise ValueError(f"max_piece_chars must be >= 1, got {max_piece_chars}")
    items = word_items(word_counts)
    alpha = _alphabet(items, min_char_count)
    if not alpha:
        raise ValueError("word_counts holds no words: nothing to learn a vocabulary from")
    minimum = minimum_vocab_size(len(alpha), num_unused)
    if vocab_size < minimum:
        assemble_vocab([], vocab_size, num_unused, required=alpha)  # raises, naming the minimum
    known = set(alpha)
    items = [item for item in items if len(item[0]) <= MAX_WORD_CHARS and all(ch in known for ch in item[0])]
    budget = vocab_size - minimum
    candidates = [
        piece
        for piece in merge_candidates(items, math.ceil(budget * CANDIDATE_FACTOR), max_piece_chars)
        # Only a word starting with "#" (so not basic-tokenized: "#" is punctuation)
        # can merge into a string that reads as "##" or an alphabet piece.
        if piece not in known and piece != PREFIX
    ]
    if len(candidates) > budget:
        candidates = _prune(items, alpha, candidates, budget)
    return assemble_vocab(candidates, vocab_size, num_unused, required=alpha)
