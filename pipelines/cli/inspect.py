"""`bertprep inspect`: what a pretraining-data folder holds, as text or JSON, plus a length plot."""
from __future__ import annotations

import argparse
import json

from pipelines.cli.flags import add_bool_flag, add_vocab_file_flag
from pipelines.errors import UsageError
from pipelines.pretraining import inspect as inspect_data

HELP = "report what a pretraining-data folder (OUT/seq128) holds and plot its length distribution"
DESCRIPTION = (
    "Reads the shards of a `bertprep pretraining-data` folder with tf.data and reports the number of instances "
    "(checked against metadata.json), the sequence-length histogram, padding share, masked positions per instance "
    "and how predictions are shown ([MASK] / kept / random), the share of random-next labels, segment lengths and "
    "a few examples decoded with the vocab. Writes a PNG of the length distribution. Works on local and gs:// folders."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a pretraining-data folder holding metadata.json, e.g. OUT/seq128 or gs://B/seq128")
    add_vocab_file_flag(parser, help="vocab to decode with (default: metadata's vocab_file)")
    parser.add_argument("--examples", type=int, default=3, metavar="N", help="instances to decode back to text (default 3)")
    parser.add_argument("--max_instances", type=int, metavar="N",
                        help="read only the first N instances (the report says it is a sample)")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH",
                      help=f"PNG of the length distribution (default FOLDER/{inspect_data.PLOT_FILE})")
    add_bool_flag(plot, "--no_plot", help="write no plot (e.g. for a read-only folder)")
    add_bool_flag(parser, "--json", help="print the report as JSON instead of text")


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if beam_args:
        raise UsageError(f"unknown arguments {' '.join(beam_args)} (inspect runs no Beam pipeline)")
    if args.examples < 0:
        raise UsageError("--examples must be 0 or more")
    from bert_model.tf_env import import_tensorflow

    import_tensorflow()  # before inspect_data reads with tf.data: without the CUDA noise of a CPU-only machine
    try:
        report = inspect_data.read_report(args.folder, vocab=args.vocab_file, examples=args.examples,
                                          max_instances=args.max_instances)
    except inspect_data.InspectError as error:
        raise UsageError(str(error)) from None
    plot = None if args.no_plot else args.plot or f"{report.folder}/{inspect_data.PLOT_FILE}"
    if plot:
        inspect_data.plot_lengths(report, plot)
    if args.json:
        print(json.dumps({**report.to_dict(), "plot": plot}, indent=2))
    else:
        print(inspect_data.format_report(report))
        if plot:
            print(f"\nlength plot: {plot}")
    return 0
