"""`bertprep distill classify` (also `bertprep distill --task_name ...`): a fine-tuned classifier distilled
into a smaller BERT. Labelling is a Beam pipeline (`pipelines.distillation`, this command's Beam flags); the
student trains and is evaluated with TensorFlow in this process, as `finetune classify` does
(`bert_model.distillation`)."""
from __future__ import annotations

import argparse
import posixpath
import time
from typing import TYPE_CHECKING

from pipelines.cli.classify_task import add_task_arguments, classification_task, export_classifier_model
from pipelines.cli.distill_labels import (
    add_distillation_arguments,
    check_distillation_settings,
    checkpoint_fingerprint,
    make_labels,
    sha256_of,
    transfer_paths,
)
from pipelines.cli.training_flags import finetuning_options, make_strategy, task_model
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from bert_model.classification.data import Task
    from bert_model.distillation.teacher import TeacherInfo

HELP = "a fine-tuned classifier (GLUE-style classification or regression) into a smaller BERT"
DESCRIPTION = (
    "The teacher (a `bertprep finetune classify` OUTPUT_DIR or its --export_dir SavedModel; it reads raw text with "
    "its own vocab) labels the task's training rows and any --transfer_file text in a Beam pipeline, writing "
    "--labels_dir (default OUTPUT_DIR/teacher_labels: the student's features and the teacher's logits, with "
    "metadata.json); the student (--student_config, from --student_checkpoint) trains on alpha * CE(gold) + "
    "(1 - alpha) * T^2 * KL(teacher_T || student_T) (squared errors for regression; rows without a gold label take "
    "the soft term alone). A rerun with other student settings reuses the labels. Output files as `finetune "
    "classify`'s; eval_results.json adds the teacher's metrics on the same rows and both models' speed.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser)
    add_distillation_arguments(
        parser, teacher_help="the fine-tuned classifier that labels: a `bertprep finetune classify` --output_dir "
        "(checkpoint, bert_config.json, vocab.txt, labels.json) or its --export_dir SavedModel",
        transfer_help=".txt (a text per line; pair tasks: tab between the two), .jsonl (text_a, text_b), .tsv/.csv "
        "laid out as the task's train file, or corpus documents-*.parquet (sentences; consecutive pairs for pair "
        "tasks)")


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


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    if not (args.do_train or args.do_eval or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_eval, --do_predict")
    check_distillation_settings(args)
    from bert_model.tf_env import import_tensorflow

    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.classification.data import ClassifierDataError
    from bert_model.classification.labels import TaskLabels
    from bert_model.classification.run import TEST_RESULTS
    from bert_model.config import ConfigError
    from bert_model.distillation.student import StudentRun
    from bert_model.distillation.teacher import CHECKPOINT, TeacherError, describe_teacher, load_teacher
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
    metadata = None
    if args.do_train:
        from pipelines.distillation.classification import ClassificationLabelling, StudentVocab
        from pipelines.distillation.transfer import transfer_kind

        paths = transfer_paths(args, transfer_kind)
        student_vocab = StudentVocab(model.tokenizer, model.vocab_file, sha256_of(model.vocab_file))
        labelling = ClassificationLabelling(task, teacher, student_vocab, args.max_seq_length, args.teacher_batch_size)
        weights = teacher.weights if teacher.kind == CHECKPOINT else f"{teacher.location}/variables/variables"
        parameters = {"task": task.name, "labels": list(task.labels), "teacher": teacher.describe(),
                      "teacher_weights_sha256": checkpoint_fingerprint(weights),
                      "student_vocab_sha256": student_vocab.sha256, "student_do_lower_case": model.do_lower_case,
                      "max_seq_length": args.max_seq_length, "skip_bad_rows": args.skip_bad_rows}
        examples, report = reports["train"]
        labels_dir, metadata = make_labels(args, beam_args, labelling, parameters,
                                           (examples, report.path, report.skipped), paths, teacher.location)
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
    summary += export_classifier_model(args, student.tuner.model, model, labels)
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0
