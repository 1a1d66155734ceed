"""The `bertprep` command: one subcommand per stage.

The commands that run a Beam pipeline hand the flags they do not define to
Beam's PipelineOptions, so `--runner`, `--direct_num_workers`, `--project`,
`--temp_location`, … work as in any Beam program; a flag that neither the
command nor Beam defines stops the command (Beam itself would drop it with a
warning and run with the default).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from pipelines.cli.flags import FlagParser, option_strings, unknown_flag_message
from pipelines.errors import UsageError

# Imported on use: a command should not pay for the others' imports
# (spaCy, TensorFlow, matplotlib take seconds and hundreds of MB).
COMMANDS = {
    "run": "pipelines.cli.run",
    "corpus": "pipelines.cli.corpus",
    "vocab": "pipelines.cli.vocab",
    "pretraining-data": "pipelines.cli.pretraining_data",
    "inspect": "pipelines.cli.inspect",
    "extract-features": "pipelines.cli.extract_features",
    "pretrain": "pipelines.cli.pretrain",
    "finetune": "pipelines.cli.finetune",
    "distill": "pipelines.cli.distill",
    "export": "pipelines.cli.export",
}
# The commands whose unclaimed flags are Beam's.
BEAM_COMMANDS = frozenset({"run", "corpus", "vocab", "pretraining-data", "distill"})
TRACEBACK_VARIABLE = "BERTPREP_TRACEBACK"


def command_module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or with `only`, of that one (the others stay bare)."""
    # No abbreviations: a prefix of one of our flags must not swallow a Beam flag.
    parser = FlagParser(
        prog="bertprep",
        description="Raw text to BERT pretraining data with Apache Beam. Unknown flags go to Beam "
        "(e.g. --runner DataflowRunner --project P --region R --temp_location gs://B/tmp, "
        "or --direct_num_workers 2 --direct_running_mode multi_processing).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        if only is not None and name != only:
            commands.add_parser(name)
            continue
        module = command_module(name)
        module.add_arguments(commands.add_parser(name, help=module.HELP, description=module.DESCRIPTION))
    return parser


def _version() -> str:
    try:
        return version("bertprep")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _subcommand_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser that parsed the flags: the subcommand's, or the finetune task's."""
    chosen = parser
    for dest in ("command", "task"):
        for action in chosen._subparsers._group_actions if chosen._subparsers else ():
            if isinstance(action, argparse._SubParsersAction) and action.dest == dest:
                chosen = action.choices[getattr(args, dest)]
    return chosen


def unclaimed_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> list[str]:
    """Beam's share of the flags the command did not define; refuses the rest with UsageError."""
    from pipelines.cli.beam_command import unknown_beam_flags

    if not extra:
        return extra
    known = option_strings(_subcommand_parser(parser, args))
    not_beams, beam_flags = unknown_beam_flags(extra)
    unknown = not_beams if args.command in BEAM_COMMANDS else extra
    if not unknown:
        return extra
    flag = next((arg for arg in unknown if arg.startswith("-")), None)
    if flag is None:
        raise UsageError(f"unexpected argument {unknown[0]!r}")
    if args.command in BEAM_COMMANDS:
        raise UsageError(unknown_flag_message(flag, known + beam_flags))
    if flag.split("=", 1)[0] in beam_flags:
        raise UsageError(f"{flag.split('=', 1)[0]} is a Beam flag, and this command runs no Beam pipeline")
    raise UsageError(unknown_flag_message(flag, known))


class _WithoutBeamTracebacks(logging.Filter):
    """Beam logs a failing bundle's exception with its traceback on every attempt; the message stays, and the
    command ends with one line saying what failed (the traceback is there with TRACEBACK_VARIABLE set)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("apache_beam") and record.exc_info:
            record.exc_info = record.exc_text = None
        return True


def failure_line(error: BaseException) -> str:
    """One line for a pipeline that stopped: the innermost message (Beam wraps a worker's exception, and a
    worker process's arrives as text ending with it), with the step it stopped in."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[-1] if lines else type(error).__name__
    return message if len(message) <= 500 else f"{message[:500]}…"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:  # a command may accept another form of its task (distill --task=squad)
        argv = getattr(command_module(argv[0]), "task_argv", lambda same: same)(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    show_tracebacks = bool(os.environ.get(TRACEBACK_VARIABLE))
    quiet = _WithoutBeamTracebacks()
    if args.command in BEAM_COMMANDS and not show_tracebacks:
        for handler in logging.getLogger().handlers:
            handler.addFilter(quiet)
    try:
        beam_args = unclaimed_flags(parser, args, extra)
        return command_module(args.command).run(args, beam_args)
    except UsageError as error:
        parser.exit(2, f"bertprep {args.command}: error: {error}\n")
    except Exception as error:  # a pipeline that stopped on its input (or a bug): one line, not Beam's layers
        if args.command not in BEAM_COMMANDS or show_tracebacks:
            raise
        parser.exit(1, f"bertprep {args.command}: error: the pipeline stopped: {failure_line(error)}; it left no "
                    f"complete output (set {TRACEBACK_VARIABLE}=1 to see the traceback)\n")
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(quiet)

