"""Corpus-stage throughput: input MB/s per core for each reader -> cleaner -> segmenter
path, and the Beam job's wall time with 1 and 2 DirectRunner worker processes.

    python benchmarks/corpus_throughput.py [--data benchmarks/data] [--repeats 3]

Part 1 times the plain functions each Beam step calls, on one core, so the
figures are per core. Part 2 runs `bertprep corpus` on the same files and
prints the speedup of `--direct_num_workers 2 --direct_running_mode
multi_processing` over one worker. Medians of --repeats runs.
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

from pipelines.corpus.normalization import normalize_text  # noqa: E402
from pipelines.corpus.readers import gutenberg  # noqa: E402
from pipelines.corpus.readers.wikipedia_dump import WikiPage, iter_dump  # noqa: E402
from pipelines.corpus.readers.wikipedia_pages import page_drop_reason  # noqa: E402
from pipelines.corpus.segmentation import SentenceSegmenter  # noqa: E402
from pipelines.corpus.wikitext.cleaners import make_cleaner  # noqa: E402


def _timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


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
    texts, clean_s = _timed(lambda: [(normalize_text(cleaner.clean(p.text, p.title, lang)), lang) for p, lang in articles])
    sentences, segment_s = _timed(lambda: [segmenter.segment(lang, text) for text, lang in texts])
    return _row(f"wikipedia -> {cleaner_name} -> sentencizer", megabytes, read_s, clean_s, segment_s, sentences)


def gutenberg_path(books: list[str], segmenter: SentenceSegmenter) -> dict:
    raw = [open(path, "rb").read() for path in books]
    megabytes = sum(map(len, raw)) / 1e6
    parsed, read_s = _timed(lambda: [gutenberg.parse_book(data) for data in raw])
    texts, clean_s = _timed(lambda: [normalize_text(book.body) for book in parsed])
    sentences, segment_s = _timed(
        lambda: [segmenter.segment(book.language, text) for book, text in zip(parsed, texts)]
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
    }


def beam_wall_time(data: str, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, "-m", "pipelines.cli", "corpus",
            "--input", f"wikipedia:{data}/wikipedia/*.bz2", "--input", f"gutenberg:{data}/gutenberg/*.txt",
            "--output", out, "--num_shards", "4",
        ]
        if workers > 1:
            command += ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started


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
    one = [beam_wall_time(args.data, 1) for _ in range(args.repeats)]
    two = [beam_wall_time(args.data, 2) for _ in range(args.repeats)]
    print(f"\n## Beam DirectRunner, whole corpus job (median of {args.repeats})\n")
    print("| workers | wall s | speedup |\n|---:|---:|---:|")
    print(f"| 1 | {statistics.median(one):.1f} | 1.00 |")
    print(f"| 2 (multi_processing) | {statistics.median(two):.1f} | {statistics.median(one) / statistics.median(two):.2f} |")


if __name__ == "__main__":
    main()
