"""Entry point of the Dataflow Flex Template (dataflow/): one `bertprep` stage per launch.

The template launcher runs this file with every template parameter as
`--name=value`. `--command` names the stage; since a template parameter holds
one value, `--input` may list several inputs separated by ";". A launch
creates one job, so `bertprep run`'s three jobs are three launches, each
reading the previous one's output.
"""
from __future__ import annotations

import argparse
import sys

from pipelines.cli import main as cli

STAGES = ("corpus", "vocab", "pretraining-data")


def stage_argv(argv: list[str]) -> list[str]:
    """Template parameters -> the `bertprep` command line they stand for."""
    parser = argparse.ArgumentParser(prog="flex_template", allow_abbrev=False)
    parser.add_argument("--command", choices=STAGES, required=True)
    parser.add_argument("--input", default="", help="one or more inputs separated by ';'")
    args, rest = parser.parse_known_args(argv)
    inputs = [f"--input={value.strip()}" for value in args.input.split(";") if value.strip()]
    return [args.command, *inputs, *rest]


if __name__ == "__main__":
    sys.exit(cli.main(stage_argv(sys.argv[1:])))
