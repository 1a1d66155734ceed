"""What `bertprep distill classify` and `distill squad` share: the distillation flags and their checks, the
transfer files, and the labels folder made by the labelling pipeline (or reused when its record matches)."""
from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipelines.cli.flags import add_bool_flag
from pipelines.cli.training_flags import add_finetuning_arguments
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from formats.distillation_labels import LabelsMetadata
    from pipelines.distillation.labelling import TaskLabelling

LABELS_FOLDER = "teacher_labels"


def add_distillation_arguments(parser: argparse.ArgumentParser, teacher_help: str, transfer_help: str) -> None:
    """The student's model and training flags (finetune's, with --student_config and --student_checkpoint as
    other names of --bert_config_file and --init_checkpoint) and the distillation group."""
    add_finetuning_arguments(parser, ("--student_config", "--bert_config_file"),
                             ("--student_checkpoint", "--init_checkpoint"))
    distill = parser.add_argument_group("distillation")
    distill.add_argument("--teacher", required=True, metavar="DIR", help=teacher_help)
    distill.add_argument("--transfer_file", action="append", metavar="PATTERN[,PATTERN...]",
                         help="unlabeled data for the teacher to label, besides the task's training data "
                         "(repeatable; globs, gs://): " + transfer_help)
    distill.add_argument("--temperature", type=float, default=2.0,
                         help="softens both distributions in the KL term (T; the term is scaled by T^2)")
    distill.add_argument("--alpha", type=float, default=0.0,
                         help="weight of the gold labels' loss on rows that have one (0: soft labels only)")
    distill.add_argument("--labels_dir", metavar="DIR",
                         help=f"where the teacher's labels go, or are reused from when their record matches "
                         f"(default: OUTPUT_DIR/{LABELS_FOLDER})")
    distill.add_argument("--teacher_batch_size", type=int, default=32,
                         help="examples per teacher call when labelling")
    add_bool_flag(distill, "--overwrite", help="replace a labels folder that another labelling made")


def check_distillation_settings(args: argparse.Namespace) -> None:
    """UsageError for settings out of range, and for labelling flags without --do_train (they would do nothing)."""
    if not args.do_train:
        given = [flag for flag, value in (("--transfer_file", args.transfer_file), ("--labels_dir", args.labels_dir),
                                          ("--overwrite", args.overwrite)) if value]
        if given:
            raise UsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} used only with --do_train "
                             "(the teacher labels data for training)")
    if args.temperature <= 0:
        raise UsageError(f"--temperature must be positive, got {args.temperature}")
    if not 0 <= args.alpha <= 1:
        raise UsageError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.teacher_batch_size < 1:
        raise UsageError(f"--teacher_batch_size must be at least 1, got {args.teacher_batch_size}")


def transfer_paths(args: argparse.Namespace, check: Callable[[str], None]) -> list[str]:
    """The files of every --transfer_file pattern, in the order given (each pattern's sorted); `check` raises
    ValueError for a file the task cannot read."""
    from apache_beam.io.filesystems import FileSystems

    paths = []
    for value in args.transfer_file or []:
        for pattern in filter(None, value.split(",")):
            found = sorted(metadata.path for match in FileSystems.match([pattern]) for metadata in match.metadata_list)
            if not found:
                raise UsageError(f"--transfer_file {pattern} matches no file")
            paths += found
    for path in paths:
        try:
            check(path)
        except ValueError as error:
            raise UsageError(f"--transfer_file {error}") from None
    return paths


def sha256_of(path: str) -> str:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def checkpoint_fingerprint(prefix: str) -> str:
    """SHA-256 of a checkpoint's index file (it holds every tensor's checksum): retrained weights differ."""
    return sha256_of(f"{prefix}.index")


def _file_sizes(paths: Sequence[str]) -> dict[str, int]:
    from apache_beam.io.filesystems import FileSystems

    return {metadata.path: metadata.size_in_bytes for match in FileSystems.match(list(paths))
            for metadata in match.metadata_list}


def make_labels(args: argparse.Namespace, beam_args: list[str], labelling: TaskLabelling,
                parameters: Mapping[str, Any], train: tuple[Sequence[Any], str, Mapping[str, int]],
                paths: Sequence[str], teacher_location: str) -> tuple[str, LabelsMetadata]:
    """The labels folder (--labels_dir, default OUTPUT_DIR/teacher_labels) of `labelling` on the task's training
    examples `train` = (examples, the file they come from, its rows skipped) and the transfer files `paths`:
    made by the labelling pipeline, or reused when its record is of this same labelling (`parameters` and the
    inputs' sizes); another labelling's is refused unless --overwrite. Returns the folder and its metadata."""
    import posixpath

    from formats.distillation_labels import LABELS_METADATA_FILE, LABELS_PATTERN, LabelsMetadata
    from pipelines.cli.beam_command import check_output_writable, check_worker_readable, run_pipeline
    from pipelines.distillation.labelling import LabellingOptions, build_labelling
    from pipelines.output_folder import Output, StageRun, complete_files, run_identity

    labels_dir = (args.labels_dir or posixpath.join(args.output_dir, LABELS_FOLDER)).rstrip("/")
    examples, train_file, train_skipped = train
    check_worker_readable(beam_args, [teacher_location, *paths], "--teacher and --transfer_file")
    check_worker_readable(beam_args, [labels_dir], "--labels_dir")
    check_output_writable(labels_dir)
    run = run_identity("distill-labels", {**parameters, "teacher_batch_size": args.teacher_batch_size},
                       _file_sizes([train_file, *paths]))
    options = LabellingOptions(labelling, args.teacher_batch_size, run=run)
    output = Output(labels_dir, LABELS_METADATA_FILE, (LABELS_PATTERN,), run)
    with StageRun("distill-labels", labels_dir, [output], args.overwrite, "--labels_dir") as stage:
        if stage.pending and not run_pipeline(beam_args, lambda pipeline: build_labelling(
                pipeline, options, examples, train_file, train_skipped, paths, stage.staging), "distill-labels"):
            raise UsageError("no labels were made (only a Dataflow template was written); run the template, then "
                             "this command with --labels_dir")
    record, _ = complete_files(labels_dir, LABELS_METADATA_FILE, "labels folder")
    metadata = LabelsMetadata.from_dict(record)
    if not metadata.num_examples:
        raise UsageError(f"{labels_dir}: nothing was labelled (see the skipped counts in its metadata.json)")
    skipped = sum(sum(source.skipped.values()) for source in metadata.sources)
    print(f"{labels_dir}: {metadata.num_examples} records labelled by the teacher ({metadata.num_gold} with gold "
          f"labels, {len(metadata.sources) - 1} transfer files), {skipped} rows skipped or repaired (by reason in "
          "metadata.json); teacher on the gold rows: "
          + (", ".join(f"{name} {value:.4f}" for name, value in metadata.teacher_gold_metrics.items()) or "none"))
    return labels_dir, metadata
