"""Transfer data for distillation: unlabeled text the teacher labels, read from the files users have.

A file's kind follows its name:
- `*.parquet`: the corpus stage's documents; each sentence is an example for single-text tasks, each pair of
  consecutive sentences of a document (text_a, text_b) for pair tasks;
- `*.tsv`, `*.csv`: laid out as the task's train file (its columns and header; a label column is ignored);
- `*.jsonl`: one object per line with the text fields: `text_a` (and `text_b` for pair tasks), or the column
  names of `--task_name column`;
- anything else (`.txt`, compressed or not): one example per line; for pair tasks the two texts separated by a
  tab.

Rows that give no example are skipped and counted by reason (`skipped`), never dropped silently. Every
example's guid is `SOURCE-N`, N counting the file's examples from 0, so the same file always gives the same
examples in the same order.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from bert_model.classification.data import InputExample, Task, text_examples

_JSON_FIELDS = ("text_a", "text_b")


def _count(skipped: dict[str, int], reason: str) -> None:
    skipped[reason] = skipped.get(reason, 0) + 1


def _lines(path: str, skipped: dict[str, int]) -> Iterator[str]:
    """The file's lines; bytes that are not UTF-8 become U+FFFD, and the lines repaired so are counted."""
    with FileSystems.open(path) as handle:  # a CompressedFile for .gz/.bz2, which has readline but no iteration
        for raw in iter(handle.readline, b""):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                _count(skipped, "repaired: bytes not UTF-8 replaced")
            yield line.rstrip("\r\n")


def _is_pair(task: Task) -> bool:
    return task.columns["train"].text_b is not None


def _text_pairs(path: str, pair: bool, skipped: dict[str, int]) -> Iterator[tuple[str, str | None]]:
    for line in _lines(path, skipped):
        if not line.strip():
            _count(skipped, "empty line")
            continue
        if not pair:
            yield line, None
            continue
        text_a, tab, text_b = line.partition("\t")
        if not tab:
            _count(skipped, "no tab between the two texts")
            continue
        yield text_a, text_b


def _json_pairs(path: str, task: Task, skipped: dict[str, int]) -> Iterator[tuple[str, str | None]]:
    columns = task.columns["train"]
    names = (columns.text_a, columns.text_b) if task.name == "column" else _JSON_FIELDS
    pair = _is_pair(task)
    for line in _lines(path, skipped):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            _count(skipped, "not JSON")
            continue
        if not isinstance(row, dict) or names[0] not in row or (pair and names[1] not in row):
            _count(skipped, "missing text field")
            continue
        yield str(row[names[0]]), str(row[names[1]]) if pair else None


def _document_pairs(path: str, pair: bool, skipped: dict[str, int]) -> Iterator[tuple[str, str | None]]:
    with FileSystems.open(path) as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(columns=["sentences"]):
            for sentences in batch.column(0).to_pylist():
                sentences = [sentence for sentence in sentences or () if sentence.strip()]
                if not pair:
                    yield from ((sentence, None) for sentence in sentences)
                elif len(sentences) < 2:
                    _count(skipped, "document of one sentence")
                else:
                    yield from zip(sentences, sentences[1:])


def transfer_kind(path: str) -> str:
    """"table", "jsonl", "documents" or "text": how `transfer_examples` reads `path`; ValueError for a compressed
    table (its reader takes plain files)."""
    name = path.lower()
    if name.endswith((".tsv", ".csv")):
        return "table"
    if name.endswith((".tsv.gz", ".csv.gz", ".tsv.bz2", ".csv.bz2")):
        raise ValueError(f"{path}: give TSV/CSV transfer files uncompressed (or as .txt with one text per line)")
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    return "jsonl" if name.endswith(".jsonl") else "documents" if name.endswith(".parquet") else "text"


def transfer_examples(path: str, source: int, task: Task, skipped: dict[str, int]) -> Iterator[InputExample]:
    """The examples of the transfer file `path` (the module docstring says how each kind is read), unlabeled
    (they carry the task's first label, which training ignores); rows skipped are counted in `skipped`."""
    default = task.labels[0] if task.labels else "0"
    kind = transfer_kind(path)
    if kind == "table":
        texts = ((example.text_a, example.text_b) for example in text_examples(task, path, skipped))
    elif kind == "jsonl":
        texts = _json_pairs(path, task, skipped)
    elif kind == "documents":
        texts = _document_pairs(path, _is_pair(task), skipped)
    else:
        texts = _text_pairs(path, _is_pair(task), skipped)
    number = 0
    for text_a, text_b in texts:
        if not text_a.strip():
            _count(skipped, "empty text")
            continue
        yield InputExample(f"{source}-{number}", text_a, text_b, default)
        number += 1
