"""`bertprep run`: corpus -> vocab -> pretraining data in one command.

Each stage is its own Beam pipeline, run one after the other with the same
Beam flags, so a Dataflow user gets three jobs and every intermediate result
(OUT/corpus, OUT/vocab) stays inspectable and reusable. A stage whose output is
already complete with the same parameters does nothing (pipelines.output_folder),
so running the command again after a crash resumes it.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path
from types import ModuleType

from pipelines.cli import corpus as corpus_command
from pipelines.cli import pretraining_data as pretraining_data_command
from pipelines.cli import vocab as vocab_command
from pipelines.cli.beam_command import template_location
from pipelines.cli.flags import FlagParser, add_vocab_file_flag
from pipelines.corpus.document_writer import corpus_documents
from pipelines.errors import UsageError
from pipelines.vocab_pipeline import VOCAB_FILE

HELP = "corpus -> vocab -> pretraining data in one command (no arguments: the sample corpus into ./output)"
DESCRIPTION = (
    "Runs `bertprep corpus` into OUT/corpus, `bertprep vocab` into OUT/vocab (unless --vocab_file is given) and "
    "`bertprep pretraining-data` into OUT/seqL for every --lengths entry, passing each stage its own flags "
    "(listed below by stage; --corpus_num_shards is the corpus stage's --num_shards; a flag two stages share, such "
    "as --seed or --do_lower_case, goes to both). Without --input it reads "
    "the sample Wikipedia dumps and Gutenberg books shipped in the repository's tests/data."
)
_SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data"


def sample_inputs() -> list[str]:
    if not _SAMPLE.is_dir():
        raise UsageError(f"no --input given and the sample corpus ({_SAMPLE}) is not here (it ships with a "
                         "source checkout, not with an installed package); give --input")
    return [f"wikipedia:{_SAMPLE}/wikipedia/*.bz2", f"gutenberg:{_SAMPLE}/gutenberg/*.txt"]


# The stages `run` chains, each with the flags `run` sets itself (so they are not offered).
_STAGES = (
    ("corpus", corpus_command, frozenset({"input", "output"})),
    ("vocab", vocab_command, frozenset({"input", "output", "check", "bert_config_file"})),
    ("pretraining-data", pretraining_data_command,
     frozenset({"input", "input_file", "output", "output_file", "vocab_file"})),
)
# Flags two stages define with different meanings: the earlier stage's is offered under another name.
_RENAMED = {("corpus", "--num_shards"): "--corpus_num_shards"}


def _stage_parser(module: ModuleType) -> FlagParser:
    parser = FlagParser()
    module.add_arguments(parser)
    return parser


def _stage_actions(stage: str, module: ModuleType, set_by_run: frozenset[str]):
    """(group title, action as `run` offers it) for every flag of the stage that `run` passes on."""
    parser = _stage_parser(module)
    for group in parser._action_groups:
        for action in group._group_actions:
            if action.dest in set_by_run or isinstance(action, argparse._HelpAction):
                continue
            renamed = _RENAMED.get((stage, action.option_strings[0]))
            if renamed:
                action = copy.copy(action)
                action.option_strings, action.dest = [renamed], renamed[2:]
            yield group.title, action


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", action="append", metavar="[FORMAT:]PATH",
                    help="raw inputs as for `bertprep corpus` (repeatable); default: the sample corpus")
    io.add_argument("--output", default="output", help="output folder (default ./output)")
    add_vocab_file_flag(io, help="use this vocab.txt instead of learning one")
    offered = {option for action in parser._actions for option in action.option_strings}
    for stage, module, set_by_run in _STAGES:
        groups: dict[str, argparse._ArgumentGroup] = {}
        for title, action in _stage_actions(stage, module, set_by_run):
            new = [option for option in action.option_strings if option not in offered]
            if not new:
                continue  # the same flag of an earlier stage (--seed, --do_lower_case, reading options) serves both
            if len(new) < len(action.option_strings):  # spellings only this stage takes (--random_seed)
                action = copy.copy(action)
                action.option_strings, action.help = new, argparse.SUPPRESS
            if title not in groups:
                groups[title] = parser.add_argument_group(f"{stage} stage: {title}")
            groups[title]._add_action(action)
            offered.update(action.option_strings)


def stage_arguments(stage: str, args: argparse.Namespace, **set_by_run) -> argparse.Namespace:
    """The namespace the stage's own parser would give, from `run`'s flags and the values `run` sets."""
    module = next(module for name, module, _ in _STAGES if name == stage)
    values = {}
    for action in _stage_parser(module)._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in values:
            continue
        renamed = _RENAMED.get((stage, action.option_strings[0]) if action.option_strings else None)
        values[action.dest] = set_by_run[action.dest] if action.dest in set_by_run else \
            getattr(args, renamed[2:] if renamed else action.dest)
    return argparse.Namespace(**values)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if template_location(beam_args):
        raise UsageError("--template_location makes a template of one pipeline, and each stage's is built from the "
                         "previous stage's output: make one per stage with `bertprep corpus`, `bertprep vocab` and "
                         "`bertprep pretraining-data`")
    inputs = args.input or sample_inputs()
    output = args.output.rstrip("/")
    corpus = f"{output}/corpus"
    # Refuse bad flags of the last stage before an hour of corpus work.
    pretraining = stage_arguments("pretraining-data", args, input=[corpus], input_file=None, output=output,
                                  output_file=None, vocab_file=args.vocab_file)
    pretraining_data_command.resolve_lengths(pretraining)
    print(f"[1/3] corpus -> {corpus}")
    corpus_command.run(stage_arguments("corpus", args, input=inputs, output=corpus), beam_args)
    if not args.vocab_file:
        print(f"[2/3] vocab -> {output}/vocab")
        _, documents = corpus_documents(corpus)  # those its stats.json lists, no other file there
        vocab_command.run(stage_arguments(
            "vocab", args, input=[f"parquet:{path}" for path in documents], output=f"{output}/vocab", check=None,
            bert_config_file=None), beam_args)
        pretraining.vocab_file = f"{output}/vocab/{VOCAB_FILE}"
    else:
        print(f"[2/3] vocab: using {args.vocab_file}")
    print(f"[3/3] pretraining data -> {output}/seqL")
    pretraining_data_command.write_datasets(pretraining, beam_args, [corpus], pretraining.vocab_file, output)
    return 0
