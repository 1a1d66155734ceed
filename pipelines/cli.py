"""The `bertprep` command: one subcommand per stage.

Flags a subcommand does not define are handed to Beam's PipelineOptions, so
`--runner`, `--direct_num_workers`, `--project`, `--temp_location`, … work as
in any Beam program.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from pipelines import corpus_pipeline, stats
from pipelines.inputs import FORMATS, InputError, expand_inputs
from pipelines.quality_filters import QualityThresholds
from pipelines.sources import TEXT_SPLITS, ReadOptions
from pipelines.wikitext_cleaning import CLEANERS

# Automatic sharding: about this many input bytes per output shard. Cleaned
# text is smaller than raw wikitext but larger than bz2, so input size is a
# fair, known-in-advance proxy.
_INPUT_BYTES_PER_SHARD = 256 * 1024 * 1024


class UsageError(Exception):
    """Arguments that cannot work; the message says what to change."""


def _add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--input", action="append", required=True, metavar="[FORMAT:]PATH",
        help=f"file, glob or gs:// URL to read; repeatable. Optional format prefix: {', '.join(FORMATS)}. "
        "Without one the format is detected from the first file and logged. A multistream Wikipedia dump "
        "is read in parallel ranges when its -index.txt.bz2 is beside it.",
    )
    io.add_argument("--output", required=True, help="output folder (local or gs://)")
    io.add_argument("--num_shards", type=int, default=0, help="documents-*.parquet shards; 0 = one per ~256 MB of input")
    io.add_argument("--text_output", action="store_true",
                    help="also write OUT/text/part-*.txt in the reference BERT format (a sentence per line, blank line between documents)")
    io.add_argument("--text_split", choices=TEXT_SPLITS, default="file",
                    help="text: inputs: one document per file, or one per block separated by a blank line")
    io.add_argument("--max_page_bytes", type=int, default=ReadOptions.max_page_bytes,
                    help="wiki pages and JSONL records larger than this are recorded as errors and skipped")
    io.add_argument("--max_file_bytes", type=int, default=ReadOptions.max_file_bytes,
                    help="books and text files larger than this are recorded as errors and skipped")
    io.add_argument("--multistream_chunk_mb", type=float, default=ReadOptions.chunk_bytes / 2**20,
                    help="compressed MB per parallel work item when reading an indexed multistream dump")

    text = parser.add_argument_group("cleaning and segmentation")
    text.add_argument("--language", default="",
                      help="language code for all inputs (overrides the dump's dbname/xml:lang and the book's Language: line)")
    text.add_argument("--wiki_cleaner", choices=CLEANERS, default="mwparserfromhell",
                      help="wikitext to prose: mwparserfromhell (MIT, default) or wikiextractor (AGPL-3.0, pip install 'bertprep[wikiextractor]')")
    text.add_argument("--spacy_model", default=None,
                      help="installed spaCy pipeline for sentence splitting (e.g. en_core_web_sm); default: rule-based sentencizer")

    filters = parser.add_argument_group("quality filters and deduplication")
    defaults = QualityThresholds()
    filters.add_argument("--min_words", type=int, default=defaults.min_words, help="drop documents with fewer words")
    filters.add_argument("--min_sentences", type=int, default=defaults.min_sentences, help="drop documents with fewer sentences")
    filters.add_argument("--max_non_letter_ratio", type=float, default=defaults.max_non_letter_ratio,
                         help="drop documents whose non-space characters are more than this share non-letters")
    filters.add_argument("--no_dedup", action="store_true", help="keep exact duplicate documents")
    filters.add_argument("--near_dedup", action="store_true", help="also drop near-duplicates (MinHash LSH)")
    filters.add_argument("--near_dedup_threshold", type=float, default=0.8,
                         help="estimated Jaccard similarity of word 5-grams at which a document is a near-duplicate")


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: a prefix of one of our flags must not swallow a Beam flag.
    parser = argparse.ArgumentParser(
        prog="bertprep",
        allow_abbrev=False,
        description="Raw text to BERT pretraining data with Apache Beam. Unknown flags go to Beam "
        "(e.g. --runner DataflowRunner --project P --region R --temp_location gs://B/tmp, "
        "or --direct_num_workers 2 --direct_running_mode multi_processing).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    corpus = commands.add_parser(
        "corpus",
        allow_abbrev=False,
        help="Wikipedia dumps, Gutenberg books and text -> clean, deduplicated, sentence-split documents",
        description="Reads, cleans, filters, deduplicates and sentence-splits documents; writes "
        "OUT/documents-*.parquet, OUT/stats.json and OUT/errors-*.jsonl.",
    )
    _add_corpus_arguments(corpus)
    return parser


def _check_output_writable(output: str) -> None:
    probe = f"{output}/.bertprep-write-check-{uuid.uuid4().hex}"
    try:
        if not output.startswith("gs://"):
            FileSystems.mkdirs(output) if not FileSystems.exists(output) else None
        with FileSystems.create(probe) as handle:
            handle.write(b"ok")
        FileSystems.delete([probe])
    except Exception as error:
        raise UsageError(f"--output {output!r} is not writable ({error}); choose a folder you can write to") from None


def corpus_options(args: argparse.Namespace, input_bytes: int) -> corpus_pipeline.CorpusOptions:
    if not 0 < args.near_dedup_threshold <= 1:
        raise UsageError("--near_dedup_threshold must be in (0, 1]")
    if args.num_shards < 0:
        raise UsageError("--num_shards must be 0 (automatic) or positive")
    return corpus_pipeline.CorpusOptions(
        output=args.output.rstrip("/"),
        read=ReadOptions(
            language=args.language,
            max_page_bytes=args.max_page_bytes,
            max_file_bytes=args.max_file_bytes,
            text_split=args.text_split,
            chunk_bytes=int(args.multistream_chunk_mb * 2**20),
        ),
        wiki_cleaner=args.wiki_cleaner,
        thresholds=QualityThresholds(
            min_words=args.min_words, min_sentences=args.min_sentences, max_non_letter_ratio=args.max_non_letter_ratio
        ),
        dedup=not args.no_dedup,
        near_dedup=args.near_dedup,
        near_dedup_threshold=args.near_dedup_threshold,
        spacy_model=args.spacy_model,
        num_shards=args.num_shards or max(1, math.ceil(input_bytes / _INPUT_BYTES_PER_SHARD)),
        text_output=args.text_output,
    )


def run_corpus(args: argparse.Namespace, beam_args: list[str]) -> dict:
    try:
        files = expand_inputs(args.input)
    except InputError as error:
        raise UsageError(str(error)) from None
    options = corpus_options(args, sum(f.size for f in files))
    if options.spacy_model:
        from pipelines.segmentation import SentenceSegmenter

        try:  # fail now, not on a worker an hour later
            SentenceSegmenter(options.spacy_model).segment("en", "Check.")
        except ValueError as error:
            raise UsageError(str(error)) from None
    _check_output_writable(options.output)
    parameters = {
        name: value for name, value in vars(args).items() if name not in ("command", "func")
    } | {"num_shards": options.num_shards, "files": len(files)}
    pipeline_options = PipelineOptions(beam_args)
    # Workers on Dataflow need this package; the same setup.py installs it there.
    pipeline_options.view_as(SetupOptions).save_main_session = False
    with beam.Pipeline(options=pipeline_options) as pipeline:
        corpus_pipeline.build_pipeline(pipeline, files, options, parameters)
    with FileSystems.open(f"{options.output}/stats.json") as handle:
        return json.loads(handle.read())


def _print_summary(summary: dict, output: str) -> None:
    dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items()) or "none"
    print(
        f"read {summary['read']}, kept {summary['kept']} documents ({summary['sentences']} sentences, "
        f"{summary['characters']} characters), dropped: {dropped}; errors: {summary['errors']}"
    )
    if summary["errors"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["error_reasons"].items())
        print(f"{summary['errors']} malformed records ({reasons}) are listed in {output}/errors-*.jsonl")
    if not stats.reconciles(summary):
        print("warning: counts do not reconcile; please report this", file=sys.stderr)
    print(f"wrote {output}/documents-*.parquet and {output}/stats.json")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        summary = run_corpus(args, beam_args)
    except UsageError as error:
        parser.exit(2, f"bertprep {args.command}: error: {error}\n")
    _print_summary(summary, args.output.rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
