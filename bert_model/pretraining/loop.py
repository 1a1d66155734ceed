"""The pretraining loop: calls of the step's loop as `progress.LoopPacer` plans them, each followed by a
progress line and TensorBoard scalars, with checkpoints on the way and at the end."""
from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Iterator

import tensorflow as tf

from bert_model.pretraining.data import RunData
from bert_model.pretraining.options import PretrainingOptions
from bert_model.pretraining.state import TrainingState
from bert_model.pretraining.step import PretrainingStep
from bert_model.pretraining.summaries import scalar
from bert_model.progress import LoopPacer, format_duration

_log = logging.getLogger(__name__)


class TrainingLoop:
    """Runs `step` from the state's step to `options.train_steps`, saving `state` every
    `save_checkpoints_steps` and at the end; OUTPUT_DIR/train/ gets the scalars."""

    def __init__(self, step: PretrainingStep, state: TrainingState, data: RunData,
                 options: PretrainingOptions) -> None:
        self.step, self.state, self.data, self.options = step, state, data, options

    def train(self, iterator: Iterator) -> dict[str, float]:
        """Trains on the batches of `iterator`. Returns the last call's mean losses and examples per second,
        and the run's overall examples per second."""
        options = self.options
        step = self.state.step
        writer = tf.summary.create_file_writer(posixpath.join(options.output_dir, "train"))
        pacer = LoopPacer(step, options.train_steps, options.steps_per_loop, options.save_checkpoints_steps,
                          options.batch_size * options.accumulation_steps, options.progress_seconds)
        results: dict[str, float] = {}
        _log.info("%s", pacer.start_line())
        while step < options.train_steps:
            steps = pacer.next_steps()
            start = time.perf_counter()
            with self.data.damage_named(self.data.files):
                results = {name: float(value) for name, value in self.step.loop(iterator, tf.constant(steps)).items()}
            results["examples_per_second"] = pacer.record(steps, time.perf_counter() - start)
            step = self.state.step
            self._write_summaries(writer, step, results, pacer)
            if step % options.save_checkpoints_steps == 0 or step == options.train_steps:
                self.state.save()
        results["overall_examples_per_second"] = pacer.overall_examples_per_second()
        _log.info("trained steps %d to %d in %s", pacer.start_step, step, format_duration(pacer.elapsed))
        return results

    def _write_summaries(self, writer: tf.summary.SummaryWriter, step: int, results: dict[str, float],
                         pacer: LoopPacer) -> None:
        training = self.step.training
        learning_rate = float(training.schedule(training.optimizer.iterations.numpy()))
        with writer.as_default(step=step):
            for name, value in results.items():
                scalar(name, value)
            scalar("learning_rate", learning_rate)
            if training.loss_scale is not None:
                scalar("loss_scale", training.loss_scale.scale)
        writer.flush()
        losses = ", ".join(f"{name} {results[name]:.4f}" for name in self.step.loss_names)
        _log.info("%s", pacer.line(f"{losses}, learning rate {learning_rate:.3g}"))
