"""Labelling for sequence classification and regression: the teacher reads the raw text of each example (with
its own vocab), the student's features are `finetune classify`'s with the student's vocab."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bert_model.classification.data import InputExample, Task, convert_examples
from bert_model.distillation.teacher import TeacherInfo, TextClassifier
from formats.distillation_labels import HAS_LABEL, TEACHER_LOGITS, classification_feature_spec
from pipelines.distillation.transfer import transfer_examples
from vocab.tokenization import FullTokenizer


@dataclasses.dataclass(frozen=True)
class StudentVocab:
    """The student's tokenizer (it travels with the pipeline: workers need not reach the vocab file) and what
    identifies it in the metadata."""

    tokenizer: FullTokenizer
    vocab_file: str
    sha256: str

    def describe(self, **more: Any) -> dict[str, Any]:
        return {"vocab_file": self.vocab_file, "vocab_sha256": self.sha256,
                "do_lower_case": self.tokenizer.do_lower_case, **more}


@dataclasses.dataclass(frozen=True)
class ClassificationLabelling:
    """`labelling.TaskLabelling` for `task`: teacher logits per example; the score on gold rows is the count
    of correct predictions (classification) or the summed squared error (regression)."""

    task: Task
    teacher: TeacherInfo
    student: StudentVocab
    max_seq_length: int
    teacher_batch_size: int

    def transfer_examples(self, path: str, source: int, skipped: dict[str, int]) -> Iterator[InputExample]:
        return transfer_examples(path, source, self.task, skipped)

    def load_teacher(self) -> TextClassifier:
        from bert_model.distillation.teacher import load_teacher

        return load_teacher(self.teacher, self.teacher_batch_size)

    def label(self, teacher: TextClassifier, examples: Sequence[InputExample],
              gold: bool) -> tuple[dict[str, np.ndarray], int, float]:
        logits = teacher.logits(examples)
        features = convert_examples(examples, self.task, self.max_seq_length, self.student.tokenizer)
        rows = len(examples)
        features[HAS_LABEL] = np.full((rows, 1), int(gold), np.int32)
        features[TEACHER_LOGITS] = logits
        if not gold:
            return features, 0, 0.0
        labels = features["label_ids"][:, 0]
        if self.task.is_regression:
            return features, rows, float(np.sum(np.square(logits[:, 0] - labels)))
        return features, rows, float(np.sum(np.argmax(logits, axis=-1) == labels))

    def gold_metrics(self, gold: int, score: float) -> dict[str, float]:
        return {"mse" if self.task.is_regression else "accuracy": score / gold}

    def description(self) -> dict[str, Any]:
        return {"task": self.task.name, "labels": self.task.labels, "teacher": self.teacher.describe(),
                "student": self.student.describe(max_seq_length=self.max_seq_length),
                "feature_spec": classification_feature_spec(self.max_seq_length, self.task.num_outputs,
                                                            self.task.is_regression)}
