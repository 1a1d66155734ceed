"""Progress of a running Beam stage, from the stage's own counters, and its summary with the wall time.

While a job runs, a line such as

    [corpus 1m05s] 45.2/120.0 MB read, 0.70 MB/s, 38%, ETA 1m46s · 1,200 read · 800 kept · 150 dropped

goes to stderr every BERTPREP_PROGRESS_INTERVAL seconds (default 30; 0 turns the lines off), or is
redrawn every second on a terminal; when the job ends, one summary line with the wall time goes to
stdout. Where the counters come from while the job runs:

- The DirectRunner hands a bundle's metrics to its result only when the bundle ends, and its bundles
  are whole steps, so Beam's own counters appear at the very end. Every `counter()` below therefore
  also adds to a tally of its process: the launcher reads its own tally (the in-process and
  multi-threaded modes) and, for `--direct_running_mode multi_processing`, the files that worker
  processes write every second into a folder the launcher creates for the run and names in an
  environment variable that the workers inherit.
- Other runners (Dataflow): `pipeline.run()` returns as soon as the job is submitted; the launcher polls
  `result.metrics()` (Dataflow's tentative counters) every interval.

The summary always comes from `result.metrics()` of the finished job: committed, exact counts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricResults

from pipelines.corpus.inputs import InputFile

FOLDER_VARIABLE = "BERTPREP_PROGRESS_DIR"
INTERVAL_VARIABLE = "BERTPREP_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
_WORKER_FLUSH_SECONDS = 1.0
_TERMINAL_REFRESH_SECONDS = 1.0

Counts = dict[str, int]  # "namespace/name" -> value, summed over steps and processes


# ---------------------------------------------------------------------------
# Counting (inside the DoFns)
# ---------------------------------------------------------------------------


class _Tally:
    """This process's counts; in a worker process of the DirectRunner, also written to a file every second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counts = {}
        self.launcher = False  # the launcher reads its tally directly and writes no file
        self._writer_decided = False

    def add(self, key: str, value: int) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + value
        if not self._writer_decided and not self.launcher:
            self._start_writer()

    def snapshot(self) -> Counts:
        with self._lock:
            return dict(self.counts)

    def reset(self) -> None:
        with self._lock:
            self.counts = {}

    def _start_writer(self) -> None:
        """In a worker process of a DirectRunner job that reports progress (the launcher named a folder)."""
        with self._lock:
            if self._writer_decided:
                return
            self._writer_decided = True
        folder = os.environ.get(FOLDER_VARIABLE)
        if folder:
            threading.Thread(target=self._write_every_second, args=(folder,), daemon=True,
                             name="bertprep-progress-writer").start()

    def _write_every_second(self, folder: str) -> None:
        path, written = os.path.join(folder, f"{os.getpid()}.json"), None
        while True:
            time.sleep(_WORKER_FLUSH_SECONDS)
            counts = self.snapshot()
            if counts == written:
                continue
            try:
                with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as handle:
                    json.dump(counts, handle)
                os.replace(handle.name, path)  # the launcher never reads a half-written file
            except OSError:
                return  # the run is over and its folder gone
            written = counts


_TALLY = _Tally()


class Counter:
    """A Beam counter (shown by Dataflow, exact in the job's result) that also adds to this process's tally."""

    __slots__ = ("namespace", "name", "_beam", "_key")

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name
        self._beam = Metrics.counter(namespace, name)
        self._key = f"{namespace}/{name}"

    def inc(self, value: int = 1) -> None:
        self._beam.inc(value)
        _TALLY.add(self._key, value)

    def __reduce__(self):
        return counter, (self.namespace, self.name)


_COUNTERS: dict[str, Counter] = {}


def counter(namespace: str, name: str) -> Counter:
    """The counter `namespace/name` (one object per name and process)."""
    key = f"{namespace}/{name}"
    found = _COUNTERS.get(key)
    if found is None:
        found = _COUNTERS[key] = Counter(namespace, name)
    return found


def counts_from_metrics(metrics: MetricResults) -> Counts:
    """A job's counters (committed where the runner has them, else attempted), summed over its steps."""
    counts: Counts = {}
    for result in metrics.query()[MetricResults.COUNTERS]:
        key = f"{result.key.metric.namespace}/{result.key.metric.name}"
        counts[key] = counts.get(key, 0) + int(result.result or 0)
    return counts


# ---------------------------------------------------------------------------
# What each stage shows
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Quantity:
    label: str
    pattern: str  # full match on "namespace/name"; the matching counters are summed
    megabytes: bool = False
    total: str = ""  # a key of the totals known before the run, or the label of another quantity

    def value(self, counts: Counts) -> int:
        return sum(value for key, value in counts.items() if re.fullmatch(self.pattern, key))


