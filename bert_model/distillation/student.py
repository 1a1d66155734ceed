"""Training a student on a labels folder, and evaluating it beside its teacher.

The student is a `ClassifierRun` whose loss is `distillation_loss`: the same training loop, strategies,
mixed precision, checkpoints, eval_results.json, test_results.tsv and SavedModel export as `bertprep finetune
classify`. Its OUTPUT_DIR describes it as a fine-tuned classifier does (bert_config.json, labels.json,
vocab.txt), so it can in turn be exported, evaluated or used as a teacher.
"""
from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from bert_model.classification.data import InputExample, Task
from bert_model.classification.metrics import task_metrics
from bert_model.classification.run import ClassifierRun
from bert_model.config import BertConfig
from bert_model.distillation.loss import distillation_loss
from bert_model.distillation.teacher import ModelClassifier, TextClassifier
from bert_model.finetuning import FinetuningOptions
from bert_model.training import EVAL_RESULTS, write_results
from formats.distillation_labels import LabelsMetadata
from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)

# Labels files are written in source order (the task's rows, then each transfer file); file interleaving and
# this buffer mix them (the reference's 100 would leave long runs of one source).
SHUFFLE_BUFFER = 10_000


def labels_parsing_spec(metadata: LabelsMetadata) -> dict[str, tf.io.FixedLenFeature]:
    """The tf.io parsing spec of a labels folder's records, from its metadata."""
    dtypes = {"int64": tf.int64, "float32": tf.float32}
    return {name: tf.io.FixedLenFeature(feature["shape"], dtypes[feature["dtype"]])
            for name, feature in metadata.feature_spec.items()}


def labels_files(labels_dir: str, metadata: LabelsMetadata) -> list[str]:
    """The records files that `metadata` lists in `labels_dir`, in source order."""
    return [posixpath.join(labels_dir, name) for name in sorted(metadata.file_bytes) if name.endswith(".tfrecord")]


def items_per_second(run: Callable[[slice], object], count: int, batch_size: int) -> float:
    """How fast `run(part)` gets through `count` items in parts of `batch_size`: the first part warms up
    (tracing, loading) and the rest are timed (all of them when there is only one part)."""
    warm = batch_size if count > batch_size else 0
    run(slice(0, warm))
    start = time.perf_counter()
    run(slice(warm, count))
    return (count - warm) / max(time.perf_counter() - start, 1e-9)


class StudentRun:
    """A student classifier trained on teacher labels with `distillation_loss(temperature, alpha)`."""

    def __init__(self, config: BertConfig, task: Task, tokenizer: FullTokenizer, max_seq_length: int,
                 options: FinetuningOptions, strategy: tf.distribute.Strategy, *, vocab_file: str,
                 temperature: float, alpha: float) -> None:
        self.temperature, self.alpha = temperature, alpha
        self.classifier = ClassifierRun(config, task, tokenizer, max_seq_length, options, strategy,
                                        vocab_file=vocab_file,
                                        loss_fn=distillation_loss(task.is_regression, temperature, alpha))

    @property
    def tuner(self):
        return self.classifier.tuner

    def train(self, labels_dir: str, metadata: LabelsMetadata) -> dict[str, float]:
        """Writes OUTPUT_DIR's description (`ClassifierRun.describe_model`), then trains on the records that
        `metadata` lists in `labels_dir`."""
        paths = labels_files(labels_dir, metadata)
        self.classifier.describe_model()
        options = self.tuner.options
        _log.info("distilling on %d transfer examples (%d with gold labels, alpha %g, temperature %g): %d steps of "
                  "%d x %d", metadata.num_examples, metadata.num_gold, self.alpha, self.temperature,
                  options.train_steps, options.batch_size, options.accumulation_steps)
        return self.tuner.train_on_records(paths, labels_parsing_spec(metadata), SHUFFLE_BUFFER)

    def evaluate(self, examples: list[InputExample], batch_size: int, teacher: TextClassifier) -> dict[str, float]:
        """OUTPUT_DIR/eval_results.json as `finetune classify` writes it, plus the teacher's metrics on the same
        examples (`teacher_` + name), both models' examples/s from raw text at `batch_size`, the student's speed-up,
        and the temperature and alpha it was trained with."""
        results = self.classifier.evaluate(examples, batch_size)
        task = self.classifier.task
        gold = _gold(task, examples)
        teacher_logits = teacher.logits(examples)
        predictions = teacher_logits[:, 0] if task.is_regression else np.argmax(teacher_logits, axis=-1)
        results.update({f"teacher_{name}": value
                        for name, value in task_metrics(task.name, gold, predictions, task.is_regression).items()})
        student = ModelClassifier(self.tuner.model, task, self.classifier.tokenizer, self.classifier.max_seq_length,
                                  teacher.batch_size)
        teacher_speed, student_speed = (items_per_second(lambda part: model.logits(examples[part]), len(examples),
                                                         model.batch_size) for model in (teacher, student))
        results.update(teacher_examples_per_second=teacher_speed, student_examples_per_second=student_speed,
                       student_speedup=student_speed / teacher_speed, temperature=self.temperature, alpha=self.alpha)
        path = posixpath.join(self.classifier.output_dir, EVAL_RESULTS)
        write_results(path, results)
        _log.info("eval results in %s: %s", path, results)
        return results


def _gold(task: Task, examples: Sequence[InputExample]) -> np.ndarray:
    if task.is_regression:
        return np.array([float(example.label) for example in examples], np.float64)
    index = {label: position for position, label in enumerate(task.labels)}
    return np.array([index[example.label] for example in examples], np.int64)
