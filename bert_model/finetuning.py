"""What every fine-tuning task shares: steps and warmup, checkpoint initialization with a report, feature
records, a distributed training loop, padded evaluation batches and checkpoints in the reference layout.

A task (sequence classification, SQuAD) supplies three things:

- a *head model*: a Keras model with a `bert` attribute (the `BertModel` encoder), `build()`, a call
  `model(features, training) -> dict of float32 tensors` and `head_variables()`: the head's weights under
  their reference checkpoint names (`output_weights`/`output_bias` for run_classifier.py,
  `cls/squad/output_weights`/`cls/squad/output_bias` for run_squad.py);
- a *loss*: `loss_fn(outputs, features) -> per-example loss [batch]`; the loop averages it over the global
  batch, so any number of replicas computes the single-device update;
- its features, as numpy arrays written with `write_records` and read with `record_dataset`.

Then:

    options = FinetuningOptions(output_dir, train_steps=steps_for_epochs(n, 32, 3.0), batch_size=32,
                                learning_rate=5e-5, warmup_steps=warmup_for(steps, 0.1))
    tuner = Finetuner(lambda: MyHead(config), my_loss, options, make_strategy("default"))
    tuner.initialize(init_checkpoint)            # InitReport: what was loaded, what starts fresh
    tuner.train(lambda ctx: record_dataset(train_file, spec, 32, is_training=True, input_context=ctx))
    tuner.save()                                 # OUTPUT_DIR/model.ckpt-STEP, reference names
    padded = pad_to_batches(eval_features, 8)    # adds is_real_example, zero rows up to a multiple of 8
    write_records(eval_file, padded)
    outputs = tuner.predict(record_dataset(eval_file, spec_with_is_real, 8, is_training=False))
    # outputs holds the real rows only, in order

The optimizers, loss scaling, strategies and dtype policies are those of `bertprep pretrain`
(`optimization`, `loss_scale`, `distribution`). A fine-tuning run is short, so it saves weights only
(reference layout, readable by run_classifier.py and `load_checkpoint`) and does not resume mid-run.
"""
from __future__ import annotations

import dataclasses
import logging
import posixpath
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from bert_model.checkpoints import CheckpointError, LoadReport, load_checkpoint, resolve_checkpoint, save_checkpoint
from bert_model.config import BertConfig, ConfigError, load_config
from bert_model.modeling import BertModel
from bert_model.progress import Heartbeat, LoopPacer, format_duration
from bert_model.training import build_training, check_training_options
from formats.tfrecord import framed_examples

_log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "model.ckpt"
IS_REAL_EXAMPLE = "is_real_example"
# The reference reads training records through a 100-record shuffle buffer (run_classifier.py, run_squad.py).
_SHUFFLE_BUFFER = 100


