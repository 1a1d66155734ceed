"""Progress lines and stage summaries (pipelines.progress) on the real DirectRunner, in and out of process."""
from __future__ import annotations

import io
import json
import re

import apache_beam as beam
import pytest

from pipelines import progress
from pipelines.cli.main import main
from tests.support.wiki_fixtures import DATA
from tests.support.local_pipeline import local_pipeline

WIKI = DATA / "wikipedia" / "enwiki-pages-articles1-excerpt-40pages.xml.bz2"
BOOK = DATA / "gutenberg" / "pg1342-pride-and-prejudice-2025header-excerpt.txt"
VOCAB = DATA / "vocab" / "bert-base-uncased-vocab.txt"
PROCESSES = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
LINE = re.compile(r"^\[(corpus|vocab|pretraining-data) [0-9hms.]+\] ", re.M)


def _amounts(summary: str) -> dict[str, float]:
    """`label: amount` of every part of a summary line."""
    parts = summary.split(" · ")[1:]
    return {part.split(" ", 1)[1].split(" (")[0]: float(part.split(" ", 1)[0].replace(",", "")) for part in parts}


def _summary(stage: str, out: str) -> str:
    [line] = [line for line in out.splitlines() if line.startswith(f"{stage}: done in ")]
    return line


def _run_corpus(tmp_path, capsys, monkeypatch, *extra: str) -> tuple[str, str, dict]:
    monkeypatch.setenv(progress.INTERVAL_VARIABLE, "0.2")
    output = tmp_path / "corpus"
    assert main(["corpus", f"--input=wikipedia:{WIKI}", f"--input=gutenberg:{BOOK}", "--output", str(output),
                 *extra]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err, json.loads((output / "stats.json").read_text())


def _check_corpus_summary(out: str, stats: dict) -> None:
    summary = _summary("corpus", out)
    assert re.match(r"corpus: done in \d+\.\ds · ", summary)
    amounts = _amounts(summary)
    assert amounts["read"] == stats["read"] and amounts["kept"] == stats["kept"] > 0
    assert amounts["dropped"] == sum(stats["dropped"].values()) > 0 and amounts["errors"] == stats["errors"]
    assert amounts["MB read"] == round((WIKI.stat().st_size + BOOK.stat().st_size) / 1e6, 1)


@pytest.mark.parametrize("flags", [[], PROCESSES], ids=["in-process", "worker-processes"])
def test_corpus_prints_progress_from_its_counters_and_a_summary_that_matches_stats(flags, tmp_path, capsys,
                                                                                     monkeypatch):
    out, err, stats = _run_corpus(tmp_path, capsys, monkeypatch, *flags)
    _check_corpus_summary(out, stats)
    lines = LINE.findall(err)
    assert len(lines) >= 3 and set(lines) == {"corpus"}
    # The pipeline's counters reached the launcher while it ran (from worker processes through their files).
    read = [int(m.group(1).replace(",", "")) for m in re.finditer(r" · ([\d,]+) read", err)]
    # A worker writes its counts once a second, so the last line may miss the last ones; the summary has them.
    assert read and 0 < max(read) <= stats["read"]


def test_no_progress_lines_at_interval_zero_but_the_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(progress.INTERVAL_VARIABLE, "0")
    output = tmp_path / "corpus"
    assert main(["corpus", f"--input=gutenberg:{BOOK}", "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert not LINE.search(captured.err)
    assert _amounts(_summary("corpus", captured.out))["kept"] == json.loads((output / "stats.json").read_text())["kept"]


def test_pretraining_data_summary_counts_what_metadata_records(tmp_path, capsys, monkeypatch):
    _run_corpus(tmp_path, capsys, monkeypatch)
    output = tmp_path / "data"
    assert main(["pretraining-data", "--input", str(tmp_path / "corpus"), "--vocab", str(VOCAB), "--output",
                 str(output), "--lengths", "64:10,128:20", "--dupe_factor", "1"]) == 0
    captured = capsys.readouterr()
    amounts = _amounts(_summary("pretraining-data", captured.out))
    metadata = [json.loads((output / f"seq{size}" / "metadata.json").read_text()) for size in (64, 128)]
    assert amounts["instances written"] == amounts["instances made"] == sum(m["num_instances"] for m in metadata)
    assert amounts["documents read"] == metadata[0]["counters"]["documents_read"]
    assert amounts["tokens"] == metadata[0]["counters"]["tokens"]
    assert "pretraining-data" in LINE.findall(captured.err)


# ---------------------------------------------------------------------------
# The lines themselves, from a real job's metrics (what the launcher polls on Dataflow)
# ---------------------------------------------------------------------------


class _CountLikeTheCorpusStage(beam.DoFn):
    def process(self, size: int):
        progress.counter("bertprep.corpus", "read").inc(3)
        progress.counter("bertprep.corpus", "kept").inc(2)
        progress.counter("bertprep.corpus", "dropped_redirect").inc(1)
        progress.counter("bertprep.corpus", "input_bytes").inc(size)
        yield size


@pytest.fixture(scope="module")
def finished_job():
    with local_pipeline() as pipeline:  # the with block sets pipeline.result, as run_pipeline's does
        _ = pipeline | beam.Create([1_500_000, 2_000_000, 500_000]) | beam.ParDo(_CountLikeTheCorpusStage())
    return pipeline


def test_lines_from_the_metrics_of_a_real_job(finished_job):
    counts = progress.counts_from_metrics(finished_job.result.metrics())
    assert counts == {"bertprep.corpus/read": 9, "bertprep.corpus/kept": 6, "bertprep.corpus/dropped_redirect": 3,
                      "bertprep.corpus/input_bytes": 4_000_000}
    tracker = progress.Tracker("corpus", {"input_bytes": 10_000_000}, started=100.0)
    assert tracker.line(counts, now=110.0) == (
        "[corpus 10.0s] 4.0/10.0 MB read, 0.40 MB/s, 40%, ETA 15.0s · 9 read · 6 kept · 3 dropped")
    assert progress.summary_line("corpus", counts, 80.0) == (
        "corpus: done in 1m20s · 4.0 MB read (0.05 MB/s) · 9 read · 6 kept · 3 dropped · 0 errors")


def test_the_reporter_polls_a_jobs_metrics_once_it_has_a_result(finished_job):
    reporter = progress._Reporter("corpus", {}, folder="", stream=io.StringIO())
    reporter.pipeline = finished_job  # on Dataflow, pipeline.result exists while the job runs
    assert reporter.counts(now=0.0)["bertprep.corpus/kept"] == 6


def test_an_eta_belongs_to_the_phase_under_way():
    tracker = progress.Tracker("pretraining-data", {"documents": 1000}, started=0.0)
    reading = {"bertprep.pretraining/documents_read": 250, "bertprep.pretraining/tokens": 90_000}
    assert tracker.line(reading, now=5.0) == (
        "[pretraining-data 5.0s] 250/1,000 documents read, 50/s, 25%, ETA 15.0s · 90,000 tokens")
    # Writing began after 20 s: its rate counts from then, and its total is what was made.
    made = {**reading, "bertprep.pretraining/documents_read": 1000, "bertprep.pretraining/seq128_instances": 600,
            "bertprep.pretraining/seq512_instances": 200}
    assert "instances written" not in tracker.line(made, now=20.0)
    writing = {**made, "bertprep.pretraining/seq128_instances_written": 300}
    assert tracker.line(writing, now=30.0).endswith(
        "800 instances made · 300/800 instances written, 30/s, 38%, ETA 16.7s")
    assert progress.format_duration(3725) == "1h02m"


def test_a_repaired_book_is_read_once_in_the_counts(tmp_path, capsys, monkeypatch):
    # A few invalid bytes in a UTF-8 book: repaired inside the one record, not a second record read.
    damaged = tmp_path / "damaged.txt"
    text = BOOK.read_bytes()
    damaged.write_bytes(text[:5000] + b"\xff\xfe" + text[5000:])
    monkeypatch.setenv(progress.INTERVAL_VARIABLE, "0.2")
    assert main(["corpus", f"--input=gutenberg:{damaged}", "--output", str(tmp_path / "corpus")]) == 0
    captured = capsys.readouterr()
    stats = json.loads((tmp_path / "corpus" / "stats.json").read_text())
    assert stats["repaired"] and stats["read"] == 1
    assert _amounts(_summary("corpus", captured.out))["read"] == 1
    assert all(int(m.group(1)) <= 1 for m in re.finditer(r" · ([\d,]+) read", captured.err))
