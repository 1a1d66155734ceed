"""`bertprep run` at growing input sizes: wall time and peak memory against the smallest size, and the counters
of every stage reconciled.

    python benchmarks/scale_run.py [--sizes 64,1024] [--workers 2] [--work /tmp/scale-run] [--by_stage]
        [--repeats 1]

For each size S (MB of uncompressed input), the input is built from the repository's samples
(benchmarks/data: ten Wikipedia dumps, fifteen Gutenberg books) as copies that exact deduplication keeps apart:
copy k of a book has the paragraphs of its body (between the `*** START` and `*** END` lines) in an order
shuffled with seed k; copy k of a dump has every page's id moved by k x 10^9, its title marked with the copy,
and the paragraphs of its wikitext shuffled with seed k (a page of one paragraph has its sentences rotated
instead). The text is real; only its order and names change. Files are added, copy after copy, until the
input reaches S MB.

Then `bertprep run` (corpus, vocab, pretraining-data; --direct_num_workers --workers, multi_processing) runs
on it in a child process, polled for the peak resident memory (VmHWM) of the launcher and of its largest
worker. With --by_stage the three stage commands run one after the other instead, with the same flags and
folders as `run` gives them, and each stage's time and peaks are printed too. The table gives each size's wall
time and peaks (with --repeats N, the medians of N runs), the wall time against a linear extrapolation from the
smallest size, and the peak against the smallest size's. The check after each run: corpus read = kept + dropped +
errors (stats.json), every kept document read by pretraining-data, every instance made written.
"""
from __future__ import annotations

import argparse
import bz2
import json
import random
import re
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.pretraining_data import run_measured  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
_PAGE = re.compile(rb"<page>.*?</page>", re.S)
_TEXT = re.compile(rb"(<text\b[^>]*>)(.*?)(</text>)", re.S)
_MARKERS = re.compile(r"^\*\*\* ?(START|END) OF", re.M)


def _shuffled_paragraphs(text: str, seed: int) -> str:
    paragraphs = text.split("\n\n")
    if len(paragraphs) > 1:
        random.Random(seed).shuffle(paragraphs)
        return "\n\n".join(paragraphs)
    sentences = text.split(". ")
    turn = seed % len(sentences)
    return ". ".join(sentences[turn:] + sentences[:turn])


def book_copy(text: str, copy: int) -> str:
    """Copy `copy` of a Gutenberg book: its body's paragraphs shuffled (header and footer kept in place)."""
    marks = [match.start() for match in _MARKERS.finditer(text)]
    if len(marks) >= 2:
        start, end = text.index("\n", marks[0]) + 1, marks[-1]
        return text[:start] + _shuffled_paragraphs(text[start:end], copy) + text[end:]
    return _shuffled_paragraphs(text, copy)


def _page_copy(page: bytes, copy: int, number: int) -> bytes:
    page = re.sub(rb"<title>(.*?)</title>", lambda m: b"<title>" + m.group(1) + f" (copy {copy})".encode() +
                  b"</title>", page, count=1)
    page = re.sub(rb"<id>(\d+)</id>", lambda m: f"<id>{int(m.group(1)) + copy * 10**9}</id>".encode(), page, count=1)
    return _TEXT.sub(lambda m: m.group(1) + _shuffled_paragraphs(m.group(2).decode("utf-8"), copy * 7919 + number)
                     .encode("utf-8") + m.group(3), page, count=1)


def dump_copy(xml: bytes, copy: int) -> bytes:
    """Copy `copy` of a Wikipedia XML dump: every page renamed, renumbered and its paragraphs shuffled."""
    numbers = iter(range(10**9))
    return _PAGE.sub(lambda m: _page_copy(m.group(0), copy, next(numbers)), xml)


def _samples() -> list[tuple[str, bytes | str]]:
    """The sample dumps (decompressed XML) and books (text), by file name."""
    dumps = [(path.name, bz2.decompress(path.read_bytes())) for path in sorted((DATA / "wikipedia").glob("*.bz2"))]
    books = [(path.name, path.read_bytes().decode("utf-8", errors="replace"))
             for path in sorted((DATA / "gutenberg").glob("*.txt"))]
    return [*dumps, *books]


def _write_copy(folder: Path, name: str, source: bytes | str, copy: int) -> int:
    """Copy `copy` of one sample written into `folder` (copy 0 is the sample itself); its uncompressed bytes."""
    if name.endswith(".bz2"):
        data = dump_copy(source, copy) if copy else source
        (folder / f"copy{copy:04d}-{name}").write_bytes(bz2.compress(data, 6))
    else:
        data = (book_copy(source, copy) if copy else source).encode("utf-8")
        (folder / f"copy{copy:04d}-{name}").write_bytes(data)
    return len(data)


def build_input(folder: Path, megabytes: int) -> int:
    """Copies of the samples in `folder` until they hold `megabytes` MB of uncompressed text; the bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = _samples()
    total = 0
    for copy in range(10**6):
        for name, source in samples:
            if total >= megabytes * 1_000_000:
                return total
            total += _write_copy(folder, name, source, copy)
    return total


def build_copies(folder: Path, copies: int) -> int:
    """`copies` whole copies of the samples in `folder`; the bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = _samples()
    return sum(_write_copy(folder, name, source, copy) for copy in range(copies) for name, source in samples)


