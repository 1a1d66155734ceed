"""Transfer files for distillation: each kind read into examples, in order, with every skipped row counted."""
from __future__ import annotations

import bz2
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bert_model.classification.data import column_task, get_task
from formats.corpus_files import DOCUMENTS_SCHEMA
from pipelines.distillation.transfer import transfer_examples, transfer_kind
from tests.support import paths

GLUE = paths.DATA / "finetune" / "glue"


def _read(path: Path, task) -> tuple[list[tuple], dict[str, int]]:
    skipped: dict[str, int] = {}
    examples = list(transfer_examples(str(path), 3, task, skipped))
    return [(e.guid, e.text_a, e.text_b, e.label) for e in examples], skipped


def write_documents(path: Path, documents: list[list[str]]) -> Path:
    """A corpus stage's documents file holding `documents` (each a list of sentences)."""
    rows = {"id": [f"d{i}" for i in range(len(documents))], "source": ["text"] * len(documents),
            "title": [""] * len(documents), "url": [""] * len(documents), "language": ["en"] * len(documents),
            "sentences": documents}
    pq.write_table(pa.Table.from_pydict(rows, schema=DOCUMENTS_SCHEMA), str(path))
    return path


def test_text_lines_single_and_pair(tmp_path: Path) -> None:
    text = tmp_path / "reviews.txt.bz2"
    text.write_bytes(bz2.compress("a gripping , funny film\n\n   \nThe Thin Man\tis a comedy\n".encode()
                                  + b"caf\xe9 society\n"))
    examples, skipped = _read(text, get_task("sst-2"))
    assert examples == [("3-0", "a gripping , funny film", None, "0"), ("3-1", "The Thin Man\tis a comedy", None, "0"),
                        ("3-2", "caf\ufffd society", None, "0")]
    assert skipped == {"empty line": 2, "repaired: bytes not UTF-8 replaced": 1}
    examples, skipped = _read(text, get_task("rte"))  # a pair task: the tab separates the texts
    assert examples == [("3-0", "The Thin Man", "is a comedy", "entailment")]
    assert skipped == {"empty line": 2, "no tab between the two texts": 2, "repaired: bytes not UTF-8 replaced": 1}


def test_jsonl_fields_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [{"text_a": "A man plays a flute.", "text_b": "A man plays music."}, {"text_a": "no partner"}, "[1, 2]"]
    path.write_text("\n".join(json.dumps(row) if isinstance(row, dict) else row for row in rows) + "\n{broken\n")
    examples, skipped = _read(path, get_task("sts-b"))
    assert examples == [("3-0", "A man plays a flute.", "A man plays music.", "0")]
    assert skipped == {"missing text field": 2, "not JSON": 1}
    # A column task reads its own column names.
    named = tmp_path / "named.jsonl"
    named.write_text(json.dumps({"review": "great", "stars": "5"}) + "\n")
    task = column_task(str(tmp_path), {}, "review", None, "stars", ["1", "5"])
    assert _read(named, task)[0] == [("3-0", "great", None, "1")]


def test_a_table_in_the_tasks_layout_ignores_its_labels() -> None:
    examples, skipped = _read(GLUE / "RTE" / "dev.tsv", get_task("rte"))
    rows = (GLUE / "RTE" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert [(a, b) for _, a, b, _ in examples] == [tuple(row.split("\t")[1:3]) for row in rows]
    assert {label for *_, label in examples} == {"entailment"} and not skipped


def test_corpus_documents_give_sentences_or_consecutive_pairs(tmp_path: Path) -> None:
    book = (paths.DATA / "gutenberg").glob("*.txt")
    sentences = [line.strip() for line in next(iter(sorted(book))).read_text(encoding="utf-8", errors="replace")
                 .splitlines()[200:260] if line.strip()][:7]
    path = write_documents(tmp_path / "documents-00000-of-00001.parquet",
                           [sentences[:4], sentences[4:5], sentences[5:]])
    single, skipped = _read(path, get_task("cola"))
    assert [a for _, a, _, _ in single] == sentences and not skipped
    pairs, skipped = _read(path, get_task("mrpc"))
    assert [(a, b) for _, a, b, _ in pairs] == [(sentences[0], sentences[1]), (sentences[1], sentences[2]),
                                                (sentences[2], sentences[3]), (sentences[5], sentences[6])]
    assert skipped == {"document of one sentence": 1}


def test_kinds_by_name() -> None:
    assert [transfer_kind(name) for name in ("a.tsv", "b.CSV", "c.jsonl.gz", "d.parquet", "e.txt", "f")] == \
        ["table", "table", "jsonl", "documents", "text", "text"]
    with pytest.raises(ValueError, match="uncompressed"):
        transfer_kind("gs://bucket/train.tsv.gz")
