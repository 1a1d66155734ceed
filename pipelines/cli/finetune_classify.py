"""`bertprep finetune classify`: run_classifier.py's tasks, flags and files on TensorFlow 2."""
from __future__ import annotations

import argparse
import posixpath
import time

from pipelines.cli.classify_task import add_task_arguments, classification_task, export_classifier_model
from pipelines.cli.training_flags import add_finetuning_arguments, finetuning_options, make_strategy, task_model
from pipelines.errors import UsageError

HELP = "sentence (pair) classification and regression: GLUE tasks, XNLI, or your own TSV/CSV/JSONL"
DESCRIPTION = (
    "Fine-tunes BERT as run_classifier.py does (same flags, file formats, features and head). --do_train trains "
    "on DATA_DIR's train file and saves OUTPUT_DIR/model.ckpt-N, with bert_config.json, vocab.txt and labels.json (the task's labels "
    "in output order, casing and length, which `bertprep export` and `bertprep distill --teacher` take); --do_eval writes OUTPUT_DIR/eval_results.json "
    "(accuracy; F1 for MRPC/QQP; Matthews correlation for CoLA; Pearson/Spearman for STS-B); --do_predict writes "
    "OUTPUT_DIR/test_results.tsv (one line of class probabilities per test example). --export_dir writes a "
    "SavedModel that takes raw text. Tasks: cola, mnli, mnli-mm, mrpc, qnli, qqp, rte, sst-2, sts-b, wnli, "
    "xnli, or 'column' with --text_a_column and --label_column.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser)
    add_finetuning_arguments(parser)


def run(args: argparse.Namespace) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other commands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.classification.data import ClassifierDataError
    from bert_model.classification.labels import TaskLabels
    from bert_model.classification.run import TEST_RESULTS, ClassifierRun
    from bert_model.config import ConfigError
    from bert_model.progress import format_duration
    from vocab.tokenization import VocabError

    if not (args.do_train or args.do_eval or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_eval, --do_predict")
    try:
        task = classification_task(args)
        model = task_model(args)
        # All input is read and checked before any training starts.
        splits = [split for split, wanted in (("train", args.do_train), ("dev", args.do_eval),
                                               ("test", args.do_predict)) if wanted]
        examples = {split: task.examples(args.data_dir, split, args.skip_bad_rows)[0] for split in splits}
        strategy = make_strategy(args)
        options = finetuning_options(args, strategy, len(examples.get("train", ())))
        classifier = ClassifierRun(model.config, task, model.tokenizer, args.max_seq_length, options, strategy,
                                   vocab_file=model.vocab_file)
        classifier.tuner.start(args.init_checkpoint, training=args.do_train)
    except (ConfigError, ClassifierDataError, CheckpointError, VocabError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    tf.io.gfile.makedirs(args.output_dir)
    tuner = classifier.tuner
    summary = [f"{args.output_dir}: task {task.name}"]
    if args.do_train:
        results = classifier.train(examples["train"])
        summary.append(f"trained {tuner.step} steps, loss {results['loss']:.4f} at "
                       f"{results['overall_examples_per_second']:.1f} examples/s")
    if args.do_eval:
        results = classifier.evaluate(examples["dev"], args.eval_batch_size)
        summary.append("eval " + ", ".join(f"{name} {value:.4f}" for name, value in results.items()
                                          if name.startswith("eval_")))
    if args.do_predict:
        classifier.predict(examples["test"], args.predict_batch_size)
        summary.append(f"wrote {posixpath.join(args.output_dir, TEST_RESULTS)}")
    labels = TaskLabels(task.name, task.labels, model.do_lower_case, args.max_seq_length)
    summary += export_classifier_model(args, tuner.model, model, labels)
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0
