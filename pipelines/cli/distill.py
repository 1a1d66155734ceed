"""`bertprep distill`: knowledge distillation of a fine-tuned classifier into a smaller BERT.

Labelling is a Beam pipeline (`pipelines.distillation.labelling`, this command's Beam flags); the student
trains and is evaluated with TensorFlow in this process, as `finetune classify` does (`bert_model.distillation`).
"""
from __future__ import annotations

import argparse
import hashlib
import posixpath
import time
from typing import TYPE_CHECKING

from pipelines.cli.classify_task import add_task_arguments, classification_task
from pipelines.cli.flags import add_bool_flag
from pipelines.cli.training_flags import (
    TaskModel,
    add_finetuning_arguments,
    export_to_transformers,
    finetuned_checkpoint,
    finetuning_options,
    make_strategy,
    task_model,
)
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from bert_model.classification.data import InputExample, Task
    from bert_model.distillation.teacher import TeacherInfo
    from formats.distillation_labels import LabelsMetadata

HELP = "distil a fine-tuned classifier (the teacher) into a smaller BERT (the student) on unlabeled transfer data"
DESCRIPTION = (
    "Knowledge distillation as the BERT miniatures' authors recommend it: the teacher (a `bertprep finetune "
    "classify` OUTPUT_DIR or its --export_dir SavedModel) labels the task's training rows and any --transfer_file "
    "text (a Beam pipeline: DirectRunner here, Dataflow for millions of examples), writing LABELS_DIR (default "
    "OUTPUT_DIR/teacher_labels: the student's features and the teacher's logits, with metadata.json); the student "
    "(--student_config, from --student_checkpoint) trains on alpha * CE(gold) + (1 - alpha) * T^2 * KL(teacher_T "
    "|| student_T) (squared errors for regression; rows without a gold label take the soft term alone). A rerun "
    "with other student settings reuses the labels. Output files as `finetune classify`'s, with the teacher's "
    "metrics and both models' speed in eval_results.json.")

LABELS_FOLDER = "teacher_labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser)
    add_finetuning_arguments(parser, ("--student_config", "--bert_config_file"),
                             ("--student_checkpoint", "--init_checkpoint"))
    distill = parser.add_argument_group("distillation")
    distill.add_argument("--teacher", required=True, metavar="DIR",
                         help="the fine-tuned classifier that labels: a `bertprep finetune classify` --output_dir "
                         "(checkpoint, bert_config.json, vocab.txt, labels.json) or its --export_dir SavedModel")
    distill.add_argument("--transfer_file", action="append", metavar="PATTERN[,PATTERN...]",
                         help="unlabeled text for the teacher to label, besides the task's training rows (repeatable; "
                         "globs, gs://): .txt (a text per line; pair tasks: tab between the two), .jsonl (text_a, "
                         "text_b), .tsv/.csv laid out as the task's train file, or corpus documents-*.parquet "
                         "(sentences; consecutive pairs for pair tasks)")
    distill.add_argument("--temperature", type=float, default=2.0,
                         help="softens both distributions in the KL term (T; the term is scaled by T^2)")
    distill.add_argument("--alpha", type=float, default=0.0,
                         help="weight of the gold labels' loss on rows that have one (0: soft labels only)")
    distill.add_argument("--labels_dir", metavar="DIR",
                         help="where the teacher's labels go, or are reused from when their record matches "
                         "(default: OUTPUT_DIR/teacher_labels)")
    distill.add_argument("--teacher_batch_size", type=int, default=32,
                         help="examples per teacher call when labelling")
    add_bool_flag(distill, "--overwrite", help="replace a labels folder that another labelling made")


