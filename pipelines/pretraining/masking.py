"""Masked-LM choices for a batch of instances: which positions are predicted, and what each shows.

The 80/10/10 rule's shares come from formats.masking. mask_tokens has a
compiled twin (_masking.c, built by setup.py where a C compiler is found)
that gives the same arrays; the numpy path here serves installs without one.
"""
from __future__ import annotations

import numpy as np

from formats.masking import KEPT_OF_UNMASKED, MASK_BELOW
from pipelines.pretraining.instances import (
    DECIDE,
    KEEP,
    PICK,
    REPLACE,
    InstanceOptions,
    SpecialIds,
    random_words,
    random_words_at,
    uniform,
)

try:
    from pipelines.pretraining import _masking as _compiled_masking
except ImportError:
    _compiled_masking = None

_NOT_CANDIDATE = np.iinfo(np.uint64).max  # a PICK key above every candidate's


def masks_wanted(lengths: np.ndarray, options: InstanceOptions) -> np.ndarray:
    """min(max_predictions_per_seq, max(1, round(len(tokens) * masked_lm_prob))), rounding half to even as Python."""
    return np.minimum(np.maximum(1, np.rint(lengths * options.masked_lm_prob)), options.max_predictions_per_seq
                      ).astype(np.int64)


def mask_tokens(ids: np.ndarray, lengths: np.ndarray, candidate: np.ndarray, seeds: np.ndarray,
                options: InstanceOptions, special: SpecialIds) -> tuple[np.ndarray, np.ndarray]:
    """Masks the rows of `ids` in place, one token per choice; returns (positions, originals), position-sorted.

    The chosen positions are the `wanted` candidates with the smallest PICK
    values: a uniform random subset, as the reference's shuffle-and-take.
    """
    wanted = np.minimum(masks_wanted(lengths, options), candidate.sum(axis=1))
    if _compiled_masking is not None and ids.dtype == np.int64 and ids.flags.c_contiguous:
        count, width, most = *ids.shape, options.max_predictions_per_seq
        positions, labels = _compiled_masking.mask_tokens(
            count, width, ids, np.ascontiguousarray(candidate, dtype=bool), wanted.astype(np.int64),
            np.ascontiguousarray(seeds, dtype=np.uint64), most, special.mask, special.vocab_size,
            MASK_BELOW, KEPT_OF_UNMASKED)
        return (np.frombuffer(positions, dtype=np.int64).reshape(count, most),
                np.frombuffer(labels, dtype=np.int64).reshape(count, most))
    keys = np.where(candidate, random_words(seeds, PICK, ids.shape[1]), np.uint64(_NOT_CANDIDATE))
    most = int(wanted.max(initial=0))
    if most == 0:
        return _apply_choices(ids, np.zeros_like(candidate), seeds, options, special)
    # Each row's wanted-th smallest key bounds its choice (64-bit keys of distinct positions do not tie).
    smallest = np.sort(np.partition(keys, most - 1, axis=1)[:, :most], axis=1)
    bound = np.take_along_axis(smallest, np.maximum(wanted - 1, 0)[:, None], axis=1)
    chosen = candidate & (keys <= bound) & (wanted > 0)[:, None]
    return _apply_choices(ids, chosen, seeds, options, special)


def _apply_choices(ids: np.ndarray, chosen: np.ndarray, seeds: np.ndarray, options: InstanceOptions,
                   special: SpecialIds, first_of_word: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """80% [MASK], 10% kept, 10% random entry at chosen positions; the draw is read at `first_of_word`."""
    width = ids.shape[1]
    rows, columns = np.nonzero(chosen)
    decide_at = columns if first_of_word is None else first_of_word[rows, columns]
    row_seeds = seeds[rows]
    to_mask = uniform(random_words_at(row_seeds, DECIDE, decide_at)) < MASK_BELOW
    keep = uniform(random_words_at(row_seeds, KEEP, decide_at)) < KEPT_OF_UNMASKED
    replacement = (random_words_at(row_seeds, REPLACE, columns) % np.uint64(special.vocab_size)).astype(ids.dtype)
    originals = ids.copy()
    ids[rows[to_mask], columns[to_mask]] = special.mask
    randomized = ~to_mask & ~keep
    ids[rows[randomized], columns[randomized]] = replacement[randomized]
    positions = np.sort(np.where(chosen, np.arange(width), width), axis=1)[:, :options.max_predictions_per_seq]
    valid = positions < width
    positions = np.where(valid, positions, 0)
    return positions, np.where(valid, np.take_along_axis(originals, positions, axis=1), 0)


def mask_whole_words(ids: np.ndarray, lengths: np.ndarray, candidate: np.ndarray, word_starts: np.ndarray,
                     seeds: np.ndarray, options: InstanceOptions, special: SpecialIds) -> tuple[np.ndarray, np.ndarray]:
    """Whole-word masking: words in PICK order of their first token; a word that would overflow is skipped.

    With every token a word this chooses exactly what mask_tokens chooses.
    """
    count, width = ids.shape
    wanted = np.minimum(masks_wanted(lengths, options), candidate.sum(axis=1))
    keys = random_words(seeds, PICK, width)
    chosen = np.zeros_like(candidate)
    first_of_word = np.tile(np.arange(width), (count, 1))
    for row in range(count):
        positions = np.flatnonzero(candidate[row])
        starts = np.flatnonzero(word_starts[row, positions] | (np.arange(len(positions)) == 0))
        words = np.split(positions, starts[1:])
        total = 0
        for word in sorted(words, key=lambda w: (int(keys[row, w[0]]), int(w[0]))):
            if total >= wanted[row]:
                break
            if total + len(word) <= wanted[row]:
                chosen[row, word] = True
                first_of_word[row, word] = word[0]
                total += len(word)
    return _apply_choices(ids, chosen, seeds, options, special, first_of_word)

