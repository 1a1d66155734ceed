"""Corpus-stage throughput: input MB/s per core for each reader -> cleaner -> segmenter
path, and the Beam job's wall time with 1 and 2 DirectRunner worker processes.

    python benchmarks/corpus_throughput.py [--data benchmarks/data] [--repeats 3]

Part 1 times the plain functions each Beam step calls (reading, cleaning
with normalization and the quality filters, segmentation), on one core, so
the figures are per core. Part 2 runs `bertprep corpus` on the same files
(default options) and prints its CPU seconds against those of the functions
of its default paths (mwparserfromhell and the books: what Beam, process
start and imports add), and the speedup of `--direct_num_workers 2
--direct_running_mode multi_processing` over one worker. Medians of
--repeats runs.
"""
from __future__ import annotations

import argparse
import bz2
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.compare_commits import children_cpu_seconds  # noqa: E402
from pipelines.corpus.filters import QualityThresholds, text_drop_reason  # noqa: E402
from pipelines.corpus.normalization import normalize_text  # noqa: E402
from pipelines.corpus.readers import gutenberg  # noqa: E402
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump  # noqa: E402
from pipelines.corpus.readers.wikipedia_pages import page_drop_reason  # noqa: E402
from pipelines.corpus.segmentation import SentenceSegmenter  # noqa: E402
from pipelines.corpus.wikitext.cleaners import make_cleaner  # noqa: E402


def _timed(function, *args):
    started = time.process_time()
    result = function(*args)
    return result, time.process_time() - started


def _clean_text(text: str) -> str | None:
    """Normalized text, or None where the quality filters drop it (as the Clean step does)."""
    text = normalize_text(text)
    return None if text_drop_reason(text, QualityThresholds()) else text


def wiki_path(dumps: list[str], cleaner_name: str, segmenter: SentenceSegmenter) -> dict:
    def read():
        pages = []
        for dump in dumps:
            with bz2.open(dump) as stream:
                items = iter_dump(stream)
                language = next(items).language
                pages += [(p, language) for p in items if isinstance(p, WikiPage)]
        return pages

    pages, read_s = _timed(read)
    articles = [(p, language) for p, language in pages if page_drop_reason(p) is None]
    megabytes = sum(len(p.text.encode()) for p, _ in pages) / 1e6
    cleaner = make_cleaner(cleaner_name)
    texts, clean_s = _timed(lambda: [(_clean_text(cleaner.clean(p.text, p.title, lang)), lang) for p, lang in articles])
    sentences, segment_s = _timed(lambda: [segmenter.segment(lang, text) for text, lang in texts if text])
    return _row(f"wikipedia -> {cleaner_name} -> sentencizer", megabytes, read_s, clean_s, segment_s, sentences)


def gutenberg_path(books: list[str], segmenter: SentenceSegmenter) -> dict:
    raw = [open(path, "rb").read() for path in books]
    megabytes = sum(map(len, raw)) / 1e6
    parsed, read_s = _timed(lambda: [gutenberg.parse_book(data) for data in raw])
    texts, clean_s = _timed(lambda: [_clean_text(book.body) for book in parsed])
    sentences, segment_s = _timed(
        lambda: [segmenter.segment(book.language, text) for book, text in zip(parsed, texts) if text]
    )
    return _row("gutenberg -> strip/reflow -> sentencizer", megabytes, read_s, clean_s, segment_s, sentences)


def _row(name, megabytes, read_s, clean_s, segment_s, sentences) -> dict:
    total = read_s + clean_s + segment_s
    return {
        "path": name,
        "MB": megabytes,
        "read MB/s": megabytes / read_s,
        "clean MB/s": megabytes / clean_s,
        "segment MB/s": megabytes / segment_s,
        "end-to-end MB/s/core": megabytes / total,
        "sentences": sum(map(len, sentences)),
        "s": total,
    }


def beam_times(data: str, workers: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole job; CPU counts the launcher and its worker processes."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, "-m", "pipelines.cli", "corpus",
            "--input", f"wikipedia:{data}/wikipedia/*.bz2", "--input", f"gutenberg:{data}/gutenberg/*.txt",
            "--output", out, "--num_shards", "4",
        ]
        if workers > 1:
            command += ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]
        started, cpu = time.perf_counter(), children_cpu_seconds()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started, children_cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "data"),
                        help="folder with wikipedia/*.bz2 and gutenberg/*.txt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip_beam", action="store_true")
    args = parser.parse_args()
    dumps = sorted(glob.glob(f"{args.data}/wikipedia/*.bz2"))
    books = sorted(glob.glob(f"{args.data}/gutenberg/*.txt"))
    segmenter = SentenceSegmenter()

    runs = []
    for _ in range(args.repeats):
        runs.append(
            [wiki_path(dumps, "mwparserfromhell", segmenter), wiki_path(dumps, "wikiextractor", segmenter),
             gutenberg_path(books, segmenter)]
        )
    print("## Per core (plain functions, median of %d)\n" % args.repeats)
    columns = ["MB", "read MB/s", "clean MB/s", "segment MB/s", "end-to-end MB/s/core", "sentences"]
    print("| path | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for index in range(len(runs[0])):
        cells = [statistics.median(run[index][c] for run in runs) for c in columns]
        print(f"| {runs[0][index]['path']} | " + " | ".join(f"{v:,.2f}" if v < 1000 else f"{v:,.0f}" for v in cells) + " |")

    if args.skip_beam:
        return
    # The job's default paths: mwparserfromhell for the dumps, and the books.
    functions = statistics.median(run[0]["s"] + run[2]["s"] for run in runs)
    one, two = [], []
    for _ in range(args.repeats):  # alternately, so that both see the same machine
        one.append(beam_times(args.data, 1))
        two.append(beam_times(args.data, 2))
    one_wall, one_cpu = (statistics.median(run[i] for run in one) for i in (0, 1))
    two_wall, two_cpu = (statistics.median(run[i] for run in two) for i in (0, 1))
    print(f"\n## Beam DirectRunner, whole corpus job (median of {args.repeats})\n")
    print(f"The functions of the job's default paths: {functions:.1f} CPU s.\n")
    print("| workers | wall s | CPU s | CPU ÷ functions | speedup (wall) |\n|---:|---:|---:|---:|---:|")
    print(f"| 1 | {one_wall:.1f} | {one_cpu:.1f} | {one_cpu / functions:.2f} | 1.00 |")
    print(f"| 2 (multi_processing) | {two_wall:.1f} | {two_cpu:.1f} | {two_cpu / functions:.2f} | "
          f"{one_wall / two_wall:.2f} |")


if __name__ == "__main__":
    main()