def _check_settings(args: argparse.Namespace) -> None:
    if not (args.do_train or args.do_eval or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_eval, --do_predict")
    if args.temperature <= 0:
        raise UsageError(f"--temperature must be positive, got {args.temperature}")
    if not 0 <= args.alpha <= 1:
        raise UsageError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.teacher_batch_size < 1:
        raise UsageError(f"--teacher_batch_size must be at least 1, got {args.teacher_batch_size}")


def _check_teacher(teacher: TeacherInfo, task: Task) -> None:
    """The teacher must answer the task's question: the same task and the same labels in the same order."""
    from vocab.tokenization import case_mismatch, load_vocab

    labels = teacher.labels
    if labels.task != task.name:
        raise UsageError(f"--teacher {teacher.location} was fine-tuned on task {labels.task}, not {task.name}: give "
                         "a teacher of this task")
    if labels.labels != task.labels:
        raise UsageError(f"--teacher {teacher.location} outputs labels {list(labels.labels)}, but task {task.name} has "
                         f"{list(task.labels)}: its logits would be read as the wrong classes")
    problem = case_mismatch(load_vocab(teacher.vocab_file), labels.do_lower_case, teacher.vocab_file)
    if problem:
        raise UsageError(f"--teacher {teacher.location}: its labels.json and vocab disagree: {problem}")


def _transfer_paths(args: argparse.Namespace) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    from pipelines.distillation.transfer import transfer_kind

    paths = []
    for value in args.transfer_file or []:
        for pattern in filter(None, value.split(",")):
            found = sorted(metadata.path for match in FileSystems.match([pattern]) for metadata in match.metadata_list)
            if not found:
                raise UsageError(f"--transfer_file {pattern} matches no file")
            paths += found
    for path in paths:
        try:
            transfer_kind(path)
        except ValueError as error:
            raise UsageError(f"--transfer_file {error}") from None
    return paths


def _weights_fingerprint(teacher: TeacherInfo) -> str:
    """SHA-256 of the teacher's checkpoint index (it holds every tensor's checksum): retrained weights differ."""
    import tensorflow as tf

    index = f"{teacher.weights}.index" if teacher.kind == "checkpoint" else \
        posixpath.join(teacher.location, "variables", "variables.index")
    with tf.io.gfile.GFile(index, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _file_sizes(paths: list[str]) -> dict[str, int]:
    from apache_beam.io.filesystems import FileSystems

    return {metadata.path: metadata.size_in_bytes for match in FileSystems.match(paths)
            for metadata in match.metadata_list}


def _label(args: argparse.Namespace, beam_args: list[str], task: Task, model: TaskModel, teacher: TeacherInfo,
           train: tuple[list[InputExample], dict[str, int]], labels_dir: str) -> LabelsMetadata:
    """The labels of the task's training rows and the transfer files: made in `labels_dir`, or reused from it
    when its record is of this same labelling."""
    import tensorflow as tf

    from formats.distillation_labels import LABELS_METADATA_FILE, LABELS_PATTERN, LabelsMetadata
    from pipelines.cli.beam_command import check_output_writable, check_worker_readable, run_pipeline
    from pipelines.distillation.classification import ClassificationLabelling, StudentVocab
    from pipelines.distillation.labelling import LabellingOptions, build_labelling
    from pipelines.output_folder import Output, StageRun, complete_files, run_identity

    paths = _transfer_paths(args)
    check_worker_readable(beam_args, [teacher.location, *paths], "--teacher and --transfer_file")
    check_worker_readable(beam_args, [labels_dir], "--labels_dir")
    check_output_writable(labels_dir)
    with tf.io.gfile.GFile(model.vocab_file, "rb") as handle:
        vocab_sha256 = hashlib.sha256(handle.read()).hexdigest()
    parameters = {"task": task.name, "labels": list(task.labels), "teacher": teacher.describe(),
                  "teacher_weights_sha256": _weights_fingerprint(teacher), "student_vocab_sha256": vocab_sha256,
                  "student_do_lower_case": model.do_lower_case, "max_seq_length": args.max_seq_length,
                  "teacher_batch_size": args.teacher_batch_size, "skip_bad_rows": args.skip_bad_rows}
    train_file = posixpath.join(args.data_dir, task.files["train"])
    run = run_identity("distill-labels", parameters, _file_sizes([train_file, *paths]))
    labelling = ClassificationLabelling(task, teacher, StudentVocab(model.tokenizer, model.vocab_file, vocab_sha256),
                                        args.max_seq_length, args.teacher_batch_size)
    options = LabellingOptions(labelling, args.teacher_batch_size, run=run)
    output = Output(labels_dir.rstrip("/"), LABELS_METADATA_FILE, (LABELS_PATTERN,), run)
    with StageRun("distill-labels", labels_dir, [output], args.overwrite, "--labels_dir") as stage:
        if stage.pending and not run_pipeline(beam_args, lambda pipeline: build_labelling(
                pipeline, options, train[0], train_file, train[1], paths, stage.staging), "distill-labels"):
            raise UsageError("no labels were made (only a Dataflow template was written); run the template, then "
                             "this command with --labels_dir")
    record, _ = complete_files(labels_dir, LABELS_METADATA_FILE, "labels folder")
    metadata = LabelsMetadata.from_dict(record)
    if not metadata.num_examples:
        raise UsageError(f"{labels_dir}: no example was labelled (see the skipped counts in its metadata.json)")
    skipped = sum(sum(source.skipped.values()) for source in metadata.sources)
    print(f"{labels_dir}: {metadata.num_examples} examples labelled by the teacher ({metadata.num_gold} with gold "
          f"labels, {len(metadata.sources) - 1} transfer files), {skipped} rows skipped or repaired (by reason in "
          f"metadata.json); teacher on the gold rows: "
          + (", ".join(f"{name} {value:.4f}" for name, value in metadata.teacher_gold_metrics.items()) or "none"))
    return metadata


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    _check_settings(args)
    from bert_model.tf_env import import_tensorflow

    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.classification.data import ClassifierDataError
    from bert_model.classification.labels import TaskLabels
    from bert_model.classification.run import TEST_RESULTS
    from bert_model.config import ConfigError
    from bert_model.distillation.student import StudentRun
    from bert_model.distillation.teacher import TeacherError, describe_teacher, load_teacher
    from bert_model.progress import format_duration
    from vocab.tokenization import VocabError, case_mismatch

    try:
        task = classification_task(args)
        model = task_model(args)
        problem = case_mismatch(model.tokenizer.vocab, model.do_lower_case, model.vocab_file)
        if problem:
            raise UsageError(f"the student's vocab and casing disagree: {problem}")
        teacher = describe_teacher(args.teacher, args.max_seq_length)
        _check_teacher(teacher, task)
        # All input is read and checked before any labelling or training starts.
        reports = {split: task.examples(args.data_dir, split, args.skip_bad_rows)
                   for split, wanted in (("train", args.do_train), ("dev", args.do_eval), ("test", args.do_predict))
                   if wanted}
    except (ConfigError, ClassifierDataError, TeacherError, VocabError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    tf.io.gfile.makedirs(args.output_dir)
    labels_dir = args.labels_dir or posixpath.join(args.output_dir, LABELS_FOLDER)
    metadata = None
    if args.do_train:
        examples, report = reports["train"]
        metadata = _label(args, beam_args, task, model, teacher, (examples, dict(report.skipped)), labels_dir)
    try:
        strategy = make_strategy(args)
        options = finetuning_options(args, strategy, metadata.num_examples if metadata else 0)
        student = StudentRun(model.config, task, model.tokenizer, args.max_seq_length, options, strategy,
                             vocab_file=model.vocab_file, temperature=args.temperature, alpha=args.alpha)
        student.tuner.start(args.init_checkpoint, training=args.do_train)
    except (ConfigError, CheckpointError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    summary = [f"{args.output_dir}: task {task.name}, student distilled from {teacher.location}"]
    if metadata is not None:
        results = student.train(labels_dir, metadata)
        summary.append(f"trained {student.tuner.step} steps, loss {results['loss']:.4f} at "
                       f"{results['overall_examples_per_second']:.1f} examples/s")
    if args.do_eval:
        results = student.evaluate(reports["dev"][0], args.eval_batch_size,
                                   load_teacher(teacher, args.eval_batch_size))
        summary.append("eval " + ", ".join(f"{name} {value:.4f}" for name, value in results.items()
                                          if name.startswith(("eval_", "teacher_eval_")))
                       + f", student {results['student_speedup']:.1f}x the teacher's speed")
    if args.do_predict:
        student.classifier.predict(reports["test"][0], args.predict_batch_size)
        summary.append(f"wrote {posixpath.join(args.output_dir, TEST_RESULTS)}")
    labels = TaskLabels(task.name, task.labels, model.do_lower_case, args.max_seq_length)
    if args.export_dir:
        from bert_model.classification.export import export_classifier

        export_classifier(student.tuner.model, args.export_dir, model.vocab_file, labels)
        summary.append(f"exported {args.export_dir}")
    if args.export_transformers:
        summary.append(export_to_transformers(args, finetuned_checkpoint(args), model.config, model.vocab_file,
                                              model.do_lower_case, labels))
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0
