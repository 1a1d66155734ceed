"""The Dataflow projection for English Wikipedia, from rates measured in one run and rescaled by machine speed.

    python benchmarks/dataflow_projection.py [--data benchmarks/data] [--repeats 1]

Absolute rates on a shared VM swing 3-4x from day to day, so every rate here
is measured in the same run as the reference tokenizer's speed, and the work
is also given for a machine where that tokenizer (google-research/bert
FullTokenizer, bert-tensorflow 1.0.4) does --reference_tokens_per_s:

    work there = work measured x (reference tokens/s measured / reference tokens/s there)

The process and every job it starts are pinned to one core, and each job's
CPU seconds are RUSAGE_CHILDREN around it (launcher, runner and workers
together), so the rates are per core. In turn, --repeats times (medians):

1. the reference tokenizer on the 4.8 MB English books input of
   benchmarks/tokenizer_speed.py (reference tokens per second);
2. the whole `bertprep corpus` job (DirectRunner, one worker, default options)
   on one and on two copies of every Wikipedia dump and book of the
   repository's samples (benchmarks/scale_run.py's copies: shuffled
   paragraphs, renamed pages, so deduplication keeps them): MB of page text
   read (counted as benchmarks/corpus_throughput.py counts it: the
   decompressed text of every page of the dumps plus the books' bytes) per
   CPU second, and the clean text it writes (the documents' sentence bytes);
3. `bertprep vocab` on each output with only 2,000 words reaching the
   learner (word counting), and once in full on the first (the learning's
   CPU seconds per distinct word: the full run's CPU less the counting
   run's);
4. `bertprep pretraining-data --lengths 128:20,512:80 --dupe_factor 5` on the
   books input repeated --pretraining_scale times and twice that: CPU
   seconds per MB and instances of each length per MB (from metadata.json).

Each job's fixed start-up (imports, a spaCy pipeline per language of the
samples, Beam's set-up) is paid once per worker process, which on Dataflow
is nothing against hours of work, so the projection uses the marginal rates:
the difference of the two sizes' CPU seconds over the difference of their
MB. The whole-job rates of the smaller size are printed too.

Then the projection for English Wikipedia under the assumptions printed with
it (vCPU-hours per stage, measured and rescaled), and a table of wall time,
vCPU-hours billed and cost on n2-standard-4 Dataflow workers.
"""
from __future__ import annotations

import os

# Before tokenizers / TF are imported (through tokenizer_speed): one thread each.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import bz2  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.compare_commits import children_cpu_seconds  # noqa: E402
from benchmarks.make_bert_text import BENCHMARK_BOOKS  # noqa: E402
from benchmarks.scale_run import build_copies  # noqa: E402
from benchmarks.tokenizer_speed import bench_lines, pin_to_one_core, reference_contender, time_runs  # noqa: E402
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump  # noqa: E402

VOCAB = REPO / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt"
LENGTHS = "128:20,512:80"
DUPE_FACTOR = 5
COUNTING_ONLY_WORDS = 2000  # --max_words of the vocab run that measures counting without learning


@dataclass(frozen=True)
class Assumptions:
    """English Wikipedia and Dataflow figures that are not measured here (see dataflow/README.md)."""

    page_text_mb: float = 100_000  # page text in the ~22 GB bz2 dump (the corpus rate is per MB of page text)
    clean_text_mb: float = 20_000  # clean text the corpus stage writes from it
    learned_words: int = 2_000_000  # distinct words that reach the WordPiece learner (vocab --max_words)
    learning_s_readme: float = 600  # the README's earlier assumption for learning 2 M words on one core
    startup_min: float = 4  # per job: submission, VM boot, image pull
    shuffle_gb: float = 545  # pages, documents, tokenized documents, both instance sets
    vocab_max_workers: int = 8
    vcpu_hour_usd: float = 0.056  # Dataflow batch, us-central1 list prices
    gb_hour_usd: float = 0.003557
    shuffle_gb_usd: float = 0.011
    gb_per_vcpu: float = 4  # n2-standard-4: 4 vCPUs, 16 GB


