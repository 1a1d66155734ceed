"""Classification tasks in the file formats run_classifier.py reads, and their features.

Each task names its files in DATA_DIR, its labels and, per split, which columns of a row hold text_a,
text_b and the label. The reference's processors (CoLA, MNLI, MRPC, XNLI) are followed row for row
(same guids, header handling, label fixes); SST-2, QNLI, QQP, RTE, WNLI and STS-B follow the GLUE files.
TSVs are read as the reference reads them: tab-separated, no quoting (GLUE text holds unmatched quotes).
`ColumnTask` reads any TSV/CSV (with a header) or JSONL file whose text and label columns are named.

Bad input raises ClassifierDataError naming the file and line: a row with too few columns, a label
outside the task's labels, a file without examples. With `skip_bad_rows`, such rows are skipped and
counted instead (`ReadReport`).

Features are those of run_classifier.py's convert_single_example: [CLS] a [SEP] (b [SEP]), the longer
side truncated first, zero-padded; `label_ids` the label's index (a float score for regression).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import posixpath
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


class ClassifierDataError(ValueError):
    """Unusable task data; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class InputExample:
    """One example, as the reference's InputExample. `label` is a string (a score's text for regression)."""

    guid: str
    text_a: str
    text_b: str | None
    label: str


@dataclasses.dataclass
class ReadReport:
    """What reading one file gave: the examples' count and the rows skipped, by reason."""

    path: str
    examples: int = 0
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where a split's fields are in a row (indices, negative from the end, or names for ColumnTask).

    `label` None: the split is unlabeled and gets `default_label`, as the reference's test sets do.
    """

    text_a: int | str
    text_b: int | str | None
    label: int | str | None
    header: bool = True
    guid: int | str | None = None  # column whose value names the example (else its row number)
    # Rows whose value in this column differs from the task's `language` are another task's (XNLI dev).
    language: int | None = None


@dataclasses.dataclass(frozen=True)
class Task:
    """A task: per split a file name and its Columns; labels (empty for regression)."""

    name: str
    labels: tuple[str, ...]
    files: dict[str, str]
    columns: dict[str, Columns]
    # Maps raw label strings before they are checked (XNLI train's "contradictory").
    label_aliases: dict[str, str] = dataclasses.field(default_factory=dict)
    guid_names: dict[str, str] = dataclasses.field(default_factory=dict)  # split -> guid prefix
    language: str | None = None

    @property
    def is_regression(self) -> bool:
        return not self.labels

    @property
    def num_outputs(self) -> int:
        return len(self.labels) or 1

    def examples(self, data_dir: str, split: str, skip_bad_rows: bool = False) -> tuple[list[InputExample], ReadReport]:
        """The examples of `split` in `data_dir`, and the read report."""
        if split not in self.files:
            raise ClassifierDataError(f"task {self.name} has no {split} split")
        path = posixpath.join(data_dir, self.files[split])
        columns = self.columns.get(split) or self.columns["train"]
        report = ReadReport(path)
        examples = list(_examples(self, split, path, columns, _rows(path, columns), report, skip_bad_rows))
        if not examples:
            raise ClassifierDataError(f"{path}: no examples (an empty file, or only a header)")
        if report.skipped:
            _log.warning("%s: skipped %s", path, ", ".join(f"{n} rows ({why})" for why, n in report.skipped.items()))
        return examples, report


def text_examples(task: Task, path: str, skipped: dict[str, int]) -> Iterator[InputExample]:
    """The texts of a file laid out as the task's train file (its columns and header), without labels: each
    example gets the task's first label; rows without the text columns are skipped and counted in `skipped` by
    reason. For unlabeled text in the task's own format (distillation's transfer data)."""
    columns = dataclasses.replace(task.columns["train"], label=None)
    report = ReadReport(path)
    yield from _examples(task, "transfer", path, columns, _rows(path, columns), report, skip_bad_rows=True)
    for reason, count in report.skipped.items():
        skipped[reason] = skipped.get(reason, 0) + count


def _examples(task: Task, split: str, path: str, columns: Columns, rows: Iterator[tuple[int, Sequence | dict]],
              report: ReadReport, skip_bad_rows: bool) -> Iterator[InputExample]:
    prefix = task.guid_names.get(split, split)
    default_label = task.labels[0] if task.labels else "0"
    for line, row in rows:
        try:
            if columns.language is not None and _field(row, columns.language, path, line) != task.language:
                continue
            label = default_label if columns.label is None else _field(row, columns.label, path, line)
            label = task.label_aliases.get(label, label)
            _check_label(task, label, path, line)
            example = InputExample(
                guid=f"{prefix}-{line - 1 if columns.guid is None else _field(row, columns.guid, path, line)}",
                text_a=_field(row, columns.text_a, path, line),
                text_b=None if columns.text_b is None else _field(row, columns.text_b, path, line),
                label=label)
        except _BadRow as error:
            if not skip_bad_rows:
                raise ClassifierDataError(str(error)) from None
            report.skipped[error.reason] = report.skipped.get(error.reason, 0) + 1
            continue
        report.examples += 1
        yield example


class _BadRow(ClassifierDataError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _field(row: Sequence | dict, column: int | str, path: str, line: int) -> str:
    if isinstance(row, dict):
        if column not in row:
            raise _BadRow(f"{path}:{line}: no column {column!r} (this row has {', '.join(map(repr, row))})",
                          "missing column")
        value = row[column]
        return value if isinstance(value, str) else json.dumps(value) if value is not None else ""
    index = column if isinstance(column, int) else None
    if index is None or not -len(row) <= index < len(row):
        needed = index + 1 if index is not None and index >= 0 else -index if index is not None else "?"
        raise _BadRow(f"{path}:{line}: {len(row)} columns, but this task reads column {column} "
                      f"(needs at least {needed}): is this the right file for the task?", "missing column")
    return row[index]


def _check_label(task: Task, label: str, path: str, line: int) -> None:
    if task.is_regression:
        try:
            float(label)
        except ValueError:
            raise _BadRow(f"{path}:{line}: score {label!r} is not a number", "bad score") from None
    elif label not in task.labels:
        raise _BadRow(f"{path}:{line}: unknown label {label!r}; task {task.name} has labels "
                      f"{', '.join(task.labels)}", "unknown label")


def _read_text(path: str) -> str:
    if not tf.io.gfile.exists(path):
        raise ClassifierDataError(f"{path} does not exist")
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ClassifierDataError(f"{path}:{line}: not UTF-8 ({error.reason})") from None


def _rows(path: str, columns: Columns) -> Iterator[tuple[int, Sequence | dict]]:
    """(line number, row) of a TSV (as the reference: no quoting), CSV (quoted) or JSONL file;
    header lines are skipped, and a named column makes the header the row's keys."""
    text = _read_text(path)
    if path.endswith(".jsonl"):
        # Not splitlines(): JSON strings may hold U+2028 and other characters it splits at.
        for line, raw in enumerate(text.split("\n"), 1):
            if raw.strip():
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as error:
                    raise ClassifierDataError(f"{path}:{line}: not JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise ClassifierDataError(f"{path}:{line}: expected a JSON object, got {type(row).__name__}")
                yield line, row
        return
    # newline="" keeps "\r" inside fields from ending a row, as csv wants.
    handle = io.StringIO(text, newline="")
    reader = (csv.reader(handle) if path.endswith(".csv")
              else csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    named = any(isinstance(column, str) for column in (columns.text_a, columns.text_b, columns.label))
    header: list[str] | None = None
    for row in reader:
        line = reader.line_num
        if header is None and columns.header:
            header = [name.lstrip("\ufeff") for name in row]
            continue
        yield line, dict(zip(header, row)) if named and header is not None else row


def _glue(name: str, labels: tuple[str, ...], a: int, b: int | None, label: int, test_a: int,
          test_b: int | None) -> Task:
    """A GLUE task: header lines; train and dev share their columns; test has no label."""
    return Task(name, labels, {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
                {"train": Columns(a, b, label), "dev": Columns(a, b, label), "test": Columns(test_a, test_b, None)})


_NLI = ("contradiction", "entailment", "neutral")
_ENTAILMENT = ("entailment", "not_entailment")
_BINARY = ("0", "1")


def _mnli(name: str, dev: str, test: str) -> Task:
    # The reference: texts at 8 and 9, label last (train: gold_label; dev: gold_label after label1-5),
    # guid from the index column, the dev guid named after its file.
    columns = Columns(8, 9, -1, guid=0)
    return Task(name, _NLI, {"train": "train.tsv", "dev": dev, "test": test},
                {"train": columns, "dev": columns, "test": Columns(8, 9, None, guid=0)},
                guid_names={"dev": dev[: -len(".tsv")]})


def xnli(language: str = "zh") -> Task:
    """The reference's XnliProcessor (language "zh" there): MT train of that language, the XNLI dev/test
    rows of that language (test read like dev)."""
    dev = Columns(6, 7, 1, language=0)
    return Task("xnli", _NLI, {"train": f"multinli/multinli.train.{language}.tsv", "dev": "xnli.dev.tsv",
                               "test": "xnli.test.tsv"},
                {"train": Columns(0, 1, 2), "dev": dev, "test": dev},
                label_aliases={"contradictory": "contradiction"}, language=language)


TASKS: dict[str, Callable[[], Task]] = {
    "cola": lambda: Task("cola", _BINARY, {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
                         {"train": Columns(3, None, 1, header=False), "dev": Columns(3, None, 1, header=False),
                          # The reference numbers test guids from the header line (row 0).
                          "test": Columns(1, None, None)}),
    "mnli": lambda: _mnli("mnli", "dev_matched.tsv", "test_matched.tsv"),
    "mnli-mm": lambda: _mnli("mnli-mm", "dev_mismatched.tsv", "test_mismatched.tsv"),
    "mrpc": lambda: _glue("mrpc", _BINARY, 3, 4, 0, 3, 4),
    "sst-2": lambda: _glue("sst-2", _BINARY, 0, None, 1, 1, None),
    "qnli": lambda: _glue("qnli", _ENTAILMENT, 1, 2, 3, 1, 2),
    "qqp": lambda: _glue("qqp", _BINARY, 3, 4, 5, 1, 2),
    "rte": lambda: _glue("rte", _ENTAILMENT, 1, 2, 3, 1, 2),
    "wnli": lambda: _glue("wnli", _BINARY, 1, 2, 3, 1, 2),
    "sts-b": lambda: _glue("sts-b", (), 7, 8, 9, 7, 8),
    "xnli": xnli,
}
# Other spellings users and GLUE's folders use.
TASK_ALIASES = {"sst2": "sst-2", "stsb": "sts-b", "sts_b": "sts-b", "sst_2": "sst-2", "mnli_mismatched": "mnli-mm",
                "mnli_matched": "mnli"}


def column_task(data_dir: str, files: dict[str, str], text_a: str, text_b: str | None, label: str,
                labels: Sequence[str] | None, regression: bool = False) -> Task:
    """A task over user files (.tsv/.csv with a header row, or .jsonl) whose columns are named.

    `labels` fixes the label order (output index i is labels[i]); None takes the sorted distinct labels of
    the train file (reading it), else of the dev file. Test rows without a label column get the first label.
    """
    columns = Columns(text_a, text_b, label)
    task = Task("column", () if regression else tuple(labels or ()), dict(files),
                {"train": columns, "dev": columns, "test": columns})
    if regression or labels:
        return task
    source = "train" if "train" in files else "dev"
    if source not in files:
        raise ClassifierDataError("give the labels (--labels): there is no train or dev file to read them from")
    path = posixpath.join(data_dir, files[source])
    found = sorted({_field(row, label, path, line) for line, row in _rows(path, columns) if label in row})
    if not found:
        raise ClassifierDataError(f"{path}: no row has the label column {label!r}")
    return dataclasses.replace(task, labels=tuple(found))


def get_task(name: str, language: str = "zh") -> Task:
    """The task `name` (case-insensitive, GLUE's spellings too); ClassifierDataError lists the known ones."""
    key = TASK_ALIASES.get(name.lower(), name.lower())
    if key not in TASKS:
        raise ClassifierDataError(f"unknown task {name!r}; known: {', '.join(TASKS)} (or 'column' with --text_a_column)")
    return xnli(language) if key == "xnli" else TASKS[key]()


# ---------------------------------------------------------------------------------------------- features

def _truncate_pair(tokens_a: list[str], tokens_b: list[str], max_length: int) -> None:
    # The reference's rule: drop the last token of the longer side (b on a tie) until they fit.
    while len(tokens_a) + len(tokens_b) > max_length:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def convert_examples(examples: Sequence[InputExample], task: Task, max_seq_length: int,
                     tokenizer: FullTokenizer) -> dict[str, np.ndarray]:
    """`input_ids`, `input_mask`, `segment_ids` [n, max_seq_length] int32 and `label_ids` [n, 1] (int32
    label index, float32 score for regression), as convert_single_example computes them."""
    label_index = {label: index for index, label in enumerate(task.labels)}
    ids = np.zeros((len(examples), max_seq_length), np.int32)
    mask = np.zeros_like(ids)
    segments = np.zeros_like(ids)
    labels = np.zeros((len(examples), 1), np.float32 if task.is_regression else np.int32)
    for row, example in enumerate(examples):
        tokens_a = tokenizer.tokenize(example.text_a)
        tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
        if tokens_b:
            _truncate_pair(tokens_a, tokens_b, max_seq_length - 3)
        else:
            del tokens_a[max_seq_length - 2:]
        tokens = ["[CLS]", *tokens_a, "[SEP]"] + ([*tokens_b, "[SEP]"] if tokens_b else [])
        ids[row, : len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
        mask[row, : len(tokens)] = 1
        segments[row, len(tokens_a) + 2: len(tokens)] = 1
        labels[row, 0] = float(example.label) if task.is_regression else label_index[example.label]
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments, "label_ids": labels}
