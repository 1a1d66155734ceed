"""The flags that name a classification task and its data, shared by `finetune classify` and `distill`, and
the task they make."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pipelines.cli.flags import add_bool_flag
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from bert_model.classification.data import Task
    from bert_model.classification.labels import TaskLabels
    from bert_model.classification.model import BertClassifier
    from pipelines.cli.training_flags import TaskModel


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """--task_name, --data_dir, --do_train/--do_eval/--do_predict, batch sizes, --export_dir and the column
    task's flags."""
    data = parser.add_argument_group("task and data")
    data.add_argument("--task_name", required=True, help="cola, mnli, mnli-mm, mrpc, qnli, qqp, rte, sst-2, sts-b, "
                      "wnli, xnli, or column")
    data.add_argument("--data_dir", required=True, help="folder with the task's files (GLUE names, or --train_file ...)")
    add_bool_flag(data, "--do_train", help="train on the train file")
    add_bool_flag(data, "--do_eval", help="evaluate on the dev file")
    add_bool_flag(data, "--do_predict", help="predict the test file")
    data.add_argument("--eval_batch_size", type=int, default=8)
    data.add_argument("--predict_batch_size", type=int, default=8)
    data.add_argument("--language", default="zh", help="xnli: the language to train and evaluate (reference: zh)")
    add_bool_flag(data, "--skip_bad_rows",
                  help="skip (and count) rows with missing columns or unknown labels instead of stopping")
    data.add_argument("--export_dir", help="write a SavedModel taking raw text here after training/evaluation")

    columns = parser.add_argument_group("--task_name column: your own files")
    columns.add_argument("--train_file", default="train.tsv", help="in DATA_DIR: .tsv or .csv with a header, or .jsonl")
    columns.add_argument("--dev_file", default="dev.tsv")
    columns.add_argument("--test_file", default="test.tsv")
    columns.add_argument("--text_a_column", help="column (header name or JSON key) of the first text")
    columns.add_argument("--text_b_column", help="column of the second text, for pairs")
    columns.add_argument("--label_column", help="column of the label")
    columns.add_argument("--labels", help="comma-separated labels in output order (default: sorted train labels)")
    add_bool_flag(columns, "--regression", help="the label is a number (one output, squared error)")


def classification_task(args: argparse.Namespace) -> Task:
    """The task the flags name; UsageError for a column task without its columns."""
    from bert_model.classification.data import column_task, get_task

    if args.task_name.lower() != "column":
        return get_task(args.task_name, args.language)
    if not args.text_a_column or not args.label_column:
        raise UsageError("--task_name column needs --text_a_column and --label_column")
    files = {"train": args.train_file, "dev": args.dev_file, "test": args.test_file}
    return column_task(args.data_dir, files, args.text_a_column, args.text_b_column, args.label_column,
                       args.labels.split(",") if args.labels else None, args.regression)


def export_classifier_model(args: argparse.Namespace, classifier: BertClassifier, model: TaskModel,
                            labels: TaskLabels) -> list[str]:
    """--export_dir (a SavedModel taking raw text) and --export_transformers of a trained classifier; the
    summary's words for what was written."""
    from pipelines.cli.training_flags import export_to_transformers, finetuned_checkpoint

    written = []
    if args.export_dir:
        from bert_model.classification.export import export_classifier

        export_classifier(classifier, args.export_dir, model.vocab_file, labels)
        written.append(f"exported {args.export_dir}")
    if args.export_transformers:
        written.append(export_to_transformers(args, finetuned_checkpoint(args), model.config, model.vocab_file,
                                              model.do_lower_case, labels))
    return written
