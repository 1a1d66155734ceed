"""Masked-LM choices: a uniform subset of positions, the 80/10/10 rule, whole words, the compiled twin."""
from __future__ import annotations

import numpy as np
import pytest

from formats import masking as rule
from pipelines.pretraining import masking
from pipelines.pretraining.instances import InstanceOptions
from pipelines.pretraining.masking import mask_tokens, mask_whole_words
from tests.support.pretraining_data import SPECIAL


def test_the_rule_is_80_10_10_with_the_thresholds_every_masker_compares_with():
    assert (rule.MASKED_SHARE, rule.KEPT_SHARE, rule.RANDOM_SHARE) == (0.8, 0.1, 0.1)
    assert (rule.MASK_BELOW, rule.KEEP_BELOW, rule.KEPT_OF_UNMASKED) == (0.8, 0.9, 0.5)


def _rows(count: int, length: int, width: int = 128) -> tuple[np.ndarray, np.ndarray]:
    ids = np.zeros((count, width), dtype=np.int64)
    ids[:, 1:length - 1] = np.arange(2000, 2000 + length - 2)
    ids[:, 0], ids[:, length - 1], ids[:, length // 2] = SPECIAL.cls, SPECIAL.sep, SPECIAL.sep
    return ids, (ids != 0) & (ids != SPECIAL.cls) & (ids != SPECIAL.sep)


def test_masking_chooses_round_15_percent_of_real_positions_80_10_10():
    options = InstanceOptions(128, 20)
    ids, candidate = _rows(3000, 100)
    original = ids.copy()
    positions, labels = mask_tokens(ids, np.full(3000, 100), candidate, np.arange(3000, dtype=np.uint64),
                                    options, SPECIAL)
    counts = (positions > 0).sum(axis=1)
    assert set(counts.tolist()) == {15}  # round(100 * 0.15)
    rows = np.arange(3000)[:, None]
    chosen = positions[:, :15]
    assert candidate[rows, chosen].all() and (np.diff(chosen, axis=1) > 0).all()
    assert (labels[:, :15] == original[rows, chosen]).all() and (labels[:, 15:] == 0).all()
    shown = ids[rows, chosen]
    masked, kept = (shown == SPECIAL.mask).mean(), (shown == original[rows, chosen]).mean()
    assert masked == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1 + 0.1 / SPECIAL.vocab_size, abs=0.01)
    untouched = np.ones_like(ids, dtype=bool)
    untouched[rows, chosen] = False
    assert (ids[untouched] == original[untouched]).all()
    position_use = np.bincount(chosen.ravel(), minlength=128)[candidate[0]]
    assert position_use.min() > 0.6 * position_use.mean()  # every candidate gets chosen, roughly evenly


def test_masking_respects_the_prediction_cap_and_short_rows():
    options = InstanceOptions(128, 5)
    ids, candidate = _rows(10, 128)
    positions, _ = mask_tokens(ids, np.full(10, 128), candidate, np.arange(10, dtype=np.uint64), options, SPECIAL)
    assert positions.shape == (10, 5) and (positions > 0).all()
    ids, candidate = _rows(10, 5)  # [CLS] t [SEP] t [SEP]: round(0.75) = 1 prediction
    positions, _ = mask_tokens(ids, np.full(10, 5), candidate, np.arange(10, dtype=np.uint64), options, SPECIAL)
    assert ((positions > 0).sum(axis=1) == 1).all()


def test_compiled_masking_equals_the_numpy_masking(monkeypatch):
    assert masking._compiled_masking is not None  # built by setup.py here and in CI
    rng = np.random.default_rng(3)
    options = InstanceOptions(64, 7)
    ids = rng.integers(0, SPECIAL.vocab_size, (500, 64))
    candidate = rng.random((500, 64)) < rng.random((500, 1))  # rows from no candidate to all
    lengths = rng.integers(0, 65, 500)  # wanted from 1 to above the cap and the candidates
    seeds = rng.integers(0, 2**63, 500).astype(np.uint64)
    compiled_ids = ids.copy()
    compiled = mask_tokens(compiled_ids, lengths, candidate, seeds, options, SPECIAL)
    monkeypatch.setattr(masking, "_compiled_masking", None)
    numpy_ids = ids.copy()
    expected = mask_tokens(numpy_ids, lengths, candidate, seeds, options, SPECIAL)
    assert (compiled_ids == numpy_ids).all() and (compiled_ids != ids).any()
    assert all((x == y).all() for x, y in zip(compiled, expected))
    assert (compiled[0] > 0).sum(axis=1).max() == 7 and ((compiled[0] > 0).sum(axis=1) == 0).any()


def test_whole_word_masking_with_one_token_words_equals_token_masking():
    options = InstanceOptions(128, 20, whole_word_mask=True)
    ids, candidate = _rows(200, 90)
    seeds = np.arange(200, dtype=np.uint64) * np.uint64(7919)
    expected = mask_tokens(ids.copy(), np.full(200, 90), candidate, seeds, options, SPECIAL)
    got = mask_whole_words(ids, np.full(200, 90), candidate, np.ones_like(candidate), seeds, options, SPECIAL)
    assert all((x == y).all() for x, y in zip(expected, got))


def test_whole_word_masking_masks_words_whole_with_one_choice_per_word():
    options = InstanceOptions(128, 20, whole_word_mask=True)
    ids, candidate = _rows(2000, 120)
    starts = np.zeros_like(candidate)
    starts[:, ::3] = True  # words of three pieces
    original = ids.copy()
    positions, _ = mask_whole_words(ids, np.full(2000, 120), candidate, starts, np.arange(2000, dtype=np.uint64),
                                    options, SPECIAL)
    fates = []
    for row in range(2000):
        chosen = set(positions[row][positions[row] > 0].tolist())
        for start in range(3, 117, 3):
            word = [p for p in range(start, start + 3) if candidate[row, p]]
            inside = [p in chosen for p in word]
            assert all(inside) or not any(inside)
            if all(inside) and len(word) == 3:
                shown = ids[row, word]
                fates.append("mask" if (shown == SPECIAL.mask).all() else
                             "keep" if (shown == original[row, word]).all() else "random")
    assert set(fates) == {"mask", "keep", "random"}
    assert fates.count("mask") / len(fates) == pytest.approx(0.8, abs=0.02)
    assert fates.count("keep") / len(fates) == pytest.approx(0.1, abs=0.02)
