"""`bertprep run`: corpus -> vocab -> pretraining data in one command.

Each stage is its own Beam pipeline, run one after the other with the same
Beam flags, so a Dataflow user gets three jobs and every intermediate result
(OUT/corpus, OUT/vocab) stays inspectable and reusable.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipelines import corpus_command, pretraining_command, vocab_command
from pipelines.cli_common import UsageError, template_location

HELP = "corpus -> vocab -> pretraining data in one command (no arguments: the sample corpus into ./output)"
DESCRIPTION = (
    "Runs `bertprep corpus` into OUT/corpus, `bertprep vocab` into OUT/vocab (unless --vocab is given) and "
    "`bertprep pretraining-data` into OUT/seqL for every --lengths entry. Without --input it reads the sample "
    "Wikipedia dumps and Gutenberg books shipped in the repository's tests/data."
)
_SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data"


def sample_inputs() -> list[str]:
    if not _SAMPLE.is_dir():
        raise UsageError(f"no --input given and the sample corpus ({_SAMPLE}) is not here (it ships with a "
                         "source checkout, not with an installed package); give --input")
    return [f"wikipedia:{_SAMPLE}/wikipedia/*.bz2", f"gutenberg:{_SAMPLE}/gutenberg/*.txt"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", action="append", metavar="[FORMAT:]PATH",
                    help="raw inputs as for `bertprep corpus` (repeatable); default: the sample corpus")
    io.add_argument("--output", default="output", help="output folder (default ./output)")
    io.add_argument("--vocab", help="use this vocab.txt instead of learning one")
    io.add_argument("--vocab_size", type=int, default=30522, help="size of the learned vocab (BERT-base: 30522)")
    pretraining_command.add_pretraining_arguments(parser)


def _stage_arguments(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(allow_abbrev=False)
    module.add_arguments(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if template_location(beam_args):
        raise UsageError("--template_location makes a template of one pipeline, and each stage's is built from the "
                         "previous stage's output: make one per stage with `bertprep corpus`, `bertprep vocab` and "
                         "`bertprep pretraining-data`")
    inputs = args.input or sample_inputs()
    output = args.output.rstrip("/")
    pretraining_command.parse_lengths(args.lengths)  # refuse bad flags before an hour of corpus work
    corpus = f"{output}/corpus"
    print(f"[1/3] corpus -> {corpus}")
    corpus_command.run(_stage_arguments(corpus_command, [
        *(f"--input={value}" for value in inputs), "--output", corpus]), beam_args)
    vocab = args.vocab
    if not vocab:
        print(f"[2/3] vocab -> {output}/vocab")
        vocab_command.run(_stage_arguments(vocab_command, [
            "--input", f"parquet:{corpus}/documents-*.parquet", "--output", f"{output}/vocab",
            "--vocab_size", str(args.vocab_size), "--uncased" if args.do_lower_case else "--cased",
            "--seed", str(args.seed)]), beam_args)
        vocab = f"{output}/vocab/vocab.txt"
    else:
        print(f"[2/3] vocab: using {vocab}")
    print(f"[3/3] pretraining data -> {output}/seqL")
    pretraining_command.write_datasets(args, beam_args, [corpus], vocab, output)
    return 0
