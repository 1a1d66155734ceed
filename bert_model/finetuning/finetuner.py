"""`Finetuner`: a task's head model with what trains it, under a tf.distribute strategy, and the objects
that start it from a checkpoint and save it, train it and predict with it."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from bert_model.finetuning.checkpoints import FinetuningCheckpoints, InitReport
from bert_model.finetuning.head import HeadModel, LossFn
from bert_model.finetuning.loop import FinetuningLoop
from bert_model.finetuning.options import FinetuningOptions
from bert_model.finetuning.prediction import Predictor
from bert_model.finetuning.records import record_dataset
from bert_model.finetuning.step import FinetuningStep
from bert_model.training import build_training


class Finetuner:
    """A head model with its optimizer (the reference AdamW or LAMB, warmup then linear decay), optional
    gradient accumulation and float16 loss scaling, under a tf.distribute strategy: `checkpoints` starts
    it from a checkpoint and saves it, `loop` trains it, `predictor` predicts with it.

    `build_model` is called inside the strategy's scope and the dtype policy of `options.precision`.
    """

    def __init__(self, build_model: Callable[[], HeadModel], loss_fn: LossFn, options: FinetuningOptions,
                 strategy: tf.distribute.Strategy | None = None) -> None:
        self.options = options
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if options.batch_size % replicas:
            raise ValueError(f"train batch size {options.batch_size} does not split evenly over {replicas} replicas")
        self.training = build_training(build_model, options, self.strategy)
        self.checkpoints = FinetuningCheckpoints(self.training.model, self.training.global_step, options.output_dir,
                                                 options.keep_checkpoints)
        train_step = FinetuningStep(self.training, self.strategy, loss_fn, batch_size=options.batch_size,
                                    accumulation_steps=options.accumulation_steps, jit_compile=options.jit_compile)
        self.loop = FinetuningLoop(train_step, self.checkpoints, options)
        self.predictor = Predictor(self.training.model, self.strategy, options.progress_seconds)

    @property
    def model(self) -> HeadModel:
        return self.training.model

    @property
    def step(self) -> int:
        return self.checkpoints.step

    def start(self, init_checkpoint: str | None, training: bool) -> InitReport | None:
        """`FinetuningCheckpoints.start`: the weights a run starts from."""
        return self.checkpoints.start(init_checkpoint, training)

    def train(self, dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset]) -> dict[str, float]:
        """Trains `options.train_steps` steps on the batches of `dataset_fn` (given to
        distribute_datasets_from_function: per-replica batches, repeated), saving every
        `save_checkpoints_steps` and at the end (`FinetuningLoop.train`)."""
        return self.loop.train(iter(self.strategy.distribute_datasets_from_function(dataset_fn)))

    def train_on_records(self, paths: list[str], spec: dict[str, tf.io.FixedLenFeature],
                         shuffle_buffer: int | None = None) -> dict[str, float]:
        """`train` on the records of `paths` (`records.record_dataset`, parsed with `spec`, seeded)."""
        options = self.options
        return self.train(lambda context: record_dataset(
            paths, spec, options.batch_size, is_training=True, seed=options.seed, input_context=context,
            shuffle_buffer=shuffle_buffer))

    def predict(self, dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
        """`Predictor.predict`: the model's outputs on the padded batches of `dataset`, fake rows removed."""
        return self.predictor.predict(dataset)
