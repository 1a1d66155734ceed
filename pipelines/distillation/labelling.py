"""The labelling step of `bertprep distill`, a Beam pipeline: the teacher's outputs for every transfer example,
written with the student's features as a labels folder (`formats.distillation_labels`).

    task rows (gold) ─┐
    transfer files ───┴─ fixed batches ─ Reshuffle ─ Label (teacher + student features) ─ group by file ─ write
                                                                                      └─ metadata.json last

What a task adds (how its transfer files read, its teacher, a batch's records) is a `TaskLabelling`:
`classification.ClassificationLabelling`, `squad.SquadLabelling`. Batches are cut where the data is read,
`batch_size` consecutive examples of one source, and the teacher runs on them in padded batches of exactly
that size. A row's outputs therefore never depend on which rows share its batch or on how bundles fall, so
the labels are byte-identical on any runner and worker count. That is why this is a DoFn that loads the teacher
once per instance (`setup`) rather than `RunInference`, whose `BatchElements` forms batches from whatever a
bundle holds. Each output file holds `batches_per_file` consecutive batches of one source: no worker holds more
than one file's records.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import apache_beam as beam
import numpy as np

from formats.distillation_labels import LABELS_METADATA_FILE, LabelsMetadata, SourceCounts, labels_file_name
from formats.tfrecord import framed_examples
from pipelines.output_folder import Staging
from pipelines.progress import counter

_NAMESPACE = "bertprep.distill"


class TaskLabelling(Protocol):
    """What labelling needs of a task. Instances travel to the workers (pickled), so they hold the student's
    tokenizer itself and only the teacher's location."""

    def transfer_examples(self, path: str, source: int, skipped: dict[str, int]) -> Iterator[Any]:
        """The unlabeled examples of a transfer file; rows skipped counted by reason."""

    def load_teacher(self) -> Any:
        """The teacher, loaded (once per DoFn instance)."""

    def label(self, teacher: Any, examples: Sequence[Any], gold: bool) -> tuple[dict[str, np.ndarray], int, float]:
        """The records of `examples` (features as 2-D arrays, the teacher's outputs and has_label among them),
        how many rows carry a gold label, and the teacher's summed score on those (`gold_metrics` reads it)."""

    def gold_metrics(self, gold: int, score: float) -> dict[str, float]:
        """The teacher's metrics on the `gold` rows from their summed `score`."""

    def description(self) -> dict[str, Any]:
        """The metadata's task, labels, teacher, student and feature_spec."""


@dataclasses.dataclass(frozen=True)
class LabellingOptions:
    """What the labels are made from (`labelling`), how examples are batched and filed, and the run's identity
    (`output_folder.run_identity`) for the completion record."""

    labelling: TaskLabelling
    batch_size: int = 32
    batches_per_file: int = 128
    run: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Batch:
    """`batch_size` consecutive examples (fewer at a source's end) of one source; `gold` marks gold labels."""

    source: int
    index: int
    examples: tuple
    gold: bool


def batches_of(examples: Iterable[Any], source: int, batch_size: int, gold: bool) -> Iterator[Batch]:
    batch: list = []
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

    def __init__(self, labelling: TaskLabelling, batch_size: int) -> None:
        self.labelling, self.batch_size = labelling, batch_size

    def process(self, item: tuple[int, str]):
        source, path = item
        skipped: dict[str, int] = {}
        read = counter(_NAMESPACE, "read")
        examples = self.labelling.transfer_examples(path, source, skipped)
        for batch in batches_of(examples, source, self.batch_size, False):
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
    teacher_gold_score: float  # the teacher's summed score on the gold rows (TaskLabelling.label)


class _Label(beam.DoFn):
    """Batch -> ((source, file part), LabelledBatch): the teacher's outputs and the student's features."""

    def __init__(self, options: LabellingOptions) -> None:
        self.options = options

    def setup(self) -> None:
        self.teacher = self.options.labelling.load_teacher()
        self.labelled = counter(_NAMESPACE, "labelled")

    def process(self, batch: Batch):
        features, gold, score = self.options.labelling.label(self.teacher, batch.examples, batch.gold)
        rows = len(next(iter(features.values())))
        self.labelled.inc(rows)
        yield ((batch.source, batch.index // self.options.batches_per_file),
               LabelledBatch(batch.index, framed_examples(features).data, rows, gold, score))


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
              train_source: str, train_skipped: Mapping[str, int]) -> LabelsMetadata:
    sources = []
    for source, path in enumerate([train_source, *paths]):
        reasons = dict(train_skipped) if source == 0 else {}
        for skipped_source, reason, count in skipped:
            if skipped_source == source:
                reasons[reason] = reasons.get(reason, 0) + count
        own = [row for row in written if row[0] == source]
        sources.append(SourceCounts(path, sum(row[3] for row in own), sum(row[4] for row in own),
                                    dict(sorted(reasons.items()))))
    gold, score = sum(row[4] for row in written), sum(row[5] for row in written)
    return LabelsMetadata(
        **options.labelling.description(), sources=tuple(sources),
        teacher_gold_metrics=options.labelling.gold_metrics(gold, score) if gold else {},
        file_bytes={row[1]: row[2] for row in sorted(written, key=lambda r: r[1])}, run=options.run)


def build_labelling(pipeline: beam.Pipeline, options: LabellingOptions, train_examples: Sequence[Any],
                    train_source: str, train_skipped: Mapping[str, int], transfer_paths: Sequence[str],
                    staging: Staging) -> None:
    """Adds the labelling to `pipeline`: the task's `train_examples` (gold labels; read from `train_source`,
    which skipped `train_skipped` rows) and every file of `transfer_paths` (sources 1, 2, … in that order) to
    labels files in `staging`, then metadata.json."""
    batch_size = options.batch_size
    task_batches = pipeline | "TaskRows" >> beam.Create(list(batches_of(train_examples, 0, batch_size, True)),
                                                        reshuffle=False)
    files = (pipeline
             | "TransferFiles" >> beam.Create(list(enumerate(transfer_paths, start=1)))
             | "ReadTransfer" >> beam.ParDo(_ReadTransfer(options.labelling, batch_size)).with_outputs(
                 "skipped", main="batches"))
    written = ((task_batches, files.batches)
               | "AllBatches" >> beam.Flatten()
               | "Spread" >> beam.Reshuffle()
               | "Label" >> beam.ParDo(_Label(options))
               | "ByFile" >> beam.GroupByKey()
               | "WriteFiles" >> beam.ParDo(_WriteFile(staging)))

    def write_metadata(_, written: list[tuple], skipped: list[tuple]) -> None:
        metadata = _metadata(written, skipped, options, transfer_paths, train_source, train_skipped)
        staging.write(LABELS_METADATA_FILE, metadata.to_json().encode("utf-8"))

    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "WriteMetadata" >> beam.Map(write_metadata, beam.pvalue.AsList(written),
                                       beam.pvalue.AsList(files.skipped)))