_READ = (
    Quantity("MB read", r"bertprep\.corpus/input_bytes", megabytes=True, total="input_bytes"),
    Quantity("read", r"bertprep\.corpus/read"),
)
_DROPPED = Quantity("dropped", r"bertprep\.corpus/dropped_.*")
_ERRORS = Quantity("errors", r"bertprep\.corpus/error_.*")
STAGES: dict[str, tuple[Quantity, ...]] = {
    "corpus": (*_READ, Quantity("kept", r"bertprep\.corpus/kept"), _DROPPED, _ERRORS),
    "vocab": (*_READ, _DROPPED, _ERRORS,
              Quantity("documents counted", r"bertprep\.vocab/(training|heldout)_documents"),
              Quantity("words", r"bertprep\.vocab/(training|heldout)_words")),
    "pretraining-data": (
        Quantity("documents read", r"bertprep\.pretraining/documents_read", total="documents"),
        Quantity("tokens", r"bertprep\.pretraining/tokens"),
        Quantity("instances made", r"bertprep\.pretraining/seq\d+_instances"),
        Quantity("instances written", r"bertprep\.pretraining/seq\d+_instances_written", total="instances made"),
    ),
    "distill-labels": (
        Quantity("transfer examples read", r"bertprep\.distill/read"),
        Quantity("skipped", r"bertprep\.distill/skipped_.*"),
        Quantity("labelled", r"bertprep\.distill/labelled"),
    ),
}


def file_totals(files: Iterable[InputFile]) -> dict[str, int]:
    """What the corpus and vocab stages know before they run: their input's size."""
    return {"input_bytes": sum(file.size for file in files)}


def corpus_totals(input_stats: dict[str, dict], inputs: list[str]) -> dict[str, int]:
    """The documents pretraining-data will read, when every input is a corpus folder whose stats.json counts them."""
    if inputs and len(input_stats) == len(inputs):
        return {"documents": sum(stats.get("kept", 0) for stats in input_stats.values())}
    return {}


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _amount(quantity: Quantity, value: float) -> str:
    return f"{value / 1e6:,.1f}" if quantity.megabytes else f"{int(value):,}"


class Tracker:
    """Turns successive counts of one stage into progress lines (rates and ETAs need the history)."""

    def __init__(self, stage: str, totals: dict[str, int], started: float) -> None:
        self.quantities = STAGES[stage]
        self.stage, self.totals, self.started = stage, totals, started
        # When each quantity was last seen at 0: its work began after that, which gives its rate.
        self._idle_since = {quantity.label: started for quantity in self.quantities}

    def _total(self, quantity: Quantity, values: dict[str, int]) -> int:
        if quantity.total in values:
            return values[quantity.total]
        return self.totals.get(quantity.total, 0)

    def _values(self, counts: Counts, now: float) -> dict[str, int]:
        values = {quantity.label: quantity.value(counts) for quantity in self.quantities}
        for label, value in values.items():
            if value == 0:
                self._idle_since[label] = now
        return values

    def _phase(self, values: dict[str, int]) -> Quantity | None:
        """The last quantity under way whose total is known: the phase the job is in, which the ETA is of."""
        return next((quantity for quantity in reversed(self.quantities)
                     if quantity.total and 0 < values[quantity.label] < self._total(quantity, values)), None)

    def line(self, counts: Counts, now: float) -> str:
        values = self._values(counts, now)
        eta_of = self._phase(values)
        parts = []
        for index, quantity in enumerate(self.quantities):
            value = values[quantity.label]
            if quantity is eta_of:
                parts.append(self._with_eta(quantity, values, now))
            elif value or index == 0:
                parts.append(f"{_amount(quantity, value)} {quantity.label}")
        return f"[{self.stage} {format_duration(now - self.started)}] " + " · ".join(parts)

    def _with_eta(self, quantity: Quantity, values: dict[str, int], now: float) -> str:
        value, total = values[quantity.label], self._total(quantity, values)
        text = f"{_amount(quantity, value)}/{_amount(quantity, total)} {quantity.label}"
        seconds = now - self._idle_since[quantity.label]
        rate = value / seconds if seconds > 0 else 0.0
        text += f", {rate / 1e6:,.2f} MB/s" if quantity.megabytes else f", {rate:,.0f}/s"
        text += f", {100 * value / total:.0f}%"
        if rate > 0:
            text += f", ETA {format_duration((total - value) / rate)}"
        return text

    def fraction(self, counts: Counts) -> float | None:
        """Done share of the phase under way (for a terminal's bar); None when no phase has a known total."""
        values = {quantity.label: quantity.value(counts) for quantity in self.quantities}
        phase = self._phase(values)
        return values[phase.label] / self._total(phase, values) if phase else None


