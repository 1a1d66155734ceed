"""`bertprep corpus`: raw dumps, books and text -> clean, deduplicated, sentence-split documents."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys

from apache_beam.io.filesystems import FileSystems

from formats.corpus_files import CORPUS_FILE_PATTERNS, CORPUS_STATS_FILE, DOCUMENTS_FILES, ERROR_FILES, TEXT_FILES
from pipelines import progress
from pipelines.cli.beam_command import (
    add_handoff_flag,
    add_input_arguments,
    check_output_writable,
    check_worker_paths,
    check_worker_readable,
    command_parameters,
    distribution,
    input_files,
    read_options,
    run_pipeline,
)
from pipelines.cli.flags import add_bool_flag, add_overwrite_argument
from pipelines.corpus import pipeline as corpus_pipeline
from pipelines.corpus import stats
from pipelines.corpus.filters import QualityThresholds
from pipelines.errors import UsageError
from pipelines.handoff import handoff_space
from pipelines.output_folder import Output, StageRun, run_identity

HELP = "Wikipedia dumps, Gutenberg books and text -> clean, deduplicated, sentence-split documents"
DESCRIPTION = (
    "Reads, cleans, filters, deduplicates and sentence-splits documents; writes "
    f"OUT/{DOCUMENTS_FILES.glob}, OUT/{CORPUS_STATS_FILE} and OUT/{ERROR_FILES.glob}."
)
# Automatic sharding: about this many input bytes per output shard. Cleaned
# text is smaller than raw wikitext but larger than bz2, so input size is a
# fair, known-in-advance proxy.
_INPUT_BYTES_PER_SHARD = 256 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = add_input_arguments(parser)
    io.add_argument("--num_shards", type=int, default=0, help=f"{DOCUMENTS_FILES.glob} shards; 0 = one per ~256 MB of input")
    add_bool_flag(io, "--text_output",
                  help=f"also write OUT/{TEXT_FILES.glob} in the reference BERT format "
                  "(a sentence per line, blank line between documents)")
    add_overwrite_argument(io)
    add_handoff_flag(io, "pages and documents", "OUT/.bertprep-corpus-*")
    parser.add_argument_group("segmentation").add_argument(
        "--spacy_model", default=None,
        help="installed spaCy pipeline for sentence splitting (e.g. en_core_web_sm); default: rule-based sentencizer",
    )
    filters = parser.add_argument_group("quality filters and deduplication")
    defaults = QualityThresholds()
    filters.add_argument("--min_words", type=int, default=defaults.min_words, help="drop documents with fewer words")
    filters.add_argument("--min_sentences", type=int, default=defaults.min_sentences, help="drop documents with fewer sentences")
    filters.add_argument("--max_non_letter_ratio", type=float, default=defaults.max_non_letter_ratio,
                         help="drop documents whose non-space characters are more than this share non-letters")
    add_bool_flag(filters, "--no_dedup", help="keep exact duplicate documents")
    add_bool_flag(filters, "--near_dedup", help="also drop near-duplicates (MinHash LSH)")
    filters.add_argument("--near_dedup_threshold", type=float, default=0.8,
                         help="estimated Jaccard similarity of word 5-grams at which a document is a near-duplicate")


def corpus_options(args: argparse.Namespace, input_bytes: int) -> corpus_pipeline.CorpusOptions:
    if not 0 < args.near_dedup_threshold <= 1:
        raise UsageError("--near_dedup_threshold must be in (0, 1]")
    if args.num_shards < 0:
        raise UsageError("--num_shards must be 0 (automatic) or positive")
    try:
        thresholds = QualityThresholds(
            min_words=args.min_words, min_sentences=args.min_sentences, max_non_letter_ratio=args.max_non_letter_ratio
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return corpus_pipeline.CorpusOptions(
        output=args.output.rstrip("/"),
        read=read_options(args),
        wiki_cleaner=args.wiki_cleaner,
        thresholds=thresholds,
        dedup=not args.no_dedup,
        near_dedup=args.near_dedup,
        near_dedup_threshold=args.near_dedup_threshold,
        spacy_model=args.spacy_model,
        num_shards=args.num_shards or max(1, math.ceil(input_bytes / _INPUT_BYTES_PER_SHARD)),
        text_output=args.text_output,
    )


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    files = input_files(args)
    options = corpus_options(args, sum(f.size for f in files))
    check_worker_paths(beam_args, files, options.output)
    # A model name is looked up among installed packages; only a model folder would be read from this disk.
    check_worker_readable(beam_args, [options.spacy_model] if options.spacy_model and os.path.isdir(options.spacy_model)
                          else [], "--spacy_model (install the model in the worker container instead)")
    if options.spacy_model:
        from pipelines.corpus.segmentation import SentenceSegmenter

        try:  # fail now, not on a worker an hour later
            SentenceSegmenter(options.spacy_model)
        except ValueError as error:
            raise UsageError(str(error)) from None
    check_output_writable(options.output)
    parameters = {name: value for name, value in vars(args).items() if name != "command"} | {
        "num_shards": options.num_shards,
        "files": len(files),
    }
    output = Output(options.output, CORPUS_STATS_FILE, CORPUS_FILE_PATTERNS,
                    run_identity("corpus", command_parameters(args), {f.path: f.size for f in files}))
    with StageRun("corpus", options.output, [output], args.overwrite) as stage, \
            handoff_space(stage.staging.work) as handoff_folder:
        made = bool(stage.pending)
        options = dataclasses.replace(options, **distribution(args.handoff, beam_args, handoff_folder))
        if made and not run_pipeline(beam_args, lambda pipeline: corpus_pipeline.build_pipeline(
                pipeline, files, options, parameters, stage.staging, output.run), "corpus",
                progress.file_totals(files)):
            return 0
    with FileSystems.open(f"{options.output}/{CORPUS_STATS_FILE}") as handle:
        summary = json.loads(handle.read())
    print_summary(summary, options.output, made)
    return 0


def print_summary(summary: dict, output: str, made: bool = True) -> None:
    dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items()) or "none"
    print(
        f"read {summary['read']}, kept {summary['kept']} documents ({summary['sentences']} sentences, "
        f"{summary['characters']} characters), dropped: {dropped}; errors: {summary['errors']}"
    )
    if summary["errors"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["error_reasons"].items())
        print(f"{summary['errors']} malformed records ({reasons}) are listed in {output}/{ERROR_FILES.glob}")
    if summary.get("repaired"):
        repairs = ", ".join(f"{k} {v}" for k, v in summary["repaired"].items())
        print(f"repaired and kept: {repairs} (per input in {output}/{CORPUS_STATS_FILE})")
    if not stats.reconciles(summary):
        print("warning: counts do not reconcile; please report this", file=sys.stderr)
    print(f"{'wrote' if made else 'kept'} {output}/{DOCUMENTS_FILES.glob} and {output}/{CORPUS_STATS_FILE}")