def command(stage: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", stage, *args]


def run_cpu(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a command and all its descendants; exits with its log if it fails."""
    cpu, started = children_cpu_seconds(), time.perf_counter()
    with tempfile.TemporaryFile() as log:  # a pipe could fill up with Beam's logging and block the job
        process = subprocess.run(argv, stdout=log, stderr=log)
        if process.returncode:
            log.seek(0)
            sys.exit(f"{' '.join(argv[2:5])} failed:\n{log.read().decode(errors='replace')[-3000:]}")
    return children_cpu_seconds() - cpu, time.perf_counter() - started


def page_text_mb(dumps: list[pathlib.Path], books: list[pathlib.Path]) -> float:
    """The input MB corpus_throughput.py divides by: every page's text (not only the articles kept) and the
    books' bytes."""
    total = sum(path.stat().st_size for path in books)
    for dump in dumps:
        with bz2.open(dump) as stream:
            total += sum(len(page.text.encode()) for page in iter_dump(stream) if isinstance(page, WikiPage))
    return total / 1e6


def clean_text_mb(corpus_output: pathlib.Path) -> float:
    """Sentence bytes of the documents the corpus stage wrote (a newline per sentence, as bert-text has)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for path in sorted(corpus_output.glob("documents-*.parquet")):
        sentences = pc.list_flatten(pq.read_table(path, columns=["sentences"])["sentences"])
        total += pc.sum(pc.binary_length(sentences)).as_py() + len(sentences)
    return total / 1e6


def reference_tokens_per_s(lines: list[str]) -> tuple[float, float]:
    """(tokens per CPU second, tokens per wall second) of the reference FullTokenizer on `lines`.

    The CPU figure is the one the projection divides by: the jobs' rates are CPU time too, and on a core shared
    with other jobs wall time would make this machine look slower than it is (and the rescaled work too small).
    It includes building the tokenizer (loading the vocab, well under 1% of the run)."""
    factory, run = reference_contender(str(VOCAB), True)
    cpu = time.process_time()
    wall, tokens = time_runs(factory, run, lines, 1)
    cpu = time.process_time() - cpu
    count = sum(map(len, tokens))
    return count / cpu, count / wall


def _corpus_size(copies: int, work: pathlib.Path) -> dict[str, float]:
    """Corpus and word counting on `copies` copies of the samples: page text MB, clean MB, CPU seconds."""
    inputs, out = work / f"input-{copies}", work / f"corpus-{copies}"
    build_copies(inputs, copies)
    cpu, wall = run_cpu(command("corpus", "--input", f"wikipedia:{inputs}/*.bz2", "--input", f"gutenberg:{inputs}/*.txt",
                                "--output", str(out)))
    raw = page_text_mb(sorted(inputs.glob("*.bz2")), sorted(inputs.glob("*.txt")))
    clean = clean_text_mb(out)
    # The job records its learner's wall seconds, not CPU: on a core shared with other jobs that can be several
    # times the CPU, so counting is measured by a run where only COUNTING_ONLY_WORDS reach the learner
    # (counting and evaluation the same, learning ~0.1 s).
    counting, _ = run_cpu(command("vocab", "--input", f"parquet:{out}/documents-*.parquet", "--output",
                                  str(work / f"vocab-counting-{copies}"), "--max_words", str(COUNTING_ONLY_WORDS)))
    print(f"  corpus, {copies} cop{'y' if copies == 1 else 'ies'}: {raw:.1f} MB page text -> {clean:.1f} MB clean "
          f"text, {cpu:.1f} CPU s ({wall:.1f} s wall); word counting {counting:.1f} CPU s", flush=True)
    return {"raw": raw, "clean": clean, "cpu": cpu, "counting": counting}


def _pretraining_size(bert_text: pathlib.Path, work: pathlib.Path) -> tuple[float, float, dict[str, int]]:
    """pretraining-data on `bert_text`: (MB, CPU seconds, instances of each length)."""
    out = work / f"pretraining-{bert_text.stem}"
    cpu, wall = run_cpu(command("pretraining-data", "--input", f"bert-text:{bert_text}", "--vocab", str(VOCAB),
                                "--output", str(out), "--lengths", LENGTHS, "--dupe_factor", str(DUPE_FACTOR),
                                "--seed", "12345"))
    mb = bert_text.stat().st_size / 1e6
    instances = {}
    for spec in LENGTHS.split(","):
        length = spec.split(":")[0]
        counters = json.loads((out / f"seq{length}" / "metadata.json").read_text())["counters"]
        instances[f"seq{length}"] = counters[f"seq{length}_instances"]
    print(f"  pretraining-data: {mb:.1f} MB, {cpu:.1f} CPU s ({wall:.1f} s wall), "
          + ", ".join(f"{k} {v:,}" for k, v in instances.items()), flush=True)
    return mb, cpu, instances


def measure_once(lines: list[str], bert_texts: tuple[pathlib.Path, pathlib.Path], work: pathlib.Path) -> dict:
    per_cpu_s, per_wall_s = reference_tokens_per_s(lines)
    rates: dict[str, float] = {"reference tokens/s": per_cpu_s, "reference tokens/s (wall)": per_wall_s}
    print(f"  reference tokenizer: {per_cpu_s:,.0f} tokens per CPU s ({per_wall_s:,.0f} per wall s)", flush=True)

    one, two = _corpus_size(1, work), _corpus_size(2, work)
    rates |= {"corpus input MB": one["raw"], "corpus CPU s": one["cpu"],
              "corpus MB/s per core, whole job": one["raw"] / one["cpu"],
              "corpus MB/s per core": (two["raw"] - one["raw"]) / (two["cpu"] - one["cpu"]),
              "clean/raw": one["clean"] / one["raw"],
              "vocab counting CPU s/MB, whole job": one["counting"] / one["clean"],
              "vocab counting CPU s/MB": (two["counting"] - one["counting"]) / (two["clean"] - one["clean"])}

    full_cpu, full_wall = run_cpu(command("vocab", "--input", f"parquet:{work}/corpus-1/documents-*.parquet",
                                          "--output", str(work / "vocab")))
    stats = json.loads((work / "vocab" / "vocab_stats.json").read_text())
    learning = max(full_cpu - one["counting"], 0.0)
    rates |= {"vocab learning CPU s": learning, "vocab learning wall s (recorded)": stats["learning_seconds"],
              "vocab distinct words": stats["distinct_words"],
              "vocab learning CPU s per M words": learning / stats["distinct_words"] * 1e6}
    print(f"  vocab: {full_cpu:.1f} CPU s ({full_wall:.1f} s wall, {stats['distinct_words']:,} distinct words "
          f"learned in {stats['learning_seconds']:.1f} s wall)", flush=True)

    (small_mb, small_cpu, small), (large_mb, large_cpu, large) = (_pretraining_size(text, work) for text in bert_texts)
    rates |= {"pretraining input MB": small_mb, "pretraining CPU s/MB, whole job": small_cpu / small_mb,
              "pretraining CPU s/MB": (large_cpu - small_cpu) / (large_mb - small_mb)}
    rates |= {f"{length} instances/MB": count / large_mb for length, count in large.items()}
    return rates


def projection(rates: dict[str, float], a: Assumptions, scale: float) -> dict[str, float]:
    """vCPU-hours per stage for English Wikipedia; CPU-time rates multiplied by `scale` (machine speed)."""
    linear_learning_s = rates["vocab learning CPU s per M words"] * a.learned_words / 1e6
    return {
        "corpus": a.page_text_mb / rates["corpus MB/s per core"] / 3600 * scale,
        "vocab word counting": a.clean_text_mb * rates["vocab counting CPU s/MB"] / 3600 * scale,
        # Learning cost is not linear in the words (README: 1 M words ~225 s, 2 M assumed ~600 s): the larger
        # of the README's assumption and the linear extrapolation of this run's learning.
        "vocab learning (1 worker)": max(a.learning_s_readme, linear_learning_s * scale) / 3600,
        "pretraining-data": a.clean_text_mb * rates["pretraining CPU s/MB"] / 3600 * scale,
    }


def cost_table(hours: dict[str, float], a: Assumptions, workers: tuple[int, ...] = (16, 64, 256)) -> list[str]:
    rows = ["| n2-standard-4 workers (vCPUs) | corpus | vocab (≤ 8 workers) | pretraining-data | wall, all three jobs "
            "| vCPU-hours billed | cost |", "|---:|---:|---:|---:|---:|---:|---:|"]
    shuffle = a.shuffle_gb * a.shuffle_gb_usd
    for count in workers:
        vcpus, vocab_vcpus = 4 * count, 4 * min(count, a.vocab_max_workers)
        corpus = hours["corpus"] * 60 / vcpus
        vocab = hours["vocab word counting"] * 60 / vocab_vcpus + hours["vocab learning (1 worker)"] * 60
        data = hours["pretraining-data"] * 60 / vcpus
        wall = corpus + vocab + data + 3 * a.startup_min
        billed = (vcpus * (corpus + data + 2 * a.startup_min) + vocab_vcpus * (vocab + a.startup_min)) / 60
        compute = billed * (a.vcpu_hour_usd + a.gb_per_vcpu * a.gb_hour_usd)
        rows.append(f"| {count} ({vcpus:,}) | {corpus:.1f} min | {vocab:.1f} min | {data:.1f} min | ≈ {wall:.0f} min "
                    f"| {billed:.0f} | ≈ ${compute + shuffle:.0f} (${compute:.1f} compute + ${shuffle:.1f} shuffle) |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=pathlib.Path, default=REPO / "benchmarks" / "data",
                        help="folder with gutenberg/*.txt for the tokenizer and pretraining inputs (the corpus input "
                        "is built from the repository's samples)")
    parser.add_argument("--repeats", type=int, default=1, help="measurements of every rate; medians reported")
    parser.add_argument("--pretraining_scale", type=int, default=4,
                        help="the books input repeated this many times, and twice that, for pretraining-data "
                        "(4: ~19 and ~39 MB)")
    parser.add_argument("--reference_tokens_per_s", type=float, default=190_000,
                        help="the reference tokenizer's speed on the machine to project for")
    parser.add_argument("--goal_vcpu_hours", type=float, default=15)
    args = parser.parse_args()

    where = pin_to_one_core()
    commit = subprocess.run(["git", "log", "--oneline", "-1"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--short", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.split("\n")
    print(f"commit {commit}; {where}; {os.cpu_count()} cores; median of {args.repeats}")
    if any(dirty):
        print("uncommitted changes measured: " + ", ".join(line.strip() for line in dirty if line))

    with tempfile.TemporaryDirectory(prefix="bertprep-projection-") as folder:
        rates = measure(args, pathlib.Path(folder))
    report(rates, args)


def measure(args: argparse.Namespace, work: pathlib.Path) -> dict[str, float]:
    """The medians of --repeats measurements of every rate, made in `work`."""
    base = work / "en.txt"
    # make_bert_text.py's own output (byte-identical to what pretraining_data.py feeds both sides), repeated.
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_bert_text.py"), str(base),
                    *(str(args.data / "gutenberg" / name) for name in BENCHMARK_BOOKS)], check=True)
    bert_texts = []
    for scale in (args.pretraining_scale, 2 * args.pretraining_scale):
        bert_texts.append(work / f"en{scale}.txt")
        bert_texts[-1].write_bytes(base.read_bytes() * scale)
    lines = bench_lines(args.data / "gutenberg")

    runs = []
    for repeat in range(args.repeats):
        print(f"run {repeat + 1}:", flush=True)
        runs.append(measure_once(lines, tuple(bert_texts), work / f"run{repeat}"))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(rates: dict[str, float], args: argparse.Namespace) -> None:
    print("\n## Measured rates (per core)\n")
    for key, value in rates.items():
        print(f"- {key}: {value:,.3f}" if value < 100 else f"- {key}: {value:,.0f}")

    a = Assumptions()
    scale = rates["reference tokens/s"] / args.reference_tokens_per_s
    measured, rescaled = projection(rates, a, 1.0), projection(rates, a, scale)
    print(f"\n## English Wikipedia, vCPU-hours (rescaled: x {scale:.3f} = {rates['reference tokens/s']:,.0f} / "
          f"{args.reference_tokens_per_s:,.0f} reference tokens/s)\n")
    print("| stage | measured here | rescaled |\n|---|---:|---:|")
    for stage in measured:
        print(f"| {stage} | {measured[stage]:.2f} | {rescaled[stage]:.2f} |")
    total, total_rescaled = sum(measured.values()), sum(rescaled.values())
    print(f"| **total** | **{total:.2f}** | **{total_rescaled:.2f}** |")
    verdict = "meets" if total_rescaled <= args.goal_vcpu_hours else "misses"
    print(f"\nRescaled total {total_rescaled:.1f} vCPU-hours: {verdict} the goal of ≤ {args.goal_vcpu_hours:g}.")
    instances = {k.split()[0]: v * a.clean_text_mb / 1e6 for k, v in rates.items() if k.endswith("instances/MB")}
    print("Instances for English Wikipedia at this rate per MB: "
          + ", ".join(f"{k} ≈ {v:,.0f} M" for k, v in instances.items()))
    print(f"\nAssumed, not measured: {a.page_text_mb / 1000:g} GB of page text in the dump, {a.clean_text_mb / 1000:g} "
          f"GB of clean text out (this run's clean/raw is {rates['clean/raw']:.2f}, books included); learning "
          f"{a.learned_words / 1e6:g} M words takes the larger of {a.learning_s_readme:g} s (README) and this run's "
          f"rate extrapolated linearly, on one worker; {a.startup_min:g} min start-up per job; {a.shuffle_gb:g} GB "
          f"shuffled; one vCPU does what one core does; ${a.vcpu_hour_usd}/vCPU-hour, ${a.gb_hour_usd}/GB-hour, "
          f"${a.shuffle_gb_usd}/GB shuffled.\n")
    print("Cost on the rescaled work:\n")
    print("\n".join(cost_table(rescaled, a)))


if __name__ == "__main__":
    main()
