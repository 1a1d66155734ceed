"""The flag grammar every `bertprep` command shares.

Booleans are written as absl writes them, because the reference scripts (and the
command lines users copy from them) use absl: `--flag`, `--noflag`,
`--flag=true|false|True|False|1|0`. Unknown flags are never dropped: a command
that runs a Beam pipeline hands Beam only the flags Beam registers, and anything
else stops the command with the closest known spelling.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


def parse_bool(text: str) -> bool:
    """absl's spellings of a boolean value."""
    if text.lower() in _TRUE + _FALSE:
        return text.lower() in _TRUE
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class BoolFlag(argparse.Action):
    """A boolean flag; option strings in `negatives` set it to False."""

    def __init__(self, option_strings: Sequence[str], dest: str, negatives: Sequence[str] = (),
                 default: bool = False, required: bool = False, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, required=required, help=help)
        self.negatives = tuple(negatives)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string not in self.negatives)


def add_bool_flag(parser: argparse._ActionsContainer, name: str, *, default: bool = False,
                  help: str | None = None, dest: str | None = None, true_aliases: Sequence[str] = (),
                  false_aliases: Sequence[str] = ()) -> BoolFlag:
    """`--name`, `--noname` and `--name=BOOL`, plus hidden aliases; the help shows the default."""
    if not name.startswith("--"):
        raise ValueError(f"boolean flags are long options: {name}")
    dest = dest or name[2:]
    negative = f"--no{name[2:]}"
    for alias in true_aliases:
        parser.add_argument(alias, action=BoolFlag, default=default, dest=dest, help=argparse.SUPPRESS)
    for alias in false_aliases:
        parser.add_argument(alias, action=BoolFlag, negatives=(alias,), default=default, dest=dest,
                            help=argparse.SUPPRESS)
    shown = help if help == argparse.SUPPRESS else f"{help + '; ' if help else ''}default {str(default).lower()}"
    return parser.add_argument(name, negative, action=BoolFlag, negatives=(negative,), default=default, dest=dest,
                               help=shown)


def add_lower_case_flag(parser: argparse._ActionsContainer, help: str, default: bool | None = True) -> BoolFlag:
    """--do_lower_case (the reference's name) with the spellings earlier versions took; `default` None leaves
    the choice to the model's files when the flag is not given."""
    return add_bool_flag(parser, "--do_lower_case", default=default, help=help, true_aliases=("--uncased",),
                         false_aliases=("--no-do_lower_case", "--cased"))


def add_vocab_file_flag(parser: argparse._ActionsContainer, help: str, required: bool = False) -> argparse.Action:
    """--vocab_file (the reference's name), also spelled --vocab."""
    return parser.add_argument("--vocab_file", "--vocab", dest="vocab_file", required=required, metavar="PATH",
                               help=help)


def bool_flags(parser: argparse.ArgumentParser) -> dict[str, BoolFlag]:
    """Every option string of a BoolFlag in this parser, by string."""
    return {option: action for action in parser._actions if isinstance(action, BoolFlag)
            for option in action.option_strings}


def rewrite_bool_values(parser: argparse.ArgumentParser, argv: Iterable[str]) -> list[str]:
    """`--flag=false` -> `--noflag` for this parser's boolean flags (argparse has no `=` form for them)."""
    flags = bool_flags(parser)
    rewritten = []
    for arg in argv:
        name, equals, value = arg.partition("=")
        action = flags.get(name) if equals else None
        if action is None:
            rewritten.append(arg)
            continue
        try:
            truth = parse_bool(value)
        except argparse.ArgumentTypeError as error:
            parser.error(f"argument {name}: {error}")
        if name in action.negatives:
            truth = not truth
        rewritten.append(action.option_strings[0] if truth else action.negatives[0])
    return rewritten


class FlagParser(argparse.ArgumentParser):
    """argparse with absl booleans and no abbreviations (a prefix of our flag must not swallow a Beam flag)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        argv = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(rewrite_bool_values(self, argv), namespace)


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every long option this parser (and its chosen subparsers' definitions) accepts."""
    return [option for action in parser._actions for option in action.option_strings if option.startswith("--")]


def unknown_flag_message(flag: str, known: Iterable[str]) -> str:
    """"unknown flag --dupe-factor (did you mean --dupe_factor?)"."""
    name = flag.split("=", 1)[0]
    known = sorted(set(known))
    # Hyphens and underscores are the commonest slip; look for the underscore spelling first.
    candidates = [option for option in known if option == name.replace("-", "_").replace("__", "--", 1)]
    candidates = candidates or difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" (did you mean {candidates[0]}?)" if candidates else ""
    return f"unknown flag {name}{hint}"


def add_overwrite_argument(parser: argparse._ActionsContainer) -> None:
    add_bool_flag(
        parser, "--overwrite",
        help="replace the output of another run in the output folder: removes this stage's own files there "
        "(those its completion record lists and those named like them), nothing else. Without it such a folder "
        "is refused. An output already complete with the same parameters and inputs is kept and not redone")


def add_task_parsers(parser: argparse.ArgumentParser, tasks: Iterable[str],
                     task_module: Callable[[str], ModuleType]) -> None:
    """One sub-parser per task (`finetune classify`, `distill squad`, …) under dest "task", each with the flags,
    HELP and DESCRIPTION of its module."""
    parsers = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in tasks:
        module = task_module(name)
        module.add_arguments(parsers.add_parser(name, allow_abbrev=False, help=module.HELP,
                                                description=module.DESCRIPTION))
