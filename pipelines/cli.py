"""The `bertprep` command: one subcommand per stage.

Flags a subcommand does not define are handed to Beam's PipelineOptions, so
`--runner`, `--direct_num_workers`, `--project`, `--temp_location`, … work as
in any Beam program.
"""
from __future__ import annotations

import argparse
import logging
import sys

from pipelines import corpus_command, inspect_command, pretraining_command, vocab_command
from pipelines.cli_common import UsageError

COMMANDS = {
    "corpus": corpus_command,
    "vocab": vocab_command,
    "pretraining-data": pretraining_command,
    "inspect": inspect_command,
}


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
    for name, module in COMMANDS.items():
        module.add_arguments(
            commands.add_parser(name, allow_abbrev=False, help=module.HELP, description=module.DESCRIPTION)
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command].run(args, beam_args)
    except UsageError as error:
        parser.exit(2, f"bertprep {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
