"""Labelling for SQuAD: each question's windows as `finetune squad` makes them with the student's tokenizer,
and the teacher's start and end logits on each window (teacher and student share the vocab). A batch of
questions gives any number of windows; the teacher runs on them in padded batches of the teacher batch size, a
batch's composition fixed by the questions alone."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bert_model.distillation.span_teacher import SpanTeacherInfo, WindowScorer
from bert_model.squad.data import SquadExample, convert_examples_to_features, feature_arrays, read_squad_examples
from formats.distillation_labels import HAS_LABEL, TEACHER_END_LOGITS, TEACHER_START_LOGITS, span_feature_spec
from pipelines.distillation.classification import StudentVocab


@dataclasses.dataclass(frozen=True)
class SquadLabelling:
    """`labelling.TaskLabelling` for SQuAD: windows of `max_seq_length` tokens `doc_stride` apart, questions cut
    to `max_query_length`. The score on gold windows counts those whose teacher start and end both hit the
    gold positions."""

    teacher: SpanTeacherInfo
    student: StudentVocab
    max_seq_length: int
    doc_stride: int
    max_query_length: int
    version_2_with_negative: bool
    teacher_batch_size: int

    def transfer_examples(self, path: str, source: int, skipped: dict[str, int]) -> Iterator[SquadExample]:
        """The questions of a SQuAD JSON file, unlabeled (its answers are not read)."""
        examples, _ = read_squad_examples(path, False, self.version_2_with_negative)
        return iter(examples)

    def load_teacher(self) -> WindowScorer:
        from bert_model.distillation.span_teacher import load_span_teacher

        return load_span_teacher(self.teacher, self.teacher_batch_size)

    def label(self, teacher: WindowScorer, examples: Sequence[SquadExample],
              gold: bool) -> tuple[dict[str, np.ndarray], int, float]:
        features = list(convert_examples_to_features(examples, self.student.tokenizer, self.max_seq_length,
                                                     self.doc_stride, self.max_query_length, is_training=gold))
        arrays = feature_arrays(features, is_training=gold)
        rows = len(features)
        records = {name: arrays[name] for name in ("input_ids", "input_mask", "segment_ids")}
        for name in ("start_positions", "end_positions"):
            records[name] = arrays[name] if gold else np.zeros((rows, 1), np.int32)
        records[HAS_LABEL] = np.full((rows, 1), int(gold), np.int32)
        start, end = teacher.logits(records)
        records[TEACHER_START_LOGITS], records[TEACHER_END_LOGITS] = start, end
        if not gold:
            return records, 0, 0.0
        hits = (np.argmax(start, axis=-1) == records["start_positions"][:, 0]) & \
            (np.argmax(end, axis=-1) == records["end_positions"][:, 0])
        return records, rows, float(np.sum(hits))

    def gold_metrics(self, gold: int, score: float) -> dict[str, float]:
        return {"span_accuracy": score / gold}

    def description(self) -> dict[str, Any]:
        return {"task": "squad", "labels": (), "teacher": self.teacher.describe(),
                "student": self.student.describe(max_seq_length=self.max_seq_length, doc_stride=self.doc_stride,
                                                 max_query_length=self.max_query_length,
                                                 version_2_with_negative=self.version_2_with_negative),
                "feature_spec": span_feature_spec(self.max_seq_length)}
