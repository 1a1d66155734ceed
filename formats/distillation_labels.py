"""The contract between the labelling step of `bertprep distill` and the student's training: a folder of
TFRecord files holding, per transfer example, the student's features and the teacher's logits, and the
`metadata.json` that is its completion record.

Each record has the training features of the task's fine-tuning command, tokenized with the *student's* vocab,
plus `has_label` (1 where the gold label features hold a gold label, 0 for unlabeled transfer text, whose gold
features are 0) and the teacher's raw outputs (no temperature is applied, so one labelling serves students
trained at any temperature):
- classification (`finetune classify`): `input_ids`, `input_mask`, `segment_ids`, `label_ids`, and
  `teacher_logits`, one per output;
- SQuAD (`finetune squad`), one record per window: `input_ids`, `input_mask`, `segment_ids`,
  `start_positions`, `end_positions`, and `teacher_start_logits`, `teacher_end_logits`, one per position.

Files are `labels-SSSSS-PPPPP.tfrecord`: source S (0 is the task's training file, then each transfer file in
the order given), part P of it in source order. No Beam or TensorFlow import, as the other contracts.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

LABELS_METADATA_FILE = "metadata.json"
LABELS_FORMAT = "bertprep.distillation_labels"
LABELS_FORMAT_VERSION = 1
LABELS_PATTERN = "labels-*.tfrecord"
HAS_LABEL = "has_label"
TEACHER_LOGITS = "teacher_logits"
TEACHER_START_LOGITS = "teacher_start_logits"
TEACHER_END_LOGITS = "teacher_end_logits"
_INTS, _FLOATS = "int64", "float32"


def labels_file_name(source: int, part: int) -> str:
    return f"labels-{source:05d}-{part:05d}.tfrecord"


def _window(max_seq_length: int) -> dict[str, dict]:
    return {name: {"dtype": _INTS, "shape": [max_seq_length]} for name in ("input_ids", "input_mask", "segment_ids")}


def classification_feature_spec(max_seq_length: int, num_outputs: int, regression: bool) -> dict[str, dict]:
    """Name -> {"dtype", "shape"} of every feature of a classification labels record."""
    return {**_window(max_seq_length), "label_ids": {"dtype": _FLOATS if regression else _INTS, "shape": [1]},
            HAS_LABEL: {"dtype": _INTS, "shape": [1]}, TEACHER_LOGITS: {"dtype": _FLOATS, "shape": [num_outputs]}}


def span_feature_spec(max_seq_length: int) -> dict[str, dict]:
    """Name -> {"dtype", "shape"} of every feature of a SQuAD labels record (one window)."""
    return {**_window(max_seq_length), "start_positions": {"dtype": _INTS, "shape": [1]},
            "end_positions": {"dtype": _INTS, "shape": [1]}, HAS_LABEL: {"dtype": _INTS, "shape": [1]},
            TEACHER_START_LOGITS: {"dtype": _FLOATS, "shape": [max_seq_length]},
            TEACHER_END_LOGITS: {"dtype": _FLOATS, "shape": [max_seq_length]}}


@dataclasses.dataclass(frozen=True)
class SourceCounts:
    """What one transfer source gave: its path (or the task's train file), records labelled (examples, or
    SQuAD's windows), of which with a gold label, and the rows skipped (or repaired) by reason."""

    path: str
    examples: int = 0
    gold: int = 0
    skipped: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LabelsMetadata:
    """What `metadata.json` of a labels folder records. `teacher` and `student` describe the two sides
    (location, kind, vocab, casing, max_seq_length); `teacher_gold_metrics` is how the teacher does on the
    gold-labelled transfer rows (the task's training data it was usually trained on, so an upper bound, not an
    evaluation)."""

    task: str
    labels: tuple[str, ...]  # output order; empty for regression and SQuAD
    teacher: Mapping[str, object]
    student: Mapping[str, object]
    sources: tuple[SourceCounts, ...]
    feature_spec: Mapping[str, dict]
    teacher_gold_metrics: Mapping[str, float]
    file_bytes: Mapping[str, int]
    run: Mapping[str, object]
    format: str = LABELS_FORMAT
    format_version: int = LABELS_FORMAT_VERSION

    @property
    def num_examples(self) -> int:
        return sum(source.examples for source in self.sources)

    @property
    def num_gold(self) -> int:
        return sum(source.gold for source in self.sources)

    def to_json(self) -> str:
        record = dataclasses.asdict(self)
        record["labels"] = list(self.labels)
        record["num_examples"], record["num_gold"] = self.num_examples, self.num_gold
        record["teacher_logits"] = "raw: the temperature is applied when a student trains"
        return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, record: Mapping) -> LabelsMetadata:
        """The metadata of a record read back from JSON; ValueError for another format or version."""
        if record.get("format") != LABELS_FORMAT:
            raise ValueError(f"not a labels folder's metadata (format {record.get('format')!r})")
        if record.get("format_version") != LABELS_FORMAT_VERSION:
            raise ValueError(f"labels format version {record.get('format_version')} is not "
                             f"{LABELS_FORMAT_VERSION}: label the transfer data again with this version")
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {name: value for name, value in record.items() if name in fields}
        values["labels"] = tuple(values["labels"])
        values["sources"] = tuple(SourceCounts(**source) for source in values["sources"])
        return cls(**values)
