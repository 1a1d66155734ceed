"""Duplicate detection: exact content keys and MinHash-LSH near-duplicates.

Exact: documents whose text is equal after case folding and whitespace
collapsing share a key; the one with the smallest id is kept.

Near: each document gets a MinHash signature of its word 5-gram shingles
(character 5-grams for text without spaces, e.g. Chinese); the signature is cut
into `bands` bands of `rows` values, and documents sharing a band are
candidates. A candidate is dropped only if its estimated Jaccard similarity to
the smallest-id member of the bucket reaches the threshold, so the band
parameters only decide recall, never precision.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

SHINGLE_SIZE = 5
NUM_PERM = 128
_SEED = 1  # fixed: signatures must be equal on every worker and every run
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def content_key(text: str) -> str:
    """Key under which exact duplicates collide."""
    canonical = _SPACE.sub(" ", text.casefold()).strip()
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


def shingles(text: str, size: int = SHINGLE_SIZE) -> list[bytes]:
    words = _WORD.findall(text.casefold())
    # Scripts without spaces give few, very long "words": shingle characters instead.
    if len(words) < size or sum(map(len, words)) > 20 * len(words):
        units = "".join(words)
        grams = [units[i : i + size] for i in range(max(1, len(units) - size + 1))]
    else:
        grams = [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    return [gram.encode("utf-8") for gram in set(grams)]


def minhash_signature(text: str, num_perm: int = NUM_PERM) -> np.ndarray:
    # Imported here: datasketch brings scipy, half a second of every corpus process that never asks for
    # near-duplicates (the default).
    from datasketch import MinHash

    minhash = MinHash(num_perm=num_perm, seed=_SEED)
    minhash.update_batch(shingles(text))
    return minhash.hashvalues


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def lsh_parameters(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) whose S-curve (1 - (1 - s^r)^b) crosses 0.5 closest to `threshold`.

    Slightly below the threshold is preferred, to favour recall: false
    candidates are removed by the Jaccard check anyway.
    """
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        crossing = (1 / bands) ** (1 / rows)
        cost = abs(crossing - threshold) + (0.05 if crossing > threshold else 0.0)
        if best is None or cost < best[0]:
            best = (cost, bands, rows)
    assert best is not None
    return best[1], best[2]


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[str]:
    return [
        f"{band}:{hashlib.sha1(signature[band * rows : (band + 1) * rows].tobytes()).hexdigest()[:16]}"
        for band in range(bands)
    ]


def near_duplicates_in_bucket(members: list[tuple[str, np.ndarray]], threshold: float) -> list[str]:
    """Ids to drop from one LSH bucket: those similar to its smallest-id member."""
    if len(members) < 2:
        return []
    members = sorted(members, key=lambda member: member[0])
    keeper = members[0][1]
    return [doc_id for doc_id, signature in members[1:] if estimated_jaccard(signature, keeper) >= threshold]