def _check_counters(out: Path) -> str:
    """The stages' counters reconciled: '' when they agree, else what disagrees."""
    stats = json.loads((out / "corpus" / "stats.json").read_text())
    problems = []
    dropped, errors = sum(stats["dropped"].values()), stats["errors"]
    if stats["read"] != stats["kept"] + dropped + errors:
        problems.append(f"corpus read {stats['read']} != kept {stats['kept']} + dropped {dropped} + errors {errors}")
    for folder in sorted(out.glob("seq*")):
        metadata = json.loads((folder / "metadata.json").read_text())
        counters = metadata["counters"]
        if counters.get("documents_read") != stats["kept"]:
            problems.append(f"{folder.name}: {counters.get('documents_read')} documents read, corpus kept "
                            f"{stats['kept']}")
        made = counters.get(f"{folder.name}_instances")
        if made != metadata["num_instances"]:
            problems.append(f"{folder.name}: {made} instances made, {metadata['num_instances']} written")
    return "; ".join(problems)


CLI = [sys.executable, "-m", "pipelines.cli"]


def _distribution(workers: int) -> list[str]:
    return [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]


def _stage_commands(kinds: list[str], out: Path, workers: int) -> dict[str, list[str]]:
    """The commands `bertprep run` amounts to, stage by stage."""
    cli, distribution = CLI, _distribution(workers)
    return {
        "corpus": [*cli, "corpus", *kinds, "--output", f"{out}/corpus", *distribution],
        "vocab": [*cli, "vocab", f"--input=parquet:{out}/corpus/documents-*.parquet", "--output", f"{out}/vocab",
                  *distribution],
        "pretraining-data": [*cli, "pretraining-data", "--input", f"{out}/corpus", "--vocab",
                             f"{out}/vocab/vocab.txt", "--output", str(out), *distribution],
    }


def _measure_stages(kinds: list[str], out: Path, workers: int, size: int) -> tuple[float, int, int]:
    """Each stage command measured on its own: (total wall seconds, largest launcher peak, largest worker peak)."""
    shutil.rmtree(out, ignore_errors=True)  # a complete stage output would be kept, not redone
    measured = []
    for stage, command in _stage_commands(kinds, out, workers).items():
        measured.append(run_measured(command, one_core=False))
        wall, main_mb, worker_mb = measured[-1]
        print(f"{size} MB {stage}: {wall:.1f} s, peak {main_mb} MB launcher, {worker_mb} MB worker", flush=True)
    return sum(m[0] for m in measured), max(m[1] for m in measured), max(m[2] for m in measured)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64,1024", help="input MB, comma-separated, smallest first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", default="/tmp/scale-run")
    parser.add_argument("--by_stage", action="store_true",
                        help="run corpus, vocab and pretraining-data one by one and report each")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per size; the table gives the medians (peaks move ~100 MB between runs)")
    args = parser.parse_args()
    work = Path(args.work)
    rows = []
    for size in [int(value) for value in args.sizes.split(",")]:
        inputs = work / f"input-{size}"
        nbytes = build_input(inputs, size) if not inputs.exists() else sum(
            len(bz2.decompress(p.read_bytes())) if p.suffix == ".bz2" else p.stat().st_size for p in inputs.iterdir())
        out = work / f"out-{size}"
        kinds = [f"--input={kind}:{inputs}/*{suffix}" for kind, suffix in (("wikipedia", ".bz2"), ("gutenberg", ".txt"))
                 if any(inputs.glob(f"*{suffix}"))]
        runs, problems = [], ""
        for _ in range(args.repeats):
            if args.by_stage:
                runs.append(_measure_stages(kinds, out, args.workers, size))
            else:
                shutil.rmtree(out, ignore_errors=True)  # `run` keeps a complete output, --overwrite or not
                command = [*CLI, "run", *kinds, "--output", str(out), *_distribution(args.workers)]
                runs.append(run_measured(command, one_core=False))
            problems = problems or _check_counters(out)
            wall, main_mb, worker_mb = runs[-1]
            print(f"{size} MB: {nbytes / 1e6:.1f} MB in {wall:.1f} s, peak {main_mb} MB launcher, {worker_mb} MB "
                  f"worker; counters {'reconcile' if not problems else 'DISAGREE: ' + problems}", flush=True)
        wall, main_mb, worker_mb = (statistics.median(run[i] for run in runs) for i in range(3))
        rows.append((size, nbytes, wall, main_mb, worker_mb, problems))
    base = rows[0]
    print("\n| input MB | wall s | vs linear from the smallest | launcher peak MB | largest worker peak MB | "
          "peak vs the smallest | counters |\n|---:|---:|---:|---:|---:|---:|---|")
    for size, nbytes, wall, main_mb, worker_mb, problems in rows:
        linear = base[2] * nbytes / base[1]
        peak, base_peak = max(main_mb, worker_mb), max(base[3], base[4])
        print(f"| {nbytes / 1e6:.0f} | {wall:.0f} | {wall / linear:.2f}x | {main_mb:.0f} | {worker_mb:.0f} | "
              f"{peak / base_peak:.2f}x | {'reconcile' if not problems else problems} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
