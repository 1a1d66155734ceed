"""`PretrainingRun`: the model, optimizer and training state of one OUTPUT_DIR, restored from it when it holds
a checkpoint, with what trains and evaluates them."""
from __future__ import annotations

import logging

import tensorflow as tf

from bert_model.config import BertConfig, write_config_file
from bert_model.loss_scale import DynamicLossScale
from bert_model.modeling import BertPretrainer
from bert_model.optimization import LAMB, AdamW
from bert_model.pretraining.data import RunData
from bert_model.pretraining.evaluation import PretrainingEvaluation
from bert_model.pretraining.files import PretrainingFiles, open_files
from bert_model.pretraining.loop import TrainingLoop
from bert_model.pretraining.options import PretrainingOptions
from bert_model.pretraining.state import TrainingState
from bert_model.pretraining.step import PretrainingStep
from bert_model.training import build_training

_log = logging.getLogger(__name__)


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
        self.data = RunData(open_files(options.data_dir), config, options.max_seq_length,
                            options.max_predictions_per_seq, options.next_sentence)
        self.data.check(self.data.files)
        replicas = self.strategy.num_replicas_in_sync
        if options.batch_size % replicas:
            raise ValueError(f"batch_size {options.batch_size} does not split evenly over {replicas} replicas")
        self.training = build_training(lambda: BertPretrainer(config), options, self.strategy)
        self.state = TrainingState(self.training, self.strategy, config, options.output_dir, options.keep_checkpoints)
        self.state.restore(options.init_checkpoint)
        self.train_step = PretrainingStep(self.training, self.strategy, self.state.batches_consumed,
                                          next_sentence=options.next_sentence,
                                          accumulation_steps=options.accumulation_steps,
                                          jit_compile=options.jit_compile)
        self.loop = TrainingLoop(self.train_step, self.state, self.data, options)
        self.evaluation = PretrainingEvaluation(self.state, self.strategy, self.data, options)

    @property
    def model(self) -> BertPretrainer:
        return self.training.model

    @property
    def optimizer(self) -> AdamW | LAMB:
        return self.training.optimizer

    @property
    def loss_scale(self) -> DynamicLossScale | None:
        return self.training.loss_scale

    @property
    def batches_consumed(self) -> tf.Variable:
        """Global micro-batches read so far; a resumed run skips them."""
        return self.state.batches_consumed

    @property
    def loss_names(self) -> tuple[str, ...]:
        return self.train_step.loss_names

    @property
    def step(self) -> int:
        """The optimizer steps taken, skipped float16 steps included."""
        return self.state.step

    def check_data(self, data: str | PretrainingFiles) -> PretrainingFiles:
        """The files of `data` (a location, or files already opened); raises PretrainingDataError, naming
        both values, if they do not fit this run."""
        return self.data.check(data)

    def train_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
        """The training batches of one input pipeline, seeded, from where the last checkpoint left off."""
        options = self.options
        dataset = self.data.dataset(self.data.files, options.batch_size, is_training=True, seed=options.seed,
                                    input_context=context, dynamic_masking=options.dynamic_masking)
        # Each pipeline yields per-replica batches for num_replicas / num_input_pipelines replicas.
        skip = int(self.batches_consumed.numpy()) * context.num_replicas_in_sync // context.num_input_pipelines
        return dataset.skip(skip)

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
        write_config_file(self.config, options.output_dir)
        if step:
            _log.info("skipping the %d batches trained on before", int(self.batches_consumed.numpy()))
        return self.loop.train(iter(self.strategy.distribute_datasets_from_function(self.train_dataset)))

    def save(self) -> str:
        """Writes the training checkpoint and the reference-layout one; returns the training checkpoint's path."""
        return self.state.save()

    def evaluate(self, data_dir: str, batch_size: int, max_steps: int) -> dict[str, float]:
        """`PretrainingEvaluation.evaluate`: the reference's metrics over up to `max_steps` batches of
        `data_dir`, written to OUTPUT_DIR/eval_results.json."""
        return self.evaluation.evaluate(data_dir, batch_size, max_steps)
