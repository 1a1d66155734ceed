"""Every flag of every command is either used or refused: absl booleans, Beam's flags, the reference's names."""
from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version

import pytest

from pipelines.cli import main as cli
from pipelines.cli import pretraining_data as pretraining_data_command
from pipelines.cli import run as run_command
from pipelines.cli.flags import BoolFlag, rewrite_bool_values
from pipelines.cli.main import build_parser, main


def refusal(capsys, argv: list[str]) -> str:
    """The one-line error of a refused command line (exit status 2)."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def all_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by name ('finetune classify' for a task)."""
    parsers = {}
    root = build_parser()
    pending = [("", root)]
    while pending:
        prefix, parser = pending.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend((f"{prefix} {name}".strip(), sub) for name, sub in action.choices.items())
        if prefix:
            parsers[prefix] = parser
    return parsers


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = build_parser(argv[0])
    args, extra = parser.parse_known_args(argv)
    return args, cli.unclaimed_flags(parser, args, extra)


def test_a_mistyped_flag_is_refused_with_the_closest_spelling(capsys, tmp_path):
    # The command line that used to write dupe_factor 5, seed 12345 and no whole-word masking with exit 0.
    error = refusal(capsys, ["pretraining-data", "--input", str(tmp_path), "--vocab", "v.txt", "--output",
                             str(tmp_path / "out"), "--dupe-factor", "1", "--random_seed", "7",
                             "--do_whole_word_mask"])
    assert error == "bertprep pretraining-data: error: unknown flag --dupe-factor (did you mean --dupe_factor?)"
    assert not (tmp_path / "out").exists()


def test_the_reference_names_of_the_instance_flags_are_taken():
    args, beam = parse(["pretraining-data", "--input", "x", "--vocab_file", "v.txt", "--output", "o",
                        "--dupe_factor", "1", "--random_seed", "7", "--do_whole_word_mask",
                        "--max_seq_length=64", "--max_predictions_per_seq=9", "--do_lower_case=False"])
    assert beam == []
    assert (args.dupe_factor, args.seed, args.whole_word_mask, args.do_lower_case) == (1, 7, True, False)
    assert pretraining_data_command.resolve_lengths(args) == [(64, 9)]


def test_a_mistyped_beam_flag_is_refused_and_beams_own_flags_pass(capsys):
    assert refusal(capsys, ["corpus", "--input", "x", "--output", "o", "--runer", "DataflowRunner"]).endswith(
        "unknown flag --runer (did you mean --runner?)")
    assert "invalid int value: 'two'" in refusal(capsys, ["corpus", "--input", "x", "--output", "o",
                                                          "--direct_num_workers", "two"])
    beam_flags = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing", "--runner=DirectRunner"]
    assert parse(["corpus", "--input", "x", "--output", "o", *beam_flags])[1] == beam_flags


@pytest.mark.parametrize("command", [["inspect", "folder"], ["pretrain", "--data", "d", "--bert_config_file", "c",
                                                                "--output_dir", "o", "--train_steps", "1"]])
def test_commands_without_a_pipeline_take_no_beam_flags(capsys, command):
    error = refusal(capsys, [*command, "--direct_num_workers", "2"])
    assert error.endswith("--direct_num_workers is a Beam flag, and this command runs no Beam pipeline")
    assert refusal(capsys, [*command, "--bogus_flag"]).endswith("unknown flag --bogus_flag")


def test_a_stray_word_is_refused(capsys):
    assert refusal(capsys, ["corpus", "--input", "x", "--output", "o", "extra"]).endswith(
        "unexpected argument 'extra'")


