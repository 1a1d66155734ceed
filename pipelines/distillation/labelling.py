"""The labelling step of `bertprep distill`, a Beam pipeline: the teacher's logits for every transfer example,
written with the student's features as a labels folder (`formats.distillation_labels`).

    task rows (gold) ─┐
    transfer files ───┴─ fixed batches ─ Reshuffle ─ Label (teacher + student tokenizer) ─ group by file ─ write
                                                                                     └─ metadata.json last

Batches are cut where the data is read, `batch_size` consecutive examples of one source, and the teacher
runs each as one padded batch of exactly that size. A row's logits therefore never depend on which rows
share its batch or on how bundles fall, so the labels are byte-identical on any runner and worker count.
That is why this is a DoFn that loads the teacher once per instance (`setup`) rather than `RunInference`,
whose `BatchElements` forms batches from whatever a bundle holds. Each output file holds
`batches_per_file` consecutive batches of one source: no worker holds more than one file's records.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np

from bert_model.classification.data import InputExample, Task, convert_examples
from bert_model.distillation.teacher import TeacherInfo
from formats.distillation_labels import (
    HAS_LABEL,
    LABELS_METADATA_FILE,
    TEACHER_LOGITS,
    LabelsMetadata,
    SourceCounts,
    labels_feature_spec,
    labels_file_name,
)
from formats.tfrecord import framed_examples
from pipelines.distillation.transfer import transfer_examples
from pipelines.output_folder import Staging
from pipelines.progress import counter
from vocab.tokenization import FullTokenizer

_NAMESPACE = "bertprep.distill"
TASK_SOURCE = "task train file"


@dataclasses.dataclass(frozen=True)
class LabellingOptions:
    """What the labels are made from: the task, the teacher (`TeacherInfo`), the student's vocab, casing and
    length, and how examples are batched and filed."""

    task: Task
    teacher: TeacherInfo
    student_tokenizer: FullTokenizer  # travels with the pipeline: workers need not reach the vocab file
    student_vocab_file: str
    student_vocab_sha256: str
    student_do_lower_case: bool
    max_seq_length: int
    batch_size: int = 32
    batches_per_file: int = 128
    run: dict = dataclasses.field(default_factory=dict)  # output_folder.run_identity of this labelling

    def student(self) -> dict:
        return {"vocab_file": self.student_vocab_file, "vocab_sha256": self.student_vocab_sha256,
                "do_lower_case": self.student_do_lower_case, "max_seq_length": self.max_seq_length}


@dataclasses.dataclass(frozen=True)
class Batch:
    """`batch_size` consecutive examples (fewer at a source's end) of one source; `gold` marks gold labels."""

    source: int
    index: int
    examples: tuple[InputExample, ...]
    gold: bool


def batches_of(examples: Iterable[InputExample], source: int, batch_size: int, gold: bool) -> Iterator[Batch]:
    batch: list[InputExample] = []
    index = 0
    for example in examples:
        batch.append(example)
        if len(batch) == batch_size:
            yield Batch(source, index, tuple(batch), gold)
            batch, index = [], index + 1
    if batch:
        yield Batch(source, index, tuple(batch), gold)


class _ReadTransfer(beam.DoFn):
    """(source, path) -> the file's Batches; its skipped rows to the `skipped` output as (source, reason, n)."""

    def __init__(self, task: Task, batch_size: int) -> None:
        self.task, self.batch_size = task, batch_size

    def process(self, item: tuple[int, str]):
        source, path = item
        skipped: dict[str, int] = {}
        read = counter(_NAMESPACE, "read")
        for batch in batches_of(transfer_examples(path, source, self.task, skipped), source, self.batch_size, False):
            read.inc(len(batch.examples))
            yield batch
        for reason, count in skipped.items():
            counter(_NAMESPACE, f"skipped_{reason.replace(' ', '_')}").inc(count)
            yield beam.pvalue.TaggedOutput("skipped", (source, reason, count))


@dataclasses.dataclass(frozen=True)
class LabelledBatch:
    """A batch's records (TFRecord-framed, in order), with what the metadata counts."""

    index: int
    records: bytes
    examples: int
    gold: int
    teacher_gold_score: float  # correct predictions (classification) or summed squared error (regression)


class _Label(beam.DoFn):
    """Batch -> ((source, file part), LabelledBatch): the teacher's logits and the student's features."""

    def __init__(self, options: LabellingOptions) -> None:
        self.options = options

    def setup(self) -> None:
        from bert_model.distillation.teacher import load_teacher

        self.teacher = load_teacher(self.options.teacher, self.options.batch_size)
        self.labelled = counter(_NAMESPACE, "labelled")

    def process(self, batch: Batch):
        options, task = self.options, self.options.task
        logits = self.teacher.logits(batch.examples)
        features = convert_examples(batch.examples, task, options.max_seq_length, options.student_tokenizer)
        rows = len(batch.examples)
        features[HAS_LABEL] = np.full((rows, 1), int(batch.gold), np.int32)
        features[TEACHER_LOGITS] = logits
        score = 0.0
        if batch.gold:
            gold = features["label_ids"][:, 0]
            score = float(np.sum(np.square(logits[:, 0] - gold))) if task.is_regression else \
                float(np.sum(np.argmax(logits, axis=-1) == gold))
        self.labelled.inc(rows)
        yield ((batch.source, batch.index // options.batches_per_file),
               LabelledBatch(batch.index, framed_examples(features).data, rows, rows if batch.gold else 0, score))


class _WriteFile(beam.DoFn):
    """((source, part), LabelledBatches) -> (file name, bytes, examples, gold, teacher score): one labels file,
    its batches in order, renamed into place when whole."""

    def __init__(self, staging: Staging) -> None:
        self.staging = staging

    def process(self, item: tuple[tuple[int, int], Iterable[LabelledBatch]]):
        (source, part), batches = item
        batches = sorted(batches, key=lambda batch: batch.index)
        name = labels_file_name(source, part)
        with self.staging.create(name) as handle:
            for batch in batches:
                handle.write(batch.records)
        yield (source, name, self.staging.publish(name), sum(b.examples for b in batches),
               sum(b.gold for b in batches), sum(b.teacher_gold_score for b in batches))


def _metadata(written: list[tuple], skipped: list[tuple], options: LabellingOptions, paths: Sequence[str],
              train_skipped: dict[str, int]) -> LabelsMetadata:
    sources = []
    for source, path in enumerate([TASK_SOURCE, *paths]):
        reasons = dict(train_skipped) if source == 0 else {}
        for skipped_source, reason, count in skipped:
            if skipped_source == source:
                reasons[reason] = reasons.get(reason, 0) + count
        own = [row for row in written if row[0] == source]
        sources.append(SourceCounts(path, sum(row[3] for row in own), sum(row[4] for row in own),
                                    dict(sorted(reasons.items()))))
    gold = sum(row[4] for row in written)
    score = sum(row[5] for row in written)
    task = options.task
    metrics = {} if not gold else {"mse": score / gold} if task.is_regression else {"accuracy": score / gold}
    return LabelsMetadata(
        task=task.name, labels=task.labels, teacher=options.teacher.describe(), student=options.student(),
        sources=tuple(sources), feature_spec=labels_feature_spec(options.max_seq_length, task.num_outputs,
                                                                 task.is_regression),
        teacher_gold_metrics=metrics, file_bytes={row[1]: row[2] for row in sorted(written, key=lambda r: r[1])},
        run=options.run)


def build_labelling(pipeline: beam.Pipeline, options: LabellingOptions, train_examples: Sequence[InputExample],
                    train_skipped: dict[str, int], transfer_paths: Sequence[str], staging: Staging) -> None:
    """Adds the labelling to `pipeline`: the task's `train_examples` (gold labels; `train_skipped` its rows
    skipped when read) and every file of `transfer_paths` (sources 1, 2, … in that order) to labels files in
    `staging`, then metadata.json."""
    batch_size = options.batch_size
    task_batches = pipeline | "TaskRows" >> beam.Create(list(batches_of(train_examples, 0, batch_size, True)),
                                                        reshuffle=False)
    files = (pipeline
             | "TransferFiles" >> beam.Create(list(enumerate(transfer_paths, start=1)))
             | "ReadTransfer" >> beam.ParDo(_ReadTransfer(options.task, batch_size)).with_outputs("skipped",
                                                                                                 main="batches"))
    written = ((task_batches, files.batches)
               | "AllBatches" >> beam.Flatten()
               | "Spread" >> beam.Reshuffle()
               | "Label" >> beam.ParDo(_Label(options))
               | "ByFile" >> beam.GroupByKey()
               | "WriteFiles" >> beam.ParDo(_WriteFile(staging)))

    def write_metadata(_, written: list[tuple], skipped: list[tuple]) -> None:
        metadata = _metadata(written, skipped, options, transfer_paths, train_skipped)
        staging.write(LABELS_METADATA_FILE, metadata.to_json().encode("utf-8"))

    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "WriteMetadata" >> beam.Map(write_metadata, beam.pvalue.AsList(written),
                                       beam.pvalue.AsList(files.skipped)))