def summary_line(stage: str, counts: Counts, seconds: float) -> str:
    """`corpus: done in 1m12s · 120.0 MB read (1.67 MB/s) · 1,200 read · 800 kept · …`, every quantity shown."""
    parts = []
    for quantity in STAGES[stage]:
        value = quantity.value(counts)
        text = f"{_amount(quantity, value)} {quantity.label}"
        if quantity.megabytes and seconds > 0:
            text += f" ({value / 1e6 / seconds:,.2f} MB/s)"
        parts.append(text)
    return f"{stage}: done in {format_duration(seconds)} · " + " · ".join(parts)


# ---------------------------------------------------------------------------
# Reporting (in the launcher)
# ---------------------------------------------------------------------------


def interval_seconds() -> float:
    """Seconds between progress lines, from BERTPREP_PROGRESS_INTERVAL (0 or less: no lines)."""
    text = os.environ.get(INTERVAL_VARIABLE, "")
    try:
        return float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        logging.warning("%s=%r is not a number of seconds; using %s", INTERVAL_VARIABLE, text, DEFAULT_INTERVAL)
        return DEFAULT_INTERVAL


def _read_worker_files(folder: str) -> Counts:
    counts: Counts = {}
    for name in os.listdir(folder):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                worker = json.load(handle)
        except (OSError, ValueError):
            continue  # a worker replacing its file this instant; the next read has it
        for key, value in worker.items():
            counts[key] = counts.get(key, 0) + value
    return counts


class _Reporter:
    """A thread that prints the progress of one running pipeline."""

    def __init__(self, stage: str, totals: dict[str, int], folder: str, stream: TextIO) -> None:
        self.started = time.monotonic()
        self.tracker = Tracker(stage, totals, self.started)
        self.stage, self.folder, self.stream = stage, folder, stream
        self.interval = interval_seconds()
        self.live = stream.isatty()
        self.pipeline: beam.Pipeline | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bertprep-progress")
        self._last_poll = -math.inf
        self._polled: Counts = {}

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.live and self._thread.ident is not None:  # a live line was drawn: clear it
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def counts(self, now: float) -> Counts:
        """The running job's counts: its runner's metrics once it has a result (Dataflow), else the tallies."""
        result = getattr(self.pipeline, "result", None)
        if result is not None:
            if now - self._last_poll >= self.interval:
                self._last_poll = now
                with contextlib.suppress(Exception):  # a failed poll (network) costs one line, not the job
                    self._polled = counts_from_metrics(result.metrics())
            return self._polled
        return self.tallies()

    def tallies(self) -> Counts:
        """This process's tally and those its worker processes wrote."""
        counts = _TALLY.snapshot()
        for key, value in _read_worker_files(self.folder).items():
            counts[key] = counts.get(key, 0) + value
        return counts

    def _loop(self) -> None:
        refresh = min(self.interval, _TERMINAL_REFRESH_SECONDS) if self.live else self.interval
        while not self._stop.wait(refresh):
            now = time.monotonic()
            counts = self.counts(now)
            line = self.tracker.line(counts, now)
            if self.live:
                self.stream.write(f"\r\x1b[K{_bar(self.tracker.fraction(counts))}{line}")
            else:
                self.stream.write(line + "\n")
            self.stream.flush()


def _bar(fraction: float | None, width: int = 20) -> str:
    if fraction is None:
        return ""
    filled = int(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] "


@contextlib.contextmanager
def report(stage: str, totals: dict[str, int] | None = None,
           stream: TextIO | None = None) -> Iterator[Callable[[beam.Pipeline], None]]:
    """Prints progress lines while the body runs a pipeline, and its summary when it has run.

    The body calls the yielded function with its pipeline, so that the reporter can poll the job's
    metrics once `pipeline.result` exists (runners that return before the job ends) and take the
    summary from it. An unknown stage reports nothing.
    """
    if stage not in STAGES:
        yield lambda pipeline: None
        return
    folder = tempfile.mkdtemp(prefix="bertprep-progress-")
    previous = os.environ.get(FOLDER_VARIABLE)
    os.environ[FOLDER_VARIABLE] = folder  # inherited by the DirectRunner's worker processes
    _TALLY.launcher = True
    _TALLY.reset()
    reporter = _Reporter(stage, totals or {}, folder, stream or sys.stderr)
    try:
        reporter.start()
        yield lambda pipeline: setattr(reporter, "pipeline", pipeline)
    finally:
        reporter.stop()
        if previous is None:
            os.environ.pop(FOLDER_VARIABLE, None)
        else:
            os.environ[FOLDER_VARIABLE] = previous
        shutil.rmtree(folder, ignore_errors=True)
    result = getattr(reporter.pipeline, "result", None)
    if result is not None:
        seconds = time.monotonic() - reporter.started
        try:
            counts = counts_from_metrics(result.metrics())
        except Exception as error:  # a runner without metrics: the tallies are the next best count
            logging.warning("the job's metrics are not available (%s); the summary counts what the workers reported",
                            error)
            counts = reporter.tallies()
        print(summary_line(stage, counts, seconds), flush=True)
