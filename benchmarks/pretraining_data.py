"""`bertprep pretraining-data` against the reference create_pretraining_data.py, side by side.

    python benchmarks/pretraining_data.py [--books benchmarks/data/gutenberg] [--scales 1,4] [--lengths 128:20]
        [--repeats 1]

Builds the 4.8 MB English input from eight books of benchmarks/data/gutenberg
(benchmarks/make_bert_text.py), and for every scale k (the input repeated k
times) runs, one after the other on this machine:

- the reference (benchmarks/reference_create_pretraining_data.py, bert-tensorflow 1.0.4) pinned to one core;
- bertprep on the DirectRunner in one process, pinned to one core;
- bertprep with --direct_running_mode multi_processing and 1, then 2 workers
  (the runner process holds the shuffled data, as Dataflow's shuffle service
  would; the workers do the work and are what "memory per worker" means).

Every run uses dupe_factor 5, masked_lm_prob 0.15, seed 12345 and the BERT
uncased vocab. Peak memory is each process's VmHWM from /proc (Linux only).
With --repeats N the four runs of a scale are made N times in turn (so that a
busy spell of a shared machine falls on all of them), and each is reported by
its median wall time and its largest peak memory. Prints wall time,
instances/s, the ratio to the reference, peak memory, and the statistics of
both outputs (instances, tokens and masks per instance, random-next share).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import statistics as stats_module
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.make_bert_text import BENCHMARK_BOOKS  # noqa: E402


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in pathlib.Path(f"/proc/{current}/task").glob("*/children"):
            try:
                stack += [int(child) for child in task.read_text().split()]
            except OSError:
                pass
    return found


def _peak_kb(pid: int) -> int:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(command: list[str], one_core: bool) -> tuple[float, int, int]:
    """(wall seconds, peak MB of the main process, largest peak MB of its descendants)."""
    core = min(os.sched_getaffinity(0))
    pin = (lambda: os.sched_setaffinity(0, {core})) if one_core else None
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:  # a pipe would fill up with the reference's logging and block it
        process = subprocess.Popen(command, preexec_fn=pin, stdout=log, stderr=log)
        peaks: dict[int, int] = {}
        while process.poll() is None:
            for pid in _descendants(process.pid):
                peaks[pid] = max(peaks.get(pid, 0), _peak_kb(pid))
            time.sleep(0.05)
        wall = time.perf_counter() - started
        if process.returncode:
            log.seek(0)
            sys.exit(f"{command[:3]} failed:\n{log.read().decode()[-3000:]}")
    main = peaks.pop(process.pid, 0)
    return wall, main // 1024, max(peaks.values(), default=0) // 1024


def statistics(files: list[str], predictions: int) -> dict[str, float]:
    import numpy as np
    import tensorflow as tf

    spec = {"input_mask": tf.io.VarLenFeature(tf.int64), "masked_lm_weights": tf.io.VarLenFeature(tf.float32),
            "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64)}
    tokens, masked, random_next = [], [], []
    for batch in tf.data.TFRecordDataset(files).batch(4096):
        parsed = tf.io.parse_example(batch, spec)
        tokens.append(tf.sparse.to_dense(parsed["input_mask"]).numpy().sum(axis=1))
        masked.append(tf.sparse.to_dense(parsed["masked_lm_weights"]).numpy().sum(axis=1))
        random_next.append(parsed["next_sentence_labels"].numpy()[:, 0])
    tokens, masked, random_next = (np.concatenate(x) for x in (tokens, masked, random_next))
    return {"instances": len(tokens), "tokens/instance": tokens.mean(), "masked/instance": masked.mean(),
            "random next": random_next.mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--books", type=pathlib.Path, default=ROOT / "benchmarks" / "data" / "gutenberg",
                        help="folder holding the eight books of make_bert_text.BENCHMARK_BOOKS")
    parser.add_argument("--scales", default="1,4")
    parser.add_argument("--lengths", default="128:20")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each command per scale; medians reported")
    args = parser.parse_args()
    length, predictions = (int(x) for x in args.lengths.split(":"))
    vocab = str(ROOT / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt")
    work = pathlib.Path(tempfile.mkdtemp(prefix="bertprep-bench-"))
    base = work / "en.txt"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_bert_text.py"), str(base),
                    *(str(args.books / name) for name in BENCHMARK_BOOKS)], check=True)
    bertprep = [sys.executable, "-m", "pipelines.cli", "pretraining-data", "--vocab", vocab,
                "--lengths", args.lengths, "--dupe_factor", "5", "--seed", "12345"]
    print(f"input {base.stat().st_size / 1e6:.1f} MB per scale unit; {os.cpu_count()} cores; work in {work}\n")
    print(f"{'scale':>5} {'run':<28} {'wall s':>8} {'inst/s':>9} {'x ref':>6} {'main MB':>8} {'worker MB':>9}")
    for scale in (int(x) for x in args.scales.split(",")):
        text = work / f"en{scale}.txt"
        text.write_bytes(base.read_bytes() * scale)
        ref_out = work / f"ref{scale}.tfrecord"
        runs = {
            "reference (1 core)": ([sys.executable, str(ROOT / "benchmarks" / "reference_create_pretraining_data.py"),
                                    f"--input_file={text}", f"--output_file={ref_out}", f"--vocab_file={vocab}",
                                    "--do_lower_case=True", f"--max_seq_length={length}",
                                    f"--max_predictions_per_seq={predictions}", "--masked_lm_prob=0.15",
                                    "--random_seed=12345", "--dupe_factor=5"], True, None),
            "bertprep in-process (1 core)": (bertprep, True, work / f"ours{scale}"),
            "bertprep 1 worker process": (bertprep + ["--direct_num_workers", "1", "--direct_running_mode",
                                                      "multi_processing"], True, work / f"ours{scale}-w1"),
            "bertprep 2 worker processes": (bertprep + ["--direct_num_workers", "2", "--direct_running_mode",
                                                        "multi_processing"], False, work / f"ours{scale}-w2"),
        }
        measured: dict[str, list[tuple[float, int, int]]] = {name: [] for name in runs}
        for repeat in range(args.repeats):
            for name, (command, one_core, output) in runs.items():
                if output is not None:  # a fresh folder each time: a complete output would be kept, not redone
                    command = command + ["--input", f"bert-text:{text}", "--output", f"{output}/run{repeat}"]
                measured[name].append(run_measured(command, one_core))
        results = {}
        for name, (command, one_core, output) in runs.items():
            output = output and output / f"run{args.repeats - 1}"
            wall = stats_module.median(run[0] for run in measured[name])
            main_mb, worker_mb = (max(run[i] for run in measured[name]) for i in (1, 2))
            files = [str(ref_out)] if output is None else sorted(
                str(p) for p in (output / f"seq{length}").glob("part-*"))
            stats = statistics(files, predictions)
            results[name] = (wall, stats)
            rate = stats["instances"] / wall
            ratio = rate / (results["reference (1 core)"][1]["instances"] / results["reference (1 core)"][0])
            print(f"{scale:>5} {name:<28} {wall:>8.1f} {rate:>9.0f} {ratio:>6.1f} {main_mb:>8} "
                  f"{worker_mb if worker_mb else '-':>9}", flush=True)
        w1, w2 = results["bertprep 1 worker process"][0], results["bertprep 2 worker processes"][0]
        print(f"{'':>5} 2 workers vs 1: {w1 / w2:.2f}x")
        if args.repeats > 1:
            for name, runs_of in measured.items():
                print(f"{'':>5} {name:<28} wall s of each run: " + ", ".join(f"{run[0]:.1f}" for run in runs_of))
        shard_sets = {tuple(hashlib.sha256(path.read_bytes()).hexdigest()
                            for path in sorted((output / f"run{repeat}" / f"seq{length}").glob("part-*")))
                      for _, _, output in list(runs.values())[1:] for repeat in range(args.repeats)}
        print(f"{'':>5} bertprep's shards identical in every run: {'yes' if len(shard_sets) == 1 else 'NO'}")
        for name in ("reference (1 core)", "bertprep in-process (1 core)"):
            stats = results[name][1]
            print(f"{'':>5} {name:<28} " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()))
        print()


if __name__ == "__main__":
    main()
