"""`bertprep finetune classify`: run_classifier.py's tasks, flags and files on TensorFlow 2."""
from __future__ import annotations

import argparse
import json
import logging
import posixpath
import time
from typing import TYPE_CHECKING

import numpy as np

from pipelines.cli.finetune import (
    add_training_arguments,
    load_model_config,
    save_model_config,
    training_options,
)
from pipelines.cli.flags import add_bool_flag
from pipelines.cli.pretrain import make_strategy
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from bert_model.classification.data import InputExample, Task
    from bert_model.finetuning import Finetuner
    from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)

HELP = "sentence (pair) classification and regression: GLUE tasks, XNLI, or your own TSV/CSV/JSONL"
DESCRIPTION = (
    "Fine-tunes BERT as run_classifier.py does (same flags, file formats, features and head). --do_train trains "
    "on DATA_DIR's train file and saves OUTPUT_DIR/model.ckpt-N; --do_eval writes OUTPUT_DIR/eval_results.json "
    "(accuracy; F1 for MRPC/QQP; Matthews correlation for CoLA; Pearson/Spearman for STS-B); --do_predict writes "
    "OUTPUT_DIR/test_results.tsv (one line of class probabilities per test example). --export_dir writes a "
    "SavedModel that takes raw text. Tasks: cola, mnli, mnli-mm, mrpc, qnli, qqp, rte, sst-2, sts-b, wnli, "
    "xnli, or 'column' with --text_a_column and --label_column.")
EVAL_RESULTS = "eval_results.json"
TEST_RESULTS = "test_results.tsv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    add_training_arguments(parser)


def _task(args: argparse.Namespace) -> Task:
    from bert_model.classification.data import column_task, get_task

    if args.task_name.lower() != "column":
        return get_task(args.task_name, args.language)
    if not args.text_a_column or not args.label_column:
        raise UsageError("--task_name column needs --text_a_column and --label_column")
    files = {"train": args.train_file, "dev": args.dev_file, "test": args.test_file}
    return column_task(args.data_dir, files, args.text_a_column, args.text_b_column, args.label_column,
                       args.labels.split(",") if args.labels else None, args.regression)


