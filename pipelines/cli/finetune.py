"""`bertprep finetune TASK`: fine-tune BERT on a downstream task; one module per task.

Each task module has HELP, DESCRIPTION, `add_arguments(parser)` and `run(args) -> int`, like the top-level
commands; the flags every task shares are `training_flags`'.
"""
from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from pipelines.cli.flags import add_task_parsers
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
    add_task_parsers(parser, TASKS, task_module)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    return task_module(args.task).run(args)
