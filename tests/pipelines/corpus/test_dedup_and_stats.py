"""Dedup keys, MinHash near-duplicates and stats reconciliation (plain functions)."""
from __future__ import annotations

from pipelines.corpus import dedup, stats
from pipelines.corpus.document_writer import shard_of

# Opening of Gutenberg #3261, News from Nowhere (public domain), and the same
# paragraph with the small edits that separate the two editions in ../shared/data.
PARAGRAPH = (
    "Up at the League, says a friend, there had been one night a brisk conversational discussion, as to "
    "what would happen on the Morrow of the Revolution, finally shading off into a vigorous statement by "
    "various friends of their views on the future of the fully-developed new society."
)
EDITED = PARAGRAPH.replace("fully-developed", "fully developed").replace("brisk", "lively")


def test_content_key_ignores_case_and_spacing_only():
    assert dedup.content_key(PARAGRAPH) == dedup.content_key("  " + PARAGRAPH.upper().replace(" ", "\n "))
    assert dedup.content_key(PARAGRAPH) != dedup.content_key(EDITED)


def test_minhash_separates_near_from_different():
    near = dedup.estimated_jaccard(dedup.minhash_signature(PARAGRAPH * 3), dedup.minhash_signature(EDITED * 3))
    other = dedup.estimated_jaccard(
        dedup.minhash_signature(PARAGRAPH), dedup.minhash_signature("An entirely different text about whales " * 5)
    )
    assert near > 0.6 and other < 0.1


def test_lsh_parameters_cross_near_threshold():
    bands, rows = dedup.lsh_parameters(0.8)
    crossing = (1 / bands) ** (1 / rows)
    assert bands * rows <= dedup.NUM_PERM and 0.7 <= crossing <= 0.85


def test_bucket_keeps_smallest_id():
    sig = dedup.minhash_signature(PARAGRAPH)
    far = dedup.minhash_signature("Call me Ishmael. Some years ago, never mind how long precisely.")
    assert dedup.near_duplicates_in_bucket([("b", sig), ("a", sig), ("c", far)], 0.8) == ["b"]


def test_signatures_are_stable_across_processes():
    import subprocess
    import sys

    code = "from pipelines.corpus.dedup import minhash_signature as m; print(m('stable text for hashing').sum())"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(runs) == 1
    assert shard_of("enwiki:12", 7) == shard_of("enwiki:12", 7) < 7


def test_summary_reconciles_and_lists_every_input():
    rows = [
        (("a", "kept", ""), (3, 30, 900)),
        (("a", "dropped", "redirect"), (5, 0, 0)),
        (("a", "error", "truncated_page"), (1, 0, 0)),
        (("b", "dropped", "duplicate"), (2, 0, 0)),
    ]
    summary = stats.summarize(rows, ["a", "b", "c"])
    assert summary["read"] == 11 and summary["kept"] == 3 and summary["errors"] == 1
    assert summary["dropped"] == {"duplicate": 2, "redirect": 5}
    assert summary["inputs"]["c"]["read"] == 0
    assert summary["inputs"]["b"]["dropped"] == {"duplicate": 2}
    assert stats.reconciles(summary) and all(stats.reconciles(v) for v in summary["inputs"].values())