def run(args: argparse.Namespace) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other commands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.classification.data import ClassifierDataError
    from bert_model.classification.model import BertClassifier, per_example_loss
    from bert_model.config import ConfigError
    from bert_model.finetuning import Finetuner
    from bert_model.progress import format_duration
    from vocab.tokenization import FullTokenizer, VocabError

    if not (args.do_train or args.do_eval or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_eval, --do_predict")
    try:
        task = _task(args)
        tokenizer = FullTokenizer(args.vocab_file, do_lower_case=args.do_lower_case)
        config = load_model_config(args, tokenizer)
        # All input is read and checked before any training starts.
        splits = [split for split, wanted in (("train", args.do_train), ("dev", args.do_eval),
                                               ("test", args.do_predict)) if wanted]
        examples = {split: task.examples(args.data_dir, split, args.skip_bad_rows)[0] for split in splits}
        strategy = make_strategy(args)
        options = training_options(args, strategy, len(examples.get("train", ())))
        tuner = Finetuner(lambda: BertClassifier(config, task.num_outputs), per_example_loss(task.is_regression),
                          options, strategy)
        if args.do_train and args.init_checkpoint:
            tuner.initialize(args.init_checkpoint)
        elif args.do_train:
            _log.warning("no --init_checkpoint: training from randomly initialized weights")
        else:  # evaluate or predict with fine-tuned weights, by default the latest in --output_dir
            tuner.restore(args.init_checkpoint or args.output_dir)
    except (ConfigError, ClassifierDataError, CheckpointError, VocabError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    tf.io.gfile.makedirs(args.output_dir)
    summary = [f"{args.output_dir}: task {task.name}"]
    if args.do_train:
        save_model_config(config, args.output_dir)
        results = train(tuner, task, examples["train"], tokenizer, args)
        summary.append(f"trained {tuner.step} steps, loss {results['loss']:.4f} at "
                       f"{results['overall_examples_per_second']:.1f} examples/s")
    if args.do_eval:
        results = evaluate(tuner, task, examples["dev"], tokenizer, args)
        summary.append("eval " + ", ".join(f"{name} {value:.4f}" for name, value in results.items()
                                          if name.startswith("eval_")))
    if args.do_predict:
        predict(tuner, task, examples["test"], tokenizer, args)
        summary.append(f"wrote {posixpath.join(args.output_dir, TEST_RESULTS)}")
    if args.export_dir:
        from bert_model.classification.export import export_classifier

        export_classifier(tuner.model, args.export_dir, args.vocab_file, args.do_lower_case, args.max_seq_length,
                          task.labels)
        summary.append(f"exported {args.export_dir}")
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0


def train(tuner: Finetuner, task: Task, examples: list[InputExample], tokenizer: FullTokenizer,
          args: argparse.Namespace) -> dict[str, float]:
    from bert_model.classification.data import convert_examples
    from bert_model.finetuning import feature_spec, record_dataset, write_records

    features = convert_examples(examples, task, args.max_seq_length, tokenizer)
    path = posixpath.join(args.output_dir, "train.tf_record")
    write_records(path, features)
    spec = feature_spec(features)
    options = tuner.options
    _log.info("training on %d examples: %d steps of %d x %d", len(examples), options.train_steps,
              options.batch_size, options.accumulation_steps)
    return tuner.train(lambda context: record_dataset(path, spec, options.batch_size, is_training=True,
                                                      seed=options.seed, input_context=context))


def _outputs(tuner: Finetuner, task: Task, examples: list[InputExample], tokenizer: FullTokenizer,
             args: argparse.Namespace, name: str, batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The logits of `examples` (padded with fake examples to full batches, which are dropped) and their labels."""
    from bert_model.classification.data import convert_examples
    from bert_model.finetuning import IS_REAL_EXAMPLE, feature_spec, pad_to_batches, record_dataset, write_records

    features = pad_to_batches(convert_examples(examples, task, args.max_seq_length, tokenizer), batch_size)
    path = posixpath.join(args.output_dir, f"{name}.tf_record")
    write_records(path, features)
    fakes = len(features[IS_REAL_EXAMPLE]) - len(examples)
    _log.info("%s: %d examples (%d actual, %d padding), batch size %d", name, len(examples) + fakes, len(examples),
              fakes, batch_size)
    outputs = tuner.predict(record_dataset(path, feature_spec(features), batch_size, is_training=False))
    if len(outputs["logits"]) != len(examples):
        raise AssertionError(f"predicted {len(outputs['logits'])} examples of {len(examples)}")
    return outputs, features["label_ids"][: len(examples), 0]


def evaluate(tuner: Finetuner, task: Task, examples: list[InputExample], tokenizer: FullTokenizer,
             args: argparse.Namespace) -> dict[str, float]:
    """Writes OUTPUT_DIR/eval_results.json: the task's metrics, eval_loss, global_step, num_examples."""
    import tensorflow as tf

    from bert_model.classification.metrics import task_metrics

    outputs, labels = _outputs(tuner, task, examples, tokenizer, args, "eval", args.eval_batch_size)
    logits = outputs["logits"].astype(np.float64)
    if task.is_regression:
        predictions = logits[:, 0]
        losses = np.square(predictions - labels)
    else:
        predictions = np.argmax(logits, axis=-1)
        losses = -_log_softmax(logits)[np.arange(len(labels)), labels.astype(np.int64)]
    results = task_metrics(task.name, labels, predictions, task.is_regression)
    results.update(eval_loss=float(np.mean(losses)), num_examples=len(examples), global_step=tuner.step)
    path = posixpath.join(args.output_dir, EVAL_RESULTS)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
    _log.info("eval results in %s: %s", path, results)
    return results


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def predict(tuner: Finetuner, task: Task, examples: list[InputExample], tokenizer: FullTokenizer,
            args: argparse.Namespace) -> str:
    """Writes OUTPUT_DIR/test_results.tsv as the reference: per example, its class probabilities
    tab-separated (regression: the predicted score), in the test file's order."""
    import tensorflow as tf

    outputs, _ = _outputs(tuner, task, examples, tokenizer, args, "predict", args.predict_batch_size)
    logits = outputs["logits"].astype(np.float64)
    values = logits if task.is_regression else np.exp(_log_softmax(logits))
    path = posixpath.join(args.output_dir, TEST_RESULTS)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write("".join("\t".join(str(float(value)) for value in row) + "\n" for row in values))
    return path
