"""Fine-tuning on one classification task as run_classifier.py does it: training, evaluation
(OUTPUT_DIR/eval_results.json) and prediction (OUTPUT_DIR/test_results.tsv) on a task's examples."""
from __future__ import annotations

import logging
import posixpath

import numpy as np
import tensorflow as tf

from bert_model.classification.data import InputExample, Task, convert_examples
from bert_model.classification.labels import TaskLabels, copy_vocab, write_labels
from bert_model.classification.metrics import task_metrics
from bert_model.classification.model import BertClassifier, per_example_loss
from bert_model.config import BertConfig, write_config_file
from bert_model.finetuning import (
    IS_REAL_EXAMPLE,
    Finetuner,
    FinetuningOptions,
    LossFn,
    pad_to_batches,
    record_dataset,
    record_parsing_spec,
    write_records,
)
from bert_model.training import EVAL_RESULTS, write_results
from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)

TEST_RESULTS = "test_results.tsv"


class ClassifierRun:
    """A `Finetuner` of `BertClassifier` on `task`, fed its examples as features of `max_seq_length`
    tokens; its files go to `options.output_dir`. The loss is the task's (`per_example_loss`) unless
    `loss_fn` says otherwise (distillation's)."""

    def __init__(self, config: BertConfig, task: Task, tokenizer: FullTokenizer, max_seq_length: int,
                 options: FinetuningOptions, strategy: tf.distribute.Strategy, *, vocab_file: str,
                 loss_fn: LossFn | None = None) -> None:
        self.config, self.task, self.tokenizer, self.max_seq_length = config, task, tokenizer, max_seq_length
        self.vocab_file = vocab_file
        self.tuner = Finetuner(lambda: BertClassifier(config, task.num_outputs),
                               loss_fn or per_example_loss(task.is_regression), options, strategy)

    @property
    def output_dir(self) -> str:
        return self.tuner.options.output_dir

    def describe_model(self) -> None:
        """Writes what makes OUTPUT_DIR a self-describing model beside its checkpoints: bert_config.json,
        labels.json (task, labels, casing, sequence length) and the vocab.txt it reads, so the folder can be
        exported, evaluated or used as a distillation teacher without restating them."""
        write_config_file(self.config, self.output_dir)
        write_labels(TaskLabels(self.task.name, self.task.labels, self.tokenizer.do_lower_case, self.max_seq_length),
                     self.output_dir)
        copy_vocab(self.vocab_file, self.output_dir)

    def train(self, examples: list[InputExample]) -> dict[str, float]:
        """Writes the files of `describe_model` and train.tf_record, then trains (`Finetuner.train`)."""
        features = convert_examples(examples, self.task, self.max_seq_length, self.tokenizer)
        path = posixpath.join(self.output_dir, "train.tf_record")
        self.describe_model()
        write_records(path, features)
        _log.info("training on %d examples: %d steps of %d x %d", len(examples), self.tuner.options.train_steps,
                  self.tuner.options.batch_size, self.tuner.options.accumulation_steps)
        return self.tuner.train_on_records([path], record_parsing_spec(features))

    def _outputs(self, examples: list[InputExample], name: str,
                 batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The logits of `examples` (padded with fake examples to full batches, which are dropped) and their
        labels."""
        features = pad_to_batches(convert_examples(examples, self.task, self.max_seq_length, self.tokenizer),
                                  batch_size)
        path = posixpath.join(self.output_dir, f"{name}.tf_record")
        write_records(path, features)
        fakes = len(features[IS_REAL_EXAMPLE]) - len(examples)
        _log.info("%s: %d examples (%d actual, %d padding), batch size %d", name, len(examples) + fakes,
                  len(examples), fakes, batch_size)
        outputs = self.tuner.predict(record_dataset(path, record_parsing_spec(features), batch_size,
                                                    is_training=False))
        if len(outputs["logits"]) != len(examples):
            raise AssertionError(f"predicted {len(outputs['logits'])} examples of {len(examples)}")
        return outputs, features["label_ids"][: len(examples), 0]

    def evaluate(self, examples: list[InputExample], batch_size: int) -> dict[str, float]:
        """Writes OUTPUT_DIR/eval_results.json: the task's metrics, eval_loss, global_step, num_examples."""
        outputs, labels = self._outputs(examples, "eval", batch_size)
        logits = outputs["logits"].astype(np.float64)
        if self.task.is_regression:
            predictions = logits[:, 0]
            losses = np.square(predictions - labels)
        else:
            predictions = np.argmax(logits, axis=-1)
            losses = -_log_softmax(logits)[np.arange(len(labels)), labels.astype(np.int64)]
        results = task_metrics(self.task.name, labels, predictions, self.task.is_regression)
        results.update(eval_loss=float(np.mean(losses)), num_examples=len(examples), global_step=self.tuner.step)
        path = posixpath.join(self.output_dir, EVAL_RESULTS)
        write_results(path, results)
        _log.info("eval results in %s: %s", path, results)
        return results

    def predict(self, examples: list[InputExample], batch_size: int) -> str:
        """Writes OUTPUT_DIR/test_results.tsv as the reference: per example, its class probabilities
        tab-separated (regression: the predicted score), in the examples' order; returns its path."""
        outputs, _ = self._outputs(examples, "predict", batch_size)
        logits = outputs["logits"].astype(np.float64)
        values = logits if self.task.is_regression else np.exp(_log_softmax(logits))
        path = posixpath.join(self.output_dir, TEST_RESULTS)
        with tf.io.gfile.GFile(path, "w") as handle:
            handle.write("".join("\t".join(str(float(value)) for value in row) + "\n" for row in values))
        return path


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
