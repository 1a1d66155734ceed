"""The `bertprep` command: one subcommand per stage.

Flags a subcommand does not define are handed to Beam's PipelineOptions, so
`--runner`, `--direct_num_workers`, `--project`, `--temp_location`, … work as
in any Beam program.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

from pipelines.cli_common import UsageError

# Imported on use: a command should not pay for the others' imports
# (spaCy, TensorFlow, matplotlib take seconds and hundreds of MB).
COMMANDS = {
    "run": "pipelines.run_command",
    "corpus": "pipelines.corpus_command",
    "vocab": "pipelines.vocab_command",
    "pretraining-data": "pipelines.pretraining_command",
    "inspect": "pipelines.inspect_command",
    "extract-features": "pipelines.extract_features_command",
    "pretrain": "pipelines.pretrain_command",
    "finetune": "pipelines.finetune_command",
}


def command_module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or with `only`, of that one (the others stay bare)."""
    # No abbreviations: a prefix of one of our flags must not swallow a Beam flag.
    parser = argparse.ArgumentParser(
        prog="bertprep",
        allow_abbrev=False,
        description="Raw text to BERT pretraining data with Apache Beam. Unknown flags go to Beam "
        "(e.g. --runner DataflowRunner --project P --region R --temp_location gs://B/tmp, "
        "or --direct_num_workers 2 --direct_running_mode multi_processing).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        if only is not None and name != only:
            commands.add_parser(name, allow_abbrev=False)
            continue
        module = command_module(name)
        module.add_arguments(
            commands.add_parser(name, allow_abbrev=False, help=module.HELP, description=module.DESCRIPTION)
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return command_module(args.command).run(args, beam_args)
    except UsageError as error:
        parser.exit(2, f"bertprep {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
