"""Where the repository and the test data are, for tests at any depth under tests/."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
UNCASED_VOCAB = DATA / "vocab" / "bert-base-uncased-vocab.txt"
