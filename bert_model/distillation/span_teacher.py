"""The teacher of a SQuAD distillation: a `bertprep finetune squad` OUTPUT_DIR (checkpoint, bert_config.json,
vocab.txt, squad.json), run on the student's windows.

A span teacher scores token positions, so it must read the very tokens the student reads: teacher and student
share one vocab and casing (`describe_span_teacher` refuses otherwise), and the teacher's soft targets are
its start and end logits on each of the student's windows. A `WindowScorer` runs any `BertSquad` in fixed
batches (padding rows added), so a window's logits never depend on which windows share its batch.
"""
from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from bert_model.classification.labels import VOCAB_FILE
from bert_model.config import CONFIG_FILE, BertConfig
from bert_model.distillation.teacher import TeacherError
from bert_model.finetuning import initialize_from_checkpoint
from bert_model.squad.folder import SQUAD_FILE, SquadSettings, read_settings
from bert_model.squad.model import BertSquad

WINDOW_FEATURES = ("input_ids", "input_mask", "segment_ids")


@dataclasses.dataclass(frozen=True)
class SpanTeacherInfo:
    location: str
    weights: str  # the checkpoint prefix
    settings: SquadSettings

    @property
    def vocab_file(self) -> str:
        return posixpath.join(self.location, VOCAB_FILE)

    def describe(self) -> dict:
        return {"location": self.location, "kind": "checkpoint", "weights": self.weights,
                **dataclasses.asdict(self.settings)}


def describe_span_teacher(location: str, student_vocab_sha256: str, student_do_lower_case: bool,
                          vocab_sha256: str, max_seq_length: int) -> SpanTeacherInfo:
    """The SQuAD teacher at `location`. TeacherError names what is missing, or how the student differs from
    it: the student's vocab (its SHA-256 `student_vocab_sha256`; the teacher's is `vocab_sha256`) and casing must
    be the teacher's, and its `max_seq_length` within the teacher's position embeddings."""
    location = location.rstrip("/")
    if not tf.io.gfile.isdir(location):
        raise TeacherError(f"--teacher {location} is not a folder: give a `bertprep finetune squad` --output_dir")
    settings = read_settings(location)
    for name, present in ((SQUAD_FILE, settings is not None),
                          (CONFIG_FILE, tf.io.gfile.exists(posixpath.join(location, CONFIG_FILE))),
                          (VOCAB_FILE, tf.io.gfile.exists(posixpath.join(location, VOCAB_FILE)))):
        if not present:
            raise TeacherError(f"--teacher {location} has no {name}: use a folder that `bertprep finetune squad "
                               "--do_train` wrote with this version (it writes bert_config.json, vocab.txt and "
                               "squad.json beside the checkpoints)")
    weights = tf.train.latest_checkpoint(location)
    if weights is None:
        raise TeacherError(f"--teacher {location} holds no checkpoint (model.ckpt-N with a `checkpoint` file)")
    if vocab_sha256 != student_vocab_sha256 or settings.do_lower_case != student_do_lower_case:
        raise TeacherError(f"--teacher {location} reads another vocab or casing than the student: a SQuAD teacher "
                           f"scores the student's own windows, so give the student --vocab_file "
                           f"{posixpath.join(location, VOCAB_FILE)} and --do_lower_case={settings.do_lower_case}")
    config = BertConfig.from_json_file(posixpath.join(location, CONFIG_FILE))
    if max_seq_length > config.max_position_embeddings:
        raise TeacherError(f"--max_seq_length {max_seq_length} exceeds the teacher's max_position_embeddings "
                           f"{config.max_position_embeddings}")
    return SpanTeacherInfo(location, weights, settings)


class WindowScorer:
    """`logits(windows)`: a `BertSquad`'s start and end logits [n, seq] float32 for the windows' int features,
    computed in batches of exactly `batch_size` rows."""

    def __init__(self, model: BertSquad, batch_size: int) -> None:
        self.batch_size = batch_size
        self._forward = tf.function(lambda features: model(features, training=False))

    def logits(self, windows: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        count = len(windows["input_ids"])
        starts, ends = [], []
        for begin in range(0, count, self.batch_size):
            batch = {name: np.asarray(windows[name][begin: begin + self.batch_size], np.int32)
                     for name in WINDOW_FEATURES}
            rows = len(batch["input_ids"])
            padded = {name: tf.constant(np.pad(values, ((0, self.batch_size - rows), (0, 0))))
                      for name, values in batch.items()}
            outputs = self._forward(padded)
            starts.append(np.asarray(outputs["start_logits"], np.float32)[:rows])
            ends.append(np.asarray(outputs["end_logits"], np.float32)[:rows])
        width = np.shape(windows["input_ids"])[1] if count else 0
        empty = np.zeros((0, width), np.float32)
        return (np.concatenate(starts) if starts else empty), (np.concatenate(ends) if ends else empty)


def load_span_teacher(info: SpanTeacherInfo, batch_size: int) -> WindowScorer:
    model = BertSquad(BertConfig.from_json_file(posixpath.join(info.location, CONFIG_FILE)))
    model.build()
    initialize_from_checkpoint(model, info.weights)
    return WindowScorer(model, batch_size)