def test_every_boolean_flag_takes_every_absl_form():
    checked = 0
    for name, parser in all_parsers().items():
        options = {option: action for action in parser._actions for option in action.option_strings}
        for action in parser._actions:
            if not isinstance(action, BoolFlag) or action.help == argparse.SUPPRESS:
                continue
            flag, negative = action.option_strings[0], action.negatives[0]
            assert negative == f"--no{flag[2:]}", f"{name} {flag}"
            for argv, expected in (([flag], True), ([negative], False), ([f"{flag}=true"], True),
                                   ([f"{flag}=False"], False), ([f"{flag}=1"], True), ([f"{flag}=0"], False),
                                   ([f"{flag}=True"], True), ([f"{flag}=false"], False)):
                # The command's own required flags are not given: apply the rewritten flag's action directly.
                (option,) = rewrite_bool_values(parser, argv)
                namespace = argparse.Namespace()
                options[option](parser, namespace, [], option)
                assert getattr(namespace, action.dest) is expected, f"{name} {argv}"
            checked += 1
    assert checked >= 10


def test_a_boolean_with_a_bad_value_is_refused(capsys):
    assert "argument --near_dedup: expected true or false, got 'maybe'" in refusal(
        capsys, ["corpus", "--input", "x", "--output", "o", "--near_dedup=maybe"])


def test_no_boolean_is_a_plain_store_true():
    # A store_true flag would refuse --flag=false, the absl form reference command lines use.
    for name, parser in all_parsers().items():
        for action in parser._actions:
            assert not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                           argparse.BooleanOptionalAction)), f"{name} {action.option_strings}"


@pytest.mark.parametrize("concept, spelling, others", [
    ("vocab file", "--vocab_file", ("--vocab",)),
    ("loop length", "--iterations_per_loop", ("--steps_per_loop",)),
    ("lower-casing", "--do_lower_case", ("--cased", "--uncased", "--no-do_lower_case")),
])
def test_one_spelling_per_concept_and_the_old_ones_are_aliases(concept, spelling, others):
    for name, parser in all_parsers().items():
        options = {option: action for action in parser._actions for option in action.option_strings}
        for other in others:
            if other in options:
                assert spelling in options, f"`bertprep {name}` spells the {concept} {other}, not {spelling}"
                assert options[other].dest == options[spelling].dest


def test_run_offers_every_flag_of_the_stages_it_chains():
    run_parser = all_parsers()["run"]
    offered = {option for action in run_parser._actions for option in action.option_strings}
    for stage, module, set_by_run in run_command._STAGES:
        for _, action in run_command._stage_actions(stage, module, set_by_run):
            assert set(action.option_strings) <= offered, f"{stage} {action.option_strings}"


def test_run_passes_each_flag_to_its_stage():
    args, beam = parse(["run", "--near_dedup", "--text_output", "--min_words", "50", "--corpus_num_shards", "3",
                        "--num_shards", "2", "--seed", "9", "--do_lower_case=false", "--vocab_size", "4000",
                        "--dupe_factor", "1", "--random_seed", "7", "--direct_num_workers", "2"])
    assert beam == ["--direct_num_workers", "2"]
    corpus = run_command.stage_arguments("corpus", args, input=["i"], output="o/corpus")
    assert (corpus.near_dedup, corpus.text_output, corpus.min_words, corpus.num_shards) == (True, True, 50, 3)
    vocab = run_command.stage_arguments("vocab", args, input=["p"], output="o/vocab", check=None,
                                        bert_config_file=None)
    assert (vocab.vocab_size, vocab.do_lower_case, vocab.seed) == (4000, False, 7)
    data = run_command.stage_arguments("pretraining-data", args, input=["o/corpus"], input_file=None, output="o",
                                       output_file=None, vocab_file="v")
    assert (data.num_shards, data.dupe_factor, data.seed, data.do_lower_case) == (2, 1, 7, False)


def test_run_help_lists_the_flags_by_stage():
    help_text = all_parsers()["run"].format_help()
    for heading in ("corpus stage:", "vocab stage:", "pretraining-data stage:"):
        assert heading in help_text
    assert help_text.index("--near_dedup") < help_text.index("--vocab_size") < help_text.index("--dupe_factor")


def test_version():
    printed = subprocess.run([sys.executable, "-m", "pipelines.cli", "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert printed.strip() == f"bertprep {version('bertprep')}"
