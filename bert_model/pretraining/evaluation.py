"""The reference's pretraining evaluation: masked-LM and next-sentence accuracy and loss over a number of
batches, written to OUTPUT_DIR/eval_results.json and eval/ scalars."""
from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from bert_model.input_pipeline import PretrainingDataError
from bert_model.pretraining.data import RunData
from bert_model.pretraining.options import PretrainingOptions
from bert_model.pretraining.state import TrainingState
from bert_model.pretraining.summaries import scalar
from bert_model.progress import Heartbeat, format_duration
from bert_model.training import EVAL_RESULTS, replica_sums, write_results

_log = logging.getLogger(__name__)


class PretrainingEvaluation:
    """Evaluates the model of `state` on data that `data` checks and reads."""

    def __init__(self, state: TrainingState, strategy: tf.distribute.Strategy, data: RunData,
                 options: PretrainingOptions) -> None:
        self.state, self.strategy, self.data, self.options = state, strategy, data, options
        self._eval_step = tf.function(self._eval_sums)

    def _replica_eval_sums(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self.state.training.model(features, training=False)
        weights = features["masked_lm_weights"]
        sums = _prediction_sums("masked_lm", outputs["masked_lm_logits"], features["masked_lm_ids"], weights)
        if self.options.next_sentence:
            labels = tf.reshape(features["next_sentence_labels"], [-1])
            sums.update(_prediction_sums("next_sentence", outputs["next_sentence_logits"], labels,
                                         tf.ones_like(labels, tf.float32)))
        return sums

    def _eval_sums(self, features: Any) -> dict[str, tf.Tensor]:
        return replica_sums(self.strategy, self.strategy.run(self._replica_eval_sums, args=(features,)))

    def _eval_totals(self, dataset: Callable[[tf.distribute.InputContext], tf.data.Dataset],
                     max_steps: int) -> tuple[dict[str, float], int]:
        """The prediction sums over up to `max_steps` batches, and the batch count; progress lines on the way."""
        totals: dict[str, float] = {}
        batches = 0
        heartbeat = Heartbeat(self.options.progress_seconds)
        for features in self.strategy.distribute_datasets_from_function(dataset):
            if batches == max_steps:
                break
            for name, value in self._eval_step(features).items():
                totals[name] = totals.get(name, 0.0) + float(value)
            batches += 1
            if heartbeat.due():
                _log.info("eval: %d of at most %d batches, elapsed %s", batches, max_steps,
                          format_duration(heartbeat.elapsed))
        return totals, batches

    def evaluate(self, data_dir: str, batch_size: int, max_steps: int) -> dict[str, float]:
        """The reference's evaluation metrics over up to `max_steps` batches of `data_dir` (a folder or
        --input_file's list), read in order.

        Accuracies and losses are means over the masked predictions, weighted
        by masked_lm_weights, and over the sequences, as tf.metrics computed
        them in run_pretraining.py. Writes OUTPUT_DIR/eval_results.json and eval/ scalars.
        """
        if batch_size % self.strategy.num_replicas_in_sync:
            raise ValueError(f"eval batch_size {batch_size} does not split evenly over the replicas")
        files = self.data.check(data_dir)

        def dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
            return self.data.dataset(files, batch_size, is_training=False, input_context=context)

        with self.data.damage_named(files):
            totals, batches = self._eval_totals(dataset, max_steps)
        if not batches:
            raise PretrainingDataError(f"{data_dir} holds fewer than one eval batch ({batch_size} sequences)")
        results = {}
        for head in ("masked_lm", "next_sentence")[: 1 + self.options.next_sentence]:
            results[f"{head}_accuracy"] = totals[f"{head}_correct"] / totals[f"{head}_weight"]
            results[f"{head}_loss"] = totals[f"{head}_loss"] / totals[f"{head}_weight"]
        step = self.state.step
        with tf.summary.create_file_writer(posixpath.join(self.options.output_dir, "eval")).as_default(step=step):
            for name, value in results.items():
                scalar(name, value)
        results["global_step"] = step
        write_results(posixpath.join(self.options.output_dir, EVAL_RESULTS), results)
        _log.info("eval at step %d over %d sequences: %s", step, batches * batch_size, results)
        return results


def _prediction_sums(head: str, logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor) -> dict[str, tf.Tensor]:
    """Weighted sums of correct predictions, cross-entropy and weights, for means over many batches."""
    labels = tf.cast(labels, tf.int32)
    weights = tf.cast(weights, tf.float32)
    correct = tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32) == labels, tf.float32)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return {f"{head}_correct": tf.reduce_sum(weights * correct), f"{head}_loss": tf.reduce_sum(weights * loss),
            f"{head}_weight": tf.reduce_sum(weights)}
