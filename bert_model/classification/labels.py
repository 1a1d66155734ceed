"""OUTPUT_DIR/labels.json beside a fine-tuned classifier's checkpoints (and in its SavedModel export): the
task, its labels in output order (empty for regression), the tokenizer's case and the features' length, so
that the folder says what its outputs mean and how to feed it (an export to transformers takes its id2label
and problem type from it; `bertprep distill` runs it as a teacher)."""
from __future__ import annotations

import dataclasses
import json
import posixpath

import tensorflow as tf

LABELS_FILE = "labels.json"
VOCAB_FILE = "vocab.txt"  # the vocab a fine-tuned folder reads, copied beside its checkpoints


@dataclasses.dataclass(frozen=True)
class TaskLabels:
    task: str
    labels: tuple[str, ...]  # output index i is labels[i]; empty for regression
    do_lower_case: bool
    max_seq_length: int | None = None  # None in folders fine-tuned before it was recorded

    @property
    def is_regression(self) -> bool:
        return not self.labels


def write_labels(labels: TaskLabels, folder: str) -> str:
    """Writes FOLDER/labels.json; its path."""
    tf.io.gfile.makedirs(folder)
    path = posixpath.join(folder, LABELS_FILE)
    record = {"task": labels.task, "labels": list(labels.labels), "regression": labels.is_regression,
              "do_lower_case": labels.do_lower_case}
    if labels.max_seq_length is not None:
        record["max_seq_length"] = labels.max_seq_length
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


def copy_vocab(vocab_file: str, folder: str) -> None:
    """Copies the vocab a model reads to FOLDER/vocab.txt (nothing to do when it is that file already)."""
    target = posixpath.join(folder, VOCAB_FILE)
    if posixpath.normpath(vocab_file) != posixpath.normpath(target):
        tf.io.gfile.copy(vocab_file, target, overwrite=True)


def read_labels(folder: str) -> TaskLabels | None:
    """FOLDER/labels.json, or None where the folder has none."""
    path = posixpath.join(folder, LABELS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as handle:
        record = json.loads(handle.read())
    return TaskLabels(record["task"], tuple(record["labels"]), record["do_lower_case"], record.get("max_seq_length"))
