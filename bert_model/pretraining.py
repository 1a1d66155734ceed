"""BERT pretraining under tf.distribute: the training loop of run_pretraining.py, resumable, with evaluation.

A custom loop rather than Keras `fit`: Keras 3's fit with
steps_per_execution > 1 fails under MirroredStrategy (keras-team/keras#19246),
and the optimizers (`optimization`) are tf.Modules that fit cannot drive.
Each call of one tf.function runs `steps_per_loop` steps, as TPUEstimator's
iterations_per_loop did; each step runs `accumulation_steps` micro-batches.

Losses: every replica weights its masked-LM loss by its share of the global
batch's masked predictions and its next-sentence loss by its share of the
sequences, so the gradients that the optimizer sums over replicas are those
of the global batch's losses, as run_pretraining.py computes them on one
device. Accumulation averages the micro-batches' losses.

OUTPUT_DIR holds:
- `training/ckpt-STEP`: the whole training state (weights and dropout seeds,
  optimizer, loss scale, step, data position), written every
  `save_checkpoints_steps` and at the end. A run restarted with the same
  OUTPUT_DIR resumes from the latest one exactly: the data is read in a
  seeded order and the batches already consumed are skipped (read again and
  dropped: exact, at the cost of reading them, which is far cheaper than
  training on them). Resume with the same batch size and replicas.
- `bert_model.ckpt`: the weights in the reference layout (`checkpoints`),
  rewritten with each checkpoint, and `bert_config.json`: what
  `--init_checkpoint`, extract-features and other BERT tools read.
- `train/`, `eval/`: TensorBoard scalars; `eval_results.json`: the
  reference's evaluation metrics.

The data is a `bertprep pretraining-data` folder or the reference's
--input_file list (`pretraining_files`). A file found damaged while training
or evaluating stops the run with PretrainingDataError naming it. Each call of
the loop runs as many steps as `progress.LoopPacer` plans, and is followed by
a progress line.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bert_model.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from bert_model.config import BertConfig, ConfigError, config_differences
from bert_model.distribution import PRECISIONS, dtype_policy
from bert_model.input_pipeline import DynamicMasking, PretrainingDataError
from bert_model.loss_scale import DynamicLossScale
from bert_model.modeling import BertPretrainer, pretraining_losses
from bert_model.optimization import LAMB, AdamW, GradientAccumulator, WarmupLinearDecay
from bert_model.pretraining_files import PretrainingFiles, check_files, damaged_file, files_dataset, open_files
from bert_model.progress import Heartbeat, LoopPacer, format_duration

_log = logging.getLogger(__name__)

OPTIMIZERS = {"adamw": AdamW, "lamb": LAMB}
TRAINING_STATE_DIR = "training"
REFERENCE_CHECKPOINT = "bert_model.ckpt"
CONFIG_FILE = "bert_config.json"
EVAL_RESULTS = "eval_results.json"
# What tensorboard.summary.scalar attaches; writing it directly spares training the tensorboard package.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
# pretraining_losses divides the weighted masked-LM loss by (weights + this), as the reference does.
_LOSS_EPSILON = 1e-5


_COUNTS = ("train_steps", "batch_size", "accumulation_steps", "steps_per_loop", "save_checkpoints_steps",
           "keep_checkpoints")


def check_training_options(options: Any) -> None:
    """Raises ValueError, naming the field, unless `options` (PretrainingOptions or fine-tuning's) has
    counts of at least 1, warmup within the steps, a positive learning rate, a known optimizer and precision."""
    for name in _COUNTS:
        if getattr(options, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(options, name)}")
    if not 0 <= options.warmup_steps <= options.train_steps:
        raise ValueError(f"warmup_steps must be in [0, train_steps {options.train_steps}], got {options.warmup_steps}")
    if options.learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {options.learning_rate}")
    if options.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {options.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if options.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {options.precision!r}; use one of {', '.join(PRECISIONS)}")
    if options.progress_seconds <= 0:
        raise ValueError(f"progress_seconds must be positive, got {options.progress_seconds}")


class Training(NamedTuple):
    """A model and what trains it, all created where `build_training` says."""

    model: Any
    schedule: WarmupLinearDecay
    optimizer: AdamW | LAMB
    accumulator: GradientAccumulator | None
    loss_scale: DynamicLossScale | None
    global_step: tf.Variable


def build_training(build_model: Callable[[], Any], options: Any, strategy: tf.distribute.Strategy) -> Training:
    """Seeds Keras with `options.seed`, builds the model in the strategy's scope under the dtype policy of
    `options.precision`, then the optimizer of `options.optimizer` on the reference schedule, the gradient
    accumulator (accumulation_steps > 1), the loss scale (mixed_float16) and a global step at 0."""
    keras.utils.set_random_seed(options.seed)  # weights and dropout seeds
    with dtype_policy(options.precision), strategy.scope():
        model = build_model()
        model.build()
    schedule = WarmupLinearDecay(options.learning_rate, options.warmup_steps, options.train_steps)
    optimizer = OPTIMIZERS[options.optimizer](schedule)
    optimizer.build(model.trainable_variables)
    accumulator = None
    if options.accumulation_steps > 1:
        accumulator = GradientAccumulator(options.accumulation_steps)
        accumulator.build(model.trainable_variables)
    with strategy.scope():
        loss_scale = (DynamicLossScale(optimizer, options.initial_loss_scale)
                      if options.precision == "mixed_float16" else None)
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    return Training(model, schedule, optimizer, accumulator, loss_scale, global_step)


@dataclasses.dataclass(frozen=True)
class PretrainingOptions:
    """How to train; the model's shape is the BertConfig's.

    `data_dir` is a pretraining-data folder or comma-separated TFRecord
    files and globs (`pretraining_files.open_files`). `max_seq_length` and
    `max_predictions_per_seq` default to the data's (metadata.json), or the
    reference's 128 and 20 for files without one; data that differs is
    refused. `precision` is one of distribution.PRECISIONS; mixed_float16
    scales the loss dynamically from `initial_loss_scale`. A call of the
    training loop runs at most `steps_per_loop` steps, fewer when they would
    take more than `progress_seconds`.
    """

    data_dir: str
    output_dir: str
    train_steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    optimizer: str = "adamw"
    accumulation_steps: int = 1
    precision: str = "float32"
    initial_loss_scale: float = 2.0 ** 15
    init_checkpoint: str | None = None
    steps_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoints: int = 5
    seed: int = 12345
    dynamic_masking: DynamicMasking | None = None
    next_sentence: bool = True
    jit_compile: bool = False
    max_seq_length: int | None = None
    max_predictions_per_seq: int | None = None
    progress_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_training_options(self)


class PretrainingRun:
    """The model, optimizer and training state of one OUTPUT_DIR, restored from it when it holds a checkpoint.

    Building checks the data against the config and options
    (PretrainingDataError names both values), creates everything in the
    strategy's scope and restores the latest training checkpoint, else loads
    `init_checkpoint` (weights only, optimizer fresh, as the reference does).
    A checkpoint of another model in OUTPUT_DIR raises CheckpointError.
    """

    def __init__(self, config: BertConfig, options: PretrainingOptions,
                 strategy: tf.distribute.Strategy | None = None) -> None:
        self.config, self.options = config, options
        self.strategy = strategy or tf.distribute.get_strategy()
        self.files = open_files(options.data_dir)
        self.max_seq_length, self.max_predictions_per_seq = self.files.lengths(
            options.max_seq_length, options.max_predictions_per_seq)
        self.check_data(self.files)
        replicas = self.strategy.num_replicas_in_sync
        if options.batch_size % replicas:
            raise ValueError(f"batch_size {options.batch_size} does not split evenly over {replicas} replicas")
        self.loss_names = ("loss", "masked_lm_loss") + (("next_sentence_loss",) if options.next_sentence else ())

        (self.model, self.schedule, self.optimizer, self.accumulator, self.loss_scale,
         self.global_step) = build_training(lambda: BertPretrainer(config), options, self.strategy)
        with self.strategy.scope():
            # Global micro-batches read so far; a resumed run skips them.
            self.batches_consumed = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_consumed")
        # Keras 3 models do not expose all their variables (encoder layers, dropout seeds) to
        # tf.train.Checkpoint's object graph, so the checkpoint lists them, in the model's order.
        # The accumulator is left out: steps are whole within one call, so it is empty at every checkpoint.
        state = {"model": list(self.model.variables), "optimizer": self.optimizer, "global_step": self.global_step,
                 "batches_consumed": self.batches_consumed}
        if self.loss_scale is not None:
            state["loss_scale"] = self.loss_scale
        self.checkpoint = tf.train.Checkpoint(**state)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, posixpath.join(options.output_dir, TRAINING_STATE_DIR), options.keep_checkpoints)
        self._restore()
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=options.jit_compile)
        self._train_loop = tf.function(self._loop)
        self._eval_step = tf.function(self._eval_sums)

    @property
    def step(self) -> int:
        """The optimizer steps taken, skipped float16 steps included."""
        return int(self.global_step.numpy())

    @property
    def updater(self) -> AdamW | LAMB | DynamicLossScale:
        """What applies the gradients: the loss scale when there is one, around the optimizer."""
        return self.optimizer if self.loss_scale is None else self.loss_scale

    def check_data(self, data: str | PretrainingFiles) -> PretrainingFiles:
        """The files of `data` (a location, or files already opened); raises PretrainingDataError, naming
        both values, if they do not fit this run."""
        files = open_files(data) if isinstance(data, str) else data
        if self.max_seq_length > self.config.max_position_embeddings:
            raise PretrainingDataError(
                f"{files.location}: max_seq_length is {self.max_seq_length} but the model's "
                f"max_position_embeddings is {self.config.max_position_embeddings}")
        check_files(files, self.max_seq_length, self.max_predictions_per_seq, self.config.vocab_size,
                    self.options.next_sentence)
        return files

    def _data_failure(self, files: PretrainingFiles, error: tf.errors.OpError) -> PretrainingDataError | None:
        """The damaged file behind a data error raised while reading `files`; None when every file is sound
        (the error is not the data's)."""
        if not isinstance(error, (tf.errors.DataLossError, tf.errors.InvalidArgumentError)):
            return None
        problem = damaged_file(files, self.max_seq_length, self.max_predictions_per_seq, self.config.vocab_size)
        return PretrainingDataError(f"{problem}; remove or regenerate that file") if problem else None

    def _check_same_model(self, checkpoint: str) -> None:
        """Refuses an OUTPUT_DIR whose checkpoint belongs to another model, before restoring fails on it."""
        output_dir = self.options.output_dir
        fix = ("give a new --output_dir for this model, or the config that checkpoint was trained with to "
               "resume it")
        saved_config = posixpath.join(output_dir, CONFIG_FILE)
        if tf.io.gfile.exists(saved_config):
            try:
                differences = config_differences(self.config, BertConfig.from_json_file(saved_config))
            except ConfigError:
                differences = []
            if differences:
                raise CheckpointError(f"{output_dir} holds a checkpoint of another model ({checkpoint}; this "
                                      f"run's config vs its {CONFIG_FILE}: {', '.join(differences)}): {fix}")

    def _restore(self) -> None:
        latest = self.manager.latest_checkpoint
        if latest:
            self._check_same_model(latest)
            try:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
                raise CheckpointError(
                    f"{self.options.output_dir} holds a checkpoint ({latest}) that does not fit this model or "
                    f"these options ({str(error).splitlines()[0][:200]}): give a new --output_dir, or the config "
                    "and flags it was trained with to resume it") from None
            _log.info("resuming from %s at step %d%s", latest, self.step,
                      " (init_checkpoint not loaded)" if self.options.init_checkpoint else "")
        elif self.options.init_checkpoint:
            report = load_checkpoint(self.model, self.options.init_checkpoint)
            _log.info("initialized %d variables from %s", len(report.loaded), report.checkpoint)

    # ------------------------------------------------------------------ training

    def _train_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
        options = self.options
        dataset = files_dataset(
            self.files, options.batch_size, self.max_seq_length, self.max_predictions_per_seq,
            self.config.vocab_size, is_training=True, seed=options.seed, input_context=context,
            dynamic_masking=options.dynamic_masking)
        # Each pipeline yields per-replica batches for num_replicas / num_input_pipelines replicas.
        skip = int(self.batches_consumed.numpy()) * context.num_replicas_in_sync // context.num_input_pipelines
        return dataset.skip(skip)

    def _loss_and_gradients(self, features: dict[str, tf.Tensor], prediction_share: tf.Tensor,
                            sequence_share: tf.Tensor) -> tuple[dict[str, tf.Tensor], list[tf.Tensor | None]]:
        with tf.GradientTape() as tape:
            losses = pretraining_losses(self.model(features, training=True), features)
            weighted = {"masked_lm_loss": losses["masked_lm_loss"] * prediction_share}
            if self.options.next_sentence:
                weighted["next_sentence_loss"] = losses["next_sentence_loss"] * sequence_share
            weighted["loss"] = tf.add_n(list(weighted.values()))
            objective = weighted["loss"] if self.loss_scale is None else self.loss_scale.scale_loss(weighted["loss"])
        return weighted, tape.gradient(objective, self.model.trainable_variables)

    def _replica_gradients(self, features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], list]:
        """This replica's weighted part of the global batch's losses, and its gradients; summed over
        replicas, both are the global batch's."""
        context = tf.distribute.get_replica_context()
        predictions = tf.reduce_sum(features["masked_lm_weights"]) + _LOSS_EPSILON
        all_predictions = context.all_reduce(tf.distribute.ReduceOp.SUM, predictions)
        return self._gradients(features, predictions / all_predictions,
                               tf.constant(1.0 / context.num_replicas_in_sync))

    def _replica_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        losses, grads = self._replica_gradients(features)
        self.updater.apply_gradients(zip(grads, self.model.trainable_variables))
        return losses

    def _replica_accumulate(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        losses, grads = self._replica_gradients(features)
        self.accumulator.add(grads)
        return losses

    def _summed(self, per_replica: dict[str, Any]) -> dict[str, tf.Tensor]:
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    def _train_step(self, iterator: Iterator) -> dict[str, tf.Tensor]:
        """One optimizer step; the losses of its global batch (averaged over the micro-batches)."""
        if self.accumulator is None:
            return self._summed(self.strategy.run(self._replica_step, args=(next(iterator),)))
        micro_batches = self.options.accumulation_steps
        losses = {name: tf.constant(0.0) for name in self.loss_names}
        for _ in tf.range(micro_batches):
            micro = self._summed(self.strategy.run(self._replica_accumulate, args=(next(iterator),)))
            losses = {name: losses[name] + micro[name] / micro_batches for name in self.loss_names}
        # One update per step, with the micro-batches' mean gradient.
        self.strategy.run(lambda: self.accumulator.apply(self.updater, self.model.trainable_variables))
        return losses

    def _loop(self, iterator: Iterator, steps: tf.Tensor) -> dict[str, tf.Tensor]:
        totals = {name: tf.constant(0.0) for name in self.loss_names}
        for _ in tf.range(steps):
            losses = self._train_step(iterator)
            totals = {name: totals[name] + losses[name] for name in self.loss_names}
        steps = tf.cast(steps, tf.int64)
        self.global_step.assign_add(steps)
        self.batches_consumed.assign_add(steps * self.options.accumulation_steps)
        return {name: total / tf.cast(steps, tf.float32) for name, total in totals.items()}

    def train(self) -> dict[str, float]:
        """Trains from the current step to train_steps, checkpointing on the way and at the end, with a
        progress line after each call of the loop.

        Returns the last call's mean losses and examples per second, and the
        run's overall examples per second (empty when training was already done).
        """
        options = self.options
        step = self.step
        if step >= options.train_steps:
            _log.info("%s is at step %d of %d: nothing to train", options.output_dir, step, options.train_steps)
            return {}
        tf.io.gfile.makedirs(options.output_dir)
        self.config.to_json_file(posixpath.join(options.output_dir, CONFIG_FILE))
        if step:
            _log.info("skipping the %d batches trained on before", int(self.batches_consumed.numpy()))
        iterator = iter(self.strategy.distribute_datasets_from_function(self._train_dataset))
        writer = tf.summary.create_file_writer(posixpath.join(options.output_dir, "train"))
        pacer = LoopPacer(step, options.train_steps, options.steps_per_loop, options.save_checkpoints_steps,
                          options.batch_size * options.accumulation_steps, options.progress_seconds)
        results: dict[str, float] = {}
        _log.info("%s", pacer.start_line())
        while step < options.train_steps:
            steps = pacer.next_steps()
            start = time.perf_counter()
            try:
                results = {name: float(value)
                           for name, value in self._train_loop(iterator, tf.constant(steps)).items()}
            except tf.errors.OpError as error:
                failure = self._data_failure(self.files, error)
                if failure is None:
                    raise
                raise failure from None
            results["examples_per_second"] = pacer.record(steps, time.perf_counter() - start)
            step = self.step
            self._write_summaries(writer, step, results, pacer)
            if step % options.save_checkpoints_steps == 0 or step == options.train_steps:
                self.save()
        results["overall_examples_per_second"] = pacer.overall_examples_per_second()
        _log.info("trained steps %d to %d in %s", pacer.start_step, step, format_duration(pacer.elapsed))
        return results

    def _write_summaries(self, writer: tf.summary.SummaryWriter, step: int, results: dict[str, float],
                         pacer: LoopPacer) -> None:
        learning_rate = float(self.schedule(self.optimizer.iterations.numpy()))
        with writer.as_default(step=step):
            for name, value in results.items():
                _scalar(name, value)
            _scalar("learning_rate", learning_rate)
            if self.loss_scale is not None:
                _scalar("loss_scale", self.loss_scale.scale)
        writer.flush()
        losses = ", ".join(f"{name} {results[name]:.4f}" for name in self.loss_names)
        _log.info("%s", pacer.line(f"{losses}, learning rate {learning_rate:.3g}"))

    def save(self) -> str:
        """Writes the training checkpoint and the reference-layout one; returns the training checkpoint's path."""
        step = self.step
        path = self.manager.save(checkpoint_number=step)
        save_checkpoint(self.model, posixpath.join(self.options.output_dir, REFERENCE_CHECKPOINT), global_step=step)
        _log.info("saved %s and %s", path, REFERENCE_CHECKPOINT)
        return path

    # ---------------------------------------------------------------- evaluation

    def _replica_eval_sums(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self.model(features, training=False)
        weights = features["masked_lm_weights"]
        sums = _prediction_sums("masked_lm", outputs["masked_lm_logits"], features["masked_lm_ids"], weights)
        if self.options.next_sentence:
            labels = tf.reshape(features["next_sentence_labels"], [-1])
            sums.update(_prediction_sums("next_sentence", outputs["next_sentence_logits"], labels,
                                         tf.ones_like(labels, tf.float32)))
        return sums

    def _eval_sums(self, features: Any) -> dict[str, tf.Tensor]:
        return self._summed(self.strategy.run(self._replica_eval_sums, args=(features,)))

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
        files = self.check_data(data_dir)

        def dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
            return files_dataset(files, batch_size, self.max_seq_length, self.max_predictions_per_seq,
                                 self.config.vocab_size, is_training=False, input_context=context)

        try:
            totals, batches = self._eval_totals(dataset, max_steps)
        except tf.errors.OpError as error:
            failure = self._data_failure(files, error)
            if failure is None:
                raise
            raise failure from None
        if not batches:
            raise PretrainingDataError(f"{data_dir} holds fewer than one eval batch ({batch_size} sequences)")
        results = {}
        for head in ("masked_lm", "next_sentence")[: 1 + self.options.next_sentence]:
            results[f"{head}_accuracy"] = totals[f"{head}_correct"] / totals[f"{head}_weight"]
            results[f"{head}_loss"] = totals[f"{head}_loss"] / totals[f"{head}_weight"]
        step = self.step
        with tf.summary.create_file_writer(posixpath.join(self.options.output_dir, "eval")).as_default(step=step):
            for name, value in results.items():
                _scalar(name, value)
        results["global_step"] = step
        with tf.io.gfile.GFile(posixpath.join(self.options.output_dir, EVAL_RESULTS), "w") as handle:
            handle.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
        _log.info("eval at step %d over %d sequences: %s", step, batches * batch_size, results)
        return results


def _scalar(name: str, value: Any) -> None:
    tf.summary.write(name, tf.cast(value, tf.float32), metadata=_SCALAR_METADATA)


def _prediction_sums(head: str, logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor) -> dict[str, tf.Tensor]:
    """Weighted sums of correct predictions, cross-entropy and weights, for means over many batches."""
    labels = tf.cast(labels, tf.int32)
    weights = tf.cast(weights, tf.float32)
    correct = tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32) == labels, tf.float32)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return {f"{head}_correct": tf.reduce_sum(weights * correct), f"{head}_loss": tf.reduce_sum(weights * loss),
            f"{head}_weight": tf.reduce_sum(weights)}

