"""`bertprep distill TASK`: knowledge distillation of a fine-tuned teacher into a smaller BERT, one module per
task (`distill_classify`, `distill_squad`), as `finetune`.

The task may also be named as the BERT miniatures' recipe writes it: `bertprep distill --task=squad ...`, and
`bertprep distill --task_name=SST-2 ...` (no task: classification).
"""
from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from pipelines.cli.flags import add_task_parsers

HELP = "distil a fine-tuned teacher into a smaller BERT (the miniatures' recipe): classify, squad"
DESCRIPTION = (
    "Knowledge distillation as the BERT miniatures' authors recommend it: a fine-tuned teacher labels the task's "
    "training data and unlabeled transfer data at scale (a Beam pipeline: DirectRunner here, Dataflow for millions "
    "of examples), and a smaller student learns from the teacher's soft labels, starting from a pretrained "
    "checkpoint or from scratch. `bertprep distill TASK --help` lists a task's flags.")

TASKS = {
    "classify": "pipelines.cli.distill_classify",
    "squad": "pipelines.cli.distill_squad",
}
_HELP_FLAGS = ("-h", "--help")


def task_module(name: str) -> ModuleType:
    return importlib.import_module(TASKS[name])


def task_argv(argv: list[str]) -> list[str]:
    """`distill [--task=TASK|--task TASK] FLAGS` as `distill TASK FLAGS` (classify when no task is named);
    `distill TASK FLAGS` and `distill --help` unchanged."""
    command, rest = argv[:1], argv[1:]
    if not rest or rest[0] in TASKS or rest[0] in _HELP_FLAGS:
        return argv
    for position, arg in enumerate(rest):
        if arg.startswith("--task="):
            return [*command, arg[len("--task="):], *rest[:position], *rest[position + 1:]]
        if arg == "--task" and position + 1 < len(rest):
            return [*command, rest[position + 1], *rest[:position], *rest[position + 2:]]
    return [*command, "classify", *rest]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_parsers(parser, TASKS, task_module)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    return task_module(args.task).run(args, beam_args)