class HeadModel(Protocol):
    """What `Finetuner` needs of a task's model (see the module docstring)."""

    bert: BertModel
    trainable_variables: list
    variables: list

    def build(self, input_shape: Any = None) -> None: ...

    def head_variables(self) -> dict[str, keras.Variable]: ...

    def __call__(self, features: Mapping[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]: ...


LossFn = Callable[[Mapping[str, tf.Tensor], Mapping[str, tf.Tensor]], tf.Tensor]


def steps_for_epochs(num_examples: int, batch_size: int, num_epochs: float, accumulation_steps: int = 1) -> int:
    """Optimizer steps for `num_epochs` over `num_examples`, as the reference counts them:
    int(num_examples / examples_per_step * num_epochs), at least 1."""
    return max(1, int(num_examples / (batch_size * accumulation_steps) * num_epochs))


def warmup_for(train_steps: int, warmup_proportion: float) -> int:
    """The reference's warmup: int(train_steps * warmup_proportion)."""
    if not 0 <= warmup_proportion <= 1:
        raise ValueError(f"warmup_proportion must be in [0, 1], got {warmup_proportion}")
    return int(train_steps * warmup_proportion)


def load_task_config(config_file: str, vocab_size: int, vocab_file: str, max_seq_length: int) -> BertConfig:
    """The model of `config_file` (a bert_config.json, or a released model's name sized by the vocab's
    `vocab_size` tokens); ConfigError unless it takes `max_seq_length` tokens and every id of `vocab_file`."""
    config = load_config(config_file, lambda: vocab_size)
    if max_seq_length > config.max_position_embeddings:
        raise ConfigError(f"--max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                          f"{config.max_position_embeddings}")
    if vocab_size > config.vocab_size:
        raise ConfigError(f"{vocab_file} has {vocab_size} tokens but the model's vocab_size is "
                          f"{config.vocab_size}: give the vocab the model was trained with")
    return config


@dataclasses.dataclass(frozen=True)
class FinetuningOptions:
    """How to train. `batch_size` is global (all replicas) and per micro-batch; an optimizer step sees
    batch_size * accumulation_steps examples. `precision` is one of distribution.PRECISIONS. A call of the
    training loop runs at most `steps_per_loop` steps, fewer when they would take more than
    `progress_seconds` (`progress.LoopPacer`)."""

    output_dir: str
    train_steps: int
    batch_size: int
    learning_rate: float = 5e-5
    warmup_steps: int = 0
    optimizer: str = "adamw"
    accumulation_steps: int = 1
    precision: str = "float32"
    initial_loss_scale: float = 2.0 ** 15
    steps_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoints: int = 5
    seed: int = 12345
    jit_compile: bool = False
    progress_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_training_options(self)


@dataclasses.dataclass(frozen=True)
class InitReport:
    """What `Finetuner.initialize` took from a checkpoint: the encoder's report, the head weights it
    loaded (a fine-tuned checkpoint) and those that start from their initializers (a pretrained one)."""

    encoder: LoadReport
    head_loaded: tuple[str, ...]
    head_initialized: tuple[str, ...]
    global_step: int | None = None  # the checkpoint's, when it has one

    def summary(self) -> str:
        text = f"{len(self.encoder.loaded)} encoder variables from {self.encoder.checkpoint}"
        if self.head_loaded:
            text += f"; head from the checkpoint: {', '.join(self.head_loaded)}"
        if self.head_initialized:
            text += f"; head newly initialized: {', '.join(self.head_initialized)}"
        return text


def initialize_from_checkpoint(model: HeadModel, path: str) -> InitReport:
    """Loads a reference-layout checkpoint into `model`: the encoder (`checkpoints.load_checkpoint`) and
    every head weight the checkpoint has.

    `path` may be a public BERT checkpoint, a `bertprep pretrain` OUTPUT_DIR, or a fine-tuning OUTPUT_DIR
    (its latest model.ckpt-N). Raises CheckpointError, before assigning anything, when a head weight's
    shape differs (e.g. a checkpoint fine-tuned with another number of labels).
    """
    prefix = resolve_checkpoint(path)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    head = model.head_variables()
    for name, variable in head.items():
        if name in shapes and list(shapes[name]) != list(variable.shape):
            raise CheckpointError(f"{prefix}: {name} has shape {list(shapes[name])} but this task's head expects "
                                  f"{list(variable.shape)} (fine-tuned with another number of labels?)")
    encoder = load_checkpoint(model.bert, prefix)
    loaded = [name for name in head if name in shapes]
    for name in loaded:
        head[name].assign(reader.get_tensor(name).astype(head[name].dtype))
    step = int(reader.get_tensor("global_step")) if "global_step" in shapes else None
    report = InitReport(encoder, tuple(loaded), tuple(name for name in head if name not in shapes), step)
    _log.info("initialized %s", report.summary())
    return report


# -------------------------------------------------------------------------------------- feature records

def write_records(path: str, features: Mapping[str, np.ndarray]) -> int:
    """Writes one tf.train.Example per row of the 2-D arrays in `features` (integers as int64, floats as
    float) to the TFRecord file `path` (local or gs://), deterministically; returns the row count."""
    records = framed_examples(features)
    tf.io.gfile.makedirs(posixpath.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(records.data)
    return len(records)


def record_parsing_spec(features: Mapping[str, np.ndarray]) -> dict[str, tf.io.FixedLenFeature]:
    """The parsing spec of records that `write_records(path, features)` wrote."""
    return {name: tf.io.FixedLenFeature([np.shape(values)[1]],
                                        tf.float32 if np.issubdtype(np.asarray(values).dtype, np.floating)
                                        else tf.int64)
            for name, values in features.items()}


def record_dataset(path: str, spec: Mapping[str, tf.io.FixedLenFeature], batch_size: int, *, is_training: bool,
                   seed: int = 12345, input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Batches of the records at `path`, int64 features cast to int32; width-1 features become [batch].

    Training: sharded per input pipeline, repeated, shuffled (seeded), `batch_size` split per replica when
    `input_context` is given (distribute_datasets_from_function). Otherwise in file order, unshuffled,
    global batches of `batch_size`; pad with `pad_to_batches` first, as the last partial batch is dropped
    to keep shapes static (TPUs need them).
    """
    dataset = tf.data.TFRecordDataset(path)
    if is_training:
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(batch_size)
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        dataset = dataset.repeat().shuffle(_SHUFFLE_BUFFER, seed=seed)
    spec = dict(spec)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        return {name: _squeezed(tf.cast(value, tf.int32) if value.dtype == tf.int64 else value, spec[name])
                for name, value in parsed.items()}

    return dataset.batch(batch_size, drop_remainder=True).map(parse, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)


def _squeezed(value: tf.Tensor, feature: tf.io.FixedLenFeature) -> tf.Tensor:
    return tf.squeeze(value, axis=1) if list(feature.shape) == [1] else value


def pad_to_batches(features: Mapping[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """`features` plus `is_real_example` (1) and all-zero rows (is_real_example 0) up to a multiple of
    `batch_size`: the reference's PaddingInputExample, so every batch is full and fakes are never counted."""
    rows = {len(values) for values in features.values()}
    if len(rows) != 1:
        raise ValueError(f"all features need the same number of rows, got {sorted(rows)}")
    count = rows.pop()
    fakes = -count % batch_size
    padded = {name: np.concatenate([values, np.zeros((fakes, *np.shape(values)[1:]), np.asarray(values).dtype)])
              for name, values in features.items()}
    padded[IS_REAL_EXAMPLE] = np.concatenate([np.ones((count, 1), np.int32), np.zeros((fakes, 1), np.int32)])
    return padded


# ------------------------------------------------------------------------------------------- the loop

class Finetuner:
    """A head model with its optimizer (the reference AdamW or LAMB, warmup then linear decay), optional
    gradient accumulation and float16 loss scaling, under a tf.distribute strategy.

    `build_model` is called inside the strategy's scope and the dtype policy of `options.precision`.
    """

    def __init__(self, build_model: Callable[[], HeadModel], loss_fn: LossFn, options: FinetuningOptions,
                 strategy: tf.distribute.Strategy | None = None) -> None:
        self.options, self.loss_fn = options, loss_fn
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if options.batch_size % replicas:
            raise ValueError(f"train batch size {options.batch_size} does not split evenly over {replicas} replicas")
        (self.model, self.schedule, self.optimizer, self.accumulator, self.loss_scale,
         self.global_step) = build_training(build_model, options, self.strategy)
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=options.jit_compile)
        self._train_loop = tf.function(self._loop)
        self._predict_step = tf.function(self._distributed_outputs)
        self._saved: list[str] = []

    @property
    def step(self) -> int:
        return int(self.global_step.numpy())

    def initialize(self, path: str) -> InitReport:
        """`initialize_from_checkpoint(self.model, path)`: the weights to fine-tune from; the step stays 0."""
        return initialize_from_checkpoint(self.model, path)

    def restore(self, path: str) -> InitReport:
        """Loads a fine-tuned checkpoint to evaluate or predict with: its weights and its global_step."""
        report = self.initialize(path)
        self.global_step.assign(report.global_step or 0)
        return report

    def start(self, init_checkpoint: str | None, training: bool) -> InitReport | None:
        """The weights a run starts from. Training: those of `init_checkpoint`, or without one the
        initializers' (with a warning). Evaluating or predicting: the fine-tuned ones of `init_checkpoint`,
        by default the latest in OUTPUT_DIR."""
        if training and init_checkpoint:
            return self.initialize(init_checkpoint)
        if training:
            _log.warning("no --init_checkpoint: training from randomly initialized weights")
            return None
        return self.restore(init_checkpoint or self.options.output_dir)

    # ------------------------------------------------------------------------------------ training

    def _loss_and_gradients(self, features: dict[str, tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor | None]]:
        with tf.GradientTape() as tape:
            per_example = self.loss_fn(self.model(features, training=True), features)
            # This replica's share of the global batch's mean loss: replicas' gradients sum to the global one.
            loss = tf.reduce_sum(tf.cast(per_example, tf.float32)) / self.options.batch_size
            objective = loss if self.loss_scale is None else self.loss_scale.scale_loss(loss)
        return loss, tape.gradient(objective, self.model.trainable_variables)

    def _replica_update(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        loss, grads = self._gradients(features)
        updater = self.optimizer if self.loss_scale is None else self.loss_scale
        if self.accumulator is None:
            updater.apply_gradients(zip(grads, self.model.trainable_variables))
        else:
            self.accumulator.add(grads)
        return loss

    def _global_loss(self, iterator: Iterator) -> tf.Tensor:
        per_replica = self.strategy.run(self._replica_update, args=(next(iterator),))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _loop(self, iterator: Iterator, steps: tf.Tensor) -> tf.Tensor:
        total = tf.constant(0.0)
        for _ in tf.range(steps):
            if self.accumulator is None:
                total += self._global_loss(iterator)
                continue
            for _ in tf.range(self.options.accumulation_steps):
                total += self._global_loss(iterator) / self.options.accumulation_steps
            updater = self.optimizer if self.loss_scale is None else self.loss_scale
            self.strategy.run(lambda: self.accumulator.apply(updater, self.model.trainable_variables))
        self.global_step.assign_add(tf.cast(steps, tf.int64))
        return total / tf.cast(steps, tf.float32)

    def train(self, dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset]) -> dict[str, float]:
        """Trains `options.train_steps` steps on the batches of `dataset_fn` (given to
        distribute_datasets_from_function: per-replica batches, repeated), saving every
        `save_checkpoints_steps` and at the end, with a progress line after each call of the loop. Returns
        the mean loss and examples/s of the last call, and the overall examples/s (the first call's tracing
        included)."""
        options = self.options
        iterator = iter(self.strategy.distribute_datasets_from_function(dataset_fn))
        pacer = LoopPacer(self.step, options.train_steps, options.steps_per_loop, options.save_checkpoints_steps,
                          options.batch_size * options.accumulation_steps, options.progress_seconds)
        results: dict[str, float] = {}
        if self.step < options.train_steps:
            _log.info("%s", pacer.start_line())
        while self.step < options.train_steps:
            steps = pacer.next_steps()
            start = time.perf_counter()
            loss = float(self._train_loop(iterator, tf.constant(steps)))
            results = {"loss": loss, "examples_per_second": pacer.record(steps, time.perf_counter() - start)}
            learning_rate = float(self.schedule(self.optimizer.iterations.numpy()))
            _log.info("%s", pacer.line(f"loss {loss:.4f}, learning rate {learning_rate:.3g}"))
            if self.step % options.save_checkpoints_steps == 0 or self.step == options.train_steps:
                self.save()
        if results:
            results["overall_examples_per_second"] = pacer.overall_examples_per_second()
            _log.info("trained %d steps in %s", pacer.step - pacer.start_step, format_duration(pacer.elapsed))
        return results

    # ---------------------------------------------------------------------------------- prediction

    def _distributed_outputs(self, features: Any) -> Any:
        return self.strategy.run(lambda batch: (self.model(batch, training=False), batch[IS_REAL_EXAMPLE]),
                                 args=(features,))

    def predict(self, dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
        """The model's outputs on every batch of `dataset` (global batches with `is_real_example`, e.g.
        `record_dataset(..., is_training=False)` over `pad_to_batches` rows), concatenated in order, fake
        rows removed."""
        local = self.strategy.experimental_local_results
        collected: dict[str, list[np.ndarray]] = {}
        real: list[np.ndarray] = []
        heartbeat = Heartbeat(self.options.progress_seconds)
        for batches, batch in enumerate(self.strategy.experimental_distribute_dataset(dataset), start=1):
            outputs, is_real = self._predict_step(batch)
            real += [np.asarray(value) for value in local(is_real)]
            for name, value in outputs.items():
                collected.setdefault(name, []).extend(np.asarray(part) for part in local(value))
            if heartbeat.due():
                _log.info("predicted %d batches, elapsed %s", batches, format_duration(heartbeat.elapsed))
        if not real:
            raise ValueError("nothing to predict: the dataset holds no full batch")
        keep = np.concatenate(real).reshape(-1) == 1
        return {name: np.concatenate(parts)[keep] for name, parts in collected.items()}

    # --------------------------------------------------------------------------------- checkpoints

    def save(self) -> str:
        """Writes OUTPUT_DIR/model.ckpt-STEP (encoder and head under reference names, and global_step), points
        OUTPUT_DIR/checkpoint at it and deletes this run's checkpoints beyond `keep_checkpoints`; returns its prefix."""
        output_dir = self.options.output_dir
        prefix = posixpath.join(output_dir, f"{CHECKPOINT_PREFIX}-{self.step}")
        save_checkpoint(self.model.bert, prefix, global_step=self.step, extra=self.model.head_variables())
        # Only this run's own checkpoints are pruned: an earlier run's may have higher steps.
        self._saved = [path for path in self._saved if path != prefix] + [prefix]
        for old in self._saved[: -self.options.keep_checkpoints]:
            for name in tf.io.gfile.glob(old + ".*"):
                tf.io.gfile.remove(name)
        kept = self._saved = self._saved[-self.options.keep_checkpoints:]
        # The state file (a CheckpointState text proto) that tf.train.latest_checkpoint reads, so OUTPUT_DIR
        # works as --init_checkpoint.
        lines = [f'model_checkpoint_path: "{posixpath.basename(prefix)}"']
        lines += [f'all_model_checkpoint_paths: "{posixpath.basename(path)}"' for path in kept]
        with tf.io.gfile.GFile(posixpath.join(output_dir, "checkpoint"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        _log.info("saved %s", prefix)
        return prefix

