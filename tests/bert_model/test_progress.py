"""How long each call of a training loop runs (bert_model.progress.LoopPacer), its progress line, and
TensorFlow's start-up noise on a machine without a GPU (bert_model.tf_env)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bert_model.progress import Heartbeat, LoopPacer, format_duration
from bert_model.tf_env import gpu_visible, without_startup_noise
from tests.support.paths import REPO


def _calls(pacer: LoopPacer, seconds_per_step: float) -> list[int]:
    """The steps of every call until the end, each call timed as `seconds_per_step` per step."""
    steps = []
    while pacer.step < pacer.train_steps:
        steps.append(pacer.next_steps())
        pacer.record(steps[-1], steps[-1] * seconds_per_step)
    return steps


def test_a_fast_model_runs_whole_loops_between_checkpoints() -> None:
    pacer = LoopPacer(0, 2500, steps_per_loop=1000, checkpoint_every=700, examples_per_step=32)
    # One step first, then up to each multiple of the loop length or of the checkpoint interval.
    assert _calls(pacer, 0.001) == [1, 699, 300, 400, 600, 100, 400]  # to 700, 1000, 1400, 2000, 2100, 2500
    assert pacer.step == 2500


def test_a_slow_model_reports_at_least_every_progress_interval() -> None:
    # BERT-Base on two CPU cores: several seconds a step. A call never runs longer than progress_seconds.
    pacer = LoopPacer(0, 100, steps_per_loop=1000, checkpoint_every=1000, examples_per_step=32,
                      progress_seconds=30)
    calls = _calls(pacer, 7.0)
    assert calls[0] == 1 and set(calls[1:-1]) == {4} and sum(calls) == 100
    assert max(steps * 7.0 for steps in calls) <= 30
    # The second call is planned from the first call's time (tracing included), so it is short, not long.
    assert _calls(LoopPacer(0, 100, 1000, 1000, 8, progress_seconds=30), 10.0)[:2] == [1, 3]
    # A step longer than the interval: one step a call, never zero.
    assert _calls(LoopPacer(0, 3, 1000, 1000, 8, progress_seconds=30), 45.0) == [1, 1, 1]


def test_a_resumed_run_continues_from_its_step() -> None:
    pacer = LoopPacer(250, 1000, steps_per_loop=100, checkpoint_every=500, examples_per_step=8)
    assert _calls(pacer, 0.01)[:4] == [1, 49, 100, 100]


def test_the_progress_line_has_speed_elapsed_and_eta() -> None:
    pacer = LoopPacer(0, 1000, steps_per_loop=100, checkpoint_every=1000, examples_per_step=32)
    pacer.record(pacer.next_steps(), 0.2)  # the first call traces: no speed to extrapolate from yet
    assert pacer.line("loss 9.1").endswith("ETA after the next call")
    assert "(first call: includes tracing)" in pacer.line("loss 9.1")
    pacer.record(pacer.next_steps(), 99 * 0.5)
    line = pacer.line("loss 7.5")
    assert re.fullmatch(r"step 100/1000 \(10%\): loss 7\.5; 64\.0 examples/s, elapsed \d:\d\d:\d\d, ETA 0:07:30",
                        line), line
    assert format_duration(3725.4) == "1:02:05"
    assert not Heartbeat(60).due()
    assert Heartbeat(0).due()


def test_start_up_noise_is_removed_and_everything_else_kept() -> None:
    printed = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1 123 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n"
        "E0000 00:00:1 123 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to "
        "cuInit: UNKNOWN ERROR (303)\n"
        "E0000 00:00:1 123 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory for "
        "plugin cuDNN when one has already been registered\n"
        "E0000 00:00:1 123 some_kernel.cc:10] a real error\n"
        "Traceback (most recent call last):\n"
    )
    assert without_startup_noise(printed) == ("E0000 00:00:1 123 some_kernel.cc:10] a real error\n"
                                              "Traceback (most recent call last):\n")


@pytest.mark.skipif(gpu_visible(), reason="the noise is removed only where no GPU is visible")
def test_importing_tensorflow_prints_no_cuda_errors_without_a_gpu() -> None:
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    script = ("import sys; from bert_model.tf_env import import_tensorflow; tf = import_tensorflow(); "
              "print(float(tf.reduce_sum(tf.data.TFRecordDataset([]).reduce(0.0, lambda a, b: a)))); "
              "print('a real error', file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.strip() == "0.0"
    # tf.data may warn that a cancelled optimization loop stopped (a race at the end of the iterator, not
    # start-up noise); nothing else but the script's own line may show.
    lines = [line for line in done.stderr.splitlines() if "Optimization loop failed: CANCELLED" not in line]
    assert lines == ["a real error"]
