"""The fine-tuning loop: calls of the step's loop as `progress.LoopPacer` plans them, each followed by a
progress line, with checkpoints on the way and at the end."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import tensorflow as tf

from bert_model.finetuning.checkpoints import FinetuningCheckpoints
from bert_model.finetuning.options import FinetuningOptions
from bert_model.finetuning.step import FinetuningStep
from bert_model.progress import LoopPacer, format_duration

_log = logging.getLogger(__name__)


class FinetuningLoop:
    """Runs `train_step` from the current step to `options.train_steps`, saving `checkpoints` every
    `save_checkpoints_steps` and at the end."""

    def __init__(self, train_step: FinetuningStep, checkpoints: FinetuningCheckpoints,
                 options: FinetuningOptions) -> None:
        self.train_step, self.checkpoints, self.options = train_step, checkpoints, options

    def train(self, iterator: Iterator) -> dict[str, float]:
        """Trains on the batches of `iterator`, with a progress line after each call of the loop. Returns the
        mean loss and examples/s of the last call, and the overall examples/s (the first call's tracing
        included); empty when training was already done."""
        options, checkpoints, training = self.options, self.checkpoints, self.train_step.training
        pacer = LoopPacer(checkpoints.step, options.train_steps, options.steps_per_loop,
                          options.save_checkpoints_steps, options.batch_size * options.accumulation_steps,
                          options.progress_seconds)
        results: dict[str, float] = {}
        if checkpoints.step < options.train_steps:
            _log.info("%s", pacer.start_line())
        while checkpoints.step < options.train_steps:
            steps = pacer.next_steps()
            start = time.perf_counter()
            loss = float(self.train_step.loop(iterator, tf.constant(steps))["loss"])
            results = {"loss": loss, "examples_per_second": pacer.record(steps, time.perf_counter() - start)}
            learning_rate = float(training.schedule(training.optimizer.iterations.numpy()))
            _log.info("%s", pacer.line(f"loss {loss:.4f}, learning rate {learning_rate:.3g}"))
            if checkpoints.step % options.save_checkpoints_steps == 0 or checkpoints.step == options.train_steps:
                checkpoints.save()
        if results:
            results["overall_examples_per_second"] = pacer.overall_examples_per_second()
            _log.info("trained %d steps in %s", pacer.step - pacer.start_step, format_duration(pacer.elapsed))
        return results
