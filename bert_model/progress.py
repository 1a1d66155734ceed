"""How many steps each call of a training loop runs, and the progress line after it.

A tf.function that runs N steps cannot report inside them, and a fixed N is either too long for a slow
model on a CPU (BERT-Base on two cores runs a few steps a minute: 1000 steps per call would be silent for
hours) or too short for a TPU. So the loop adapts: the first call runs one step (it also traces and
compiles, and shows the run works), and each later call runs at most `steps_per_loop` steps and no more
than fit in `progress_seconds` at the speed measured so far. Training is the same whatever the calls'
lengths (the same batches, seeds and updates); only where the progress lines and TensorBoard points fall
depends on the speed.
"""
from __future__ import annotations

import datetime
import time


def format_duration(seconds: float) -> str:
    """H:MM:SS."""
    return str(datetime.timedelta(seconds=round(seconds)))


class LoopPacer:
    """Plans the steps of each call (`next_steps`) and times them (`record`) for one training run.

    Calls end at multiples of `steps_per_loop` and of `checkpoint_every`, so checkpoints and the usual
    logging points fall where a fixed loop length would put them.
    """

    def __init__(self, start_step: int, train_steps: int, steps_per_loop: int, checkpoint_every: int,
                 examples_per_step: int, progress_seconds: float = 30.0) -> None:
        self.start_step, self.train_steps = start_step, train_steps
        self.steps_per_loop, self.checkpoint_every = steps_per_loop, checkpoint_every
        self.examples_per_step, self.progress_seconds = examples_per_step, progress_seconds
        self.begin = time.perf_counter()
        self.calls = 0
        self.step = start_step
        self._timed_steps = 0  # steps of the calls after the first, whose time includes no tracing
        self._timed_seconds = 0.0
        self._first_call_seconds = 0.0
        self.last_examples_per_second = 0.0

    @property
    def seconds_per_step(self) -> float | None:
        """Measured on the calls after the first; None before one of them ran."""
        return self._timed_seconds / self._timed_steps if self._timed_steps else None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.begin

    def next_steps(self) -> int:
        """Steps for the next call: 1 for the first, else up to the next loop or checkpoint boundary, fewer
        when those would take longer than progress_seconds."""
        step = self.step
        limit = min(self.train_steps - step, self.steps_per_loop - step % self.steps_per_loop,
                    self.checkpoint_every - step % self.checkpoint_every)
        if self.calls == 0:
            return min(1, limit)
        # Until a call without tracing was timed, the first call's time bounds a step's: the second call
        # is short rather than long.
        per_step = self.seconds_per_step or self._first_call_seconds
        if per_step:
            limit = min(limit, max(1, int(self.progress_seconds / per_step)))
        return limit

    def record(self, steps: int, seconds: float) -> float:
        """Notes a call of `steps` steps that took `seconds`; returns its examples per second."""
        if self.calls:
            self._timed_steps += steps
            self._timed_seconds += seconds
        else:
            self._first_call_seconds = seconds / steps
        self.calls += 1
        self.step += steps
        self.last_examples_per_second = steps * self.examples_per_step / max(seconds, 1e-9)
        return self.last_examples_per_second

    def eta(self) -> float | None:
        """Seconds left at the speed of the calls after the first; None until one was timed."""
        per_step = self.seconds_per_step
        return None if per_step is None else (self.train_steps - self.step) * per_step

    def start_line(self) -> str:
        """What is logged before the first call, which traces the loop before its one step (a minute or more
        for a large model on a CPU)."""
        return (f"step {self.step}/{self.train_steps}: tracing the training loop and running one step; a "
                "progress line follows every call")

    def line(self, details: str) -> str:
        """"step 120/1000 (12%): DETAILS; 85.3 examples/s, elapsed 0:01:05, ETA 0:07:58"."""
        eta = self.eta()
        first = " (first call: includes tracing)" if self.calls == 1 else ""
        return (f"step {self.step}/{self.train_steps} ({100 * self.step / self.train_steps:.0f}%): {details}; "
                f"{self.last_examples_per_second:.1f} examples/s{first}, elapsed {format_duration(self.elapsed)}, "
                f"ETA {format_duration(eta) if eta is not None else 'after the next call'}")

    def overall_examples_per_second(self) -> float:
        """Examples per second over the whole run so far, the first call's tracing included."""
        return (self.step - self.start_step) * self.examples_per_step / max(self.elapsed, 1e-9)


class Heartbeat:
    """True from `due()` at most every `seconds`: for progress lines inside a Python loop (evaluation)."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self.begin = self._last = time.perf_counter()

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.begin
