"""The teacher of a distillation: a fine-tuned classifier that reads raw text and gives logits; and the
student, once trained, read the same way (to compare their speed).

Two kinds are accepted, both made by `bertprep finetune classify`:
- its OUTPUT_DIR: the latest model.ckpt-N with bert_config.json, labels.json (task, labels, casing, sequence
  length) and vocab.txt beside it; the text is tokenized in Python (`convert_examples`), as for fine-tuning;
- its `--export_dir` SavedModel, with labels.json beside saved_model.pb; its own graph tokenizer reads the text.

The teacher tokenizes with its own vocab and casing, so teacher and student may differ in both. Logits come in
fixed batches of `batch_size` rows (the last one padded), so a row's logits never depend on which other rows
share its batch or how many there are: the same input gives the same bytes on any number of workers.
"""
from __future__ import annotations

import dataclasses
import logging
import posixpath
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bert_model.classification.data import InputExample, Task, convert_examples
from bert_model.classification.labels import LABELS_FILE, VOCAB_FILE, TaskLabels, read_labels
from bert_model.classification.model import BertClassifier
from bert_model.config import CONFIG_FILE, BertConfig
from bert_model.finetuning import initialize_from_checkpoint
from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model"
CHECKPOINT = "checkpoint"


class TeacherError(ValueError):
    """A teacher that cannot be used; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class TeacherInfo:
    """Where a teacher is and what it is, read from its files without loading its weights."""

    location: str
    kind: str  # CHECKPOINT or SAVED_MODEL
    labels: TaskLabels  # with the max_seq_length its features have
    weights: str  # the checkpoint prefix, or the SavedModel folder
    vocab_file: str  # vocab.txt beside the checkpoint, or the SavedModel's vocab asset

    def describe(self) -> dict:
        """For metadata and results: where it is, its kind and weights, task, labels, casing, length."""
        return {"location": self.location, "kind": self.kind, "weights": self.weights, "task": self.labels.task,
                "labels": list(self.labels.labels), "do_lower_case": self.labels.do_lower_case,
                "max_seq_length": self.labels.max_seq_length}


def describe_teacher(location: str, default_max_seq_length: int) -> TeacherInfo:
    """The teacher at `location` (a fine-tuning OUTPUT_DIR or an exported SavedModel). A checkpoint folder
    fine-tuned before labels.json recorded the sequence length runs at `default_max_seq_length`. TeacherError
    names what is missing."""
    location = location.rstrip("/")
    if not tf.io.gfile.isdir(location):
        raise TeacherError(f"--teacher {location} is not a folder: give a `bertprep finetune classify` "
                           "--output_dir or its --export_dir")
    labels = read_labels(location)
    if labels is None:
        raise TeacherError(f"--teacher {location} has no {LABELS_FILE}, so its outputs' labels are unknown: use a "
                           "folder that `bertprep finetune classify --do_train` wrote (or its --export_dir), or "
                           "write labels.json as that command does")
    if tf.io.gfile.exists(posixpath.join(location, "saved_model.pb")):
        # The export's only asset is its vocab, under the name the vocab file had.
        assets = tf.io.gfile.glob(posixpath.join(location, "assets", "*"))
        if len(assets) != 1:
            raise TeacherError(f"--teacher {location}: a SavedModel with {len(assets)} assets, not the one vocab of "
                               "a `bertprep finetune classify --export_dir` export")
        return TeacherInfo(location, SAVED_MODEL, labels, location, assets[0])
    weights = tf.train.latest_checkpoint(location)
    if weights is None:
        raise TeacherError(f"--teacher {location} holds no checkpoint (model.ckpt-N with a `checkpoint` file) and "
                           "no saved_model.pb")
    for name in (CONFIG_FILE, VOCAB_FILE):
        if not tf.io.gfile.exists(posixpath.join(location, name)):
            raise TeacherError(f"--teacher {location} has no {name}: fine-tune it with this version of bertprep "
                               f"(which writes it beside the checkpoints), or copy the model's {name} there")
    if labels.max_seq_length is None:
        labels = dataclasses.replace(labels, max_seq_length=default_max_seq_length)
    return TeacherInfo(location, CHECKPOINT, labels, weights, posixpath.join(location, VOCAB_FILE))


def _pad_rows(features: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    return {name: np.concatenate([values, np.zeros((rows - len(values), *values.shape[1:]), values.dtype)])
            for name, values in features.items()}


class TextClassifier:
    """A classifier of raw text: `logits(examples)` [n, outputs] float32, computed in batches of exactly
    `batch_size` rows (the last one padded)."""

    def __init__(self, num_outputs: int, batch_size: int) -> None:
        self.num_outputs, self.batch_size = num_outputs, batch_size

    def _batch_logits(self, examples: Sequence[InputExample]) -> np.ndarray:
        raise NotImplementedError

    def logits(self, examples: Sequence[InputExample]) -> np.ndarray:
        """The logits of `examples`, in order; their labels are not read."""
        parts = [self._batch_logits(examples[start: start + self.batch_size])
                 for start in range(0, len(examples), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_outputs), np.float32)


class ModelClassifier(TextClassifier):
    """A `BertClassifier` with the tokenizer and length of its features (`convert_examples`)."""

    def __init__(self, model: BertClassifier, task: Task, tokenizer: FullTokenizer, max_seq_length: int,
                 batch_size: int) -> None:
        super().__init__(task.num_outputs, batch_size)
        self.task, self.tokenizer, self.max_seq_length = task, tokenizer, max_seq_length
        self._forward = tf.function(lambda features: model(features, training=False)["logits"])

    def _batch_logits(self, examples: Sequence[InputExample]) -> np.ndarray:
        features = convert_examples(examples, self.task, self.max_seq_length, self.tokenizer)
        del features["label_ids"]
        logits = self._forward({name: tf.constant(values)
                                for name, values in _pad_rows(features, self.batch_size).items()})
        return np.asarray(logits, np.float32)[: len(examples)]


class SavedModelClassifier(TextClassifier):
    """The text signature (`serving_default(text_a, text_b)`) of a classifier's SavedModel."""

    def __init__(self, location: str, num_outputs: int, batch_size: int) -> None:
        super().__init__(num_outputs, batch_size)
        self._serving = tf.saved_model.load(location).signatures["serving_default"]

    def _batch_logits(self, examples: Sequence[InputExample]) -> np.ndarray:
        pad = [""] * (self.batch_size - len(examples))
        text_a = [example.text_a for example in examples] + pad
        text_b = [example.text_b or "" for example in examples] + pad
        logits = self._serving(text_a=tf.constant(text_a), text_b=tf.constant(text_b))["logits"]
        return np.asarray(logits, np.float32)[: len(examples)]


def load_teacher(info: TeacherInfo, batch_size: int) -> TextClassifier:
    """The teacher of `info`, loaded, giving logits in batches of `batch_size`."""
    labels = info.labels
    task = Task(labels.task, labels.labels, {}, {})
    if info.kind == SAVED_MODEL:
        return SavedModelClassifier(info.location, task.num_outputs, batch_size)
    config = BertConfig.from_json_file(posixpath.join(info.location, CONFIG_FILE))
    model = BertClassifier(config, task.num_outputs)
    model.build()
    initialize_from_checkpoint(model, info.weights)
    tokenizer = FullTokenizer(info.vocab_file, do_lower_case=labels.do_lower_case)
    return ModelClassifier(model, task, tokenizer, labels.max_seq_length, batch_size)
