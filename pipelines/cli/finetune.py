"""`bertprep finetune TASK`: fine-tune BERT on a downstream task; one module per task.

Each task module has HELP, DESCRIPTION, `add_arguments(parser)` and `run(args) -> int`, like the top-level
commands; the flags every task shares are `training_flags`'.
"""
from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from pipelines.errors import UsageError

HELP = "fine-tune BERT on a downstream task (classify: GLUE-style classification and regression; squad: SQuAD 1.1/2.0)"
DESCRIPTION = ("Fine-tunes a BERT checkpoint (public BERT, the miniatures, or `bertprep pretrain` output) with the "
               "flags and file formats of the reference scripts. `bertprep finetune TASK --help` lists a task's flags.")

# Imported on use, as the top-level commands.
TASKS = {
    "classify": "pipelines.cli.finetune_classify",
    "squad": "pipelines.cli.finetune_squad",
}


def task_module(name: str) -> ModuleType:
    return importlib.import_module(TASKS[name])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in TASKS:
        module = task_module(name)
        module.add_arguments(tasks.add_parser(name, allow_abbrev=False, help=module.HELP,
                                              description=module.DESCRIPTION))


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    return task_module(args.task).run(args)
