"""`bertprep pretrain` as run_pretraining.py: the BERT README's command line unchanged on TFRecords that the
reference create_pretraining_data.py wrote (no metadata.json), evaluation alone, lengths checked against the
records, damaged shards named, another model's OUTPUT_DIR refused, model names, progress lines and TensorBoard
on the logs."""
from __future__ import annotations

import json
import logging
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bert_model.config import BertConfig, named_config
from pipelines.cli.main import main
from tests.support.paths import REPO
from tests.support.reference_bert import import_reference

VOCAB = str(REPO / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt")
BOOKS = str(REPO / "tests" / "data" / "bert_text" / "books-en.txt")
CONFIG = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64)
REFERENCE_METRICS = {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss",
                     "global_step"}
PROGRESS = re.compile(r"^step (\d+)/(\d+) \(\d+%\): loss [\d.]+, .*; [\d.]+ examples/s.*, elapsed \d+:\d\d:\d\d, "
                      r"ETA (\d+:\d\d:\d\d|after the next call)$")


def _reference_command(input_file: str, output_dir: Path, config_file: str, *overrides: str) -> list[str]:
    """The google-research/bert README's run_pretraining.py command line, with our paths."""
    return ["pretrain", f"--input_file={input_file}", f"--output_dir={output_dir}", "--do_train=True",
            "--do_eval=True", f"--bert_config_file={config_file}", "--train_batch_size=32", "--max_seq_length=128",
            "--max_predictions_per_seq=20", "--num_train_steps=20", "--num_warmup_steps=10", "--learning_rate=2e-5",
            *overrides]


def _refused(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """The one-line error of a command that must be refused (exit 2, no traceback)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("bertprep pretrain: error: ") and "Traceback" not in error
    return error


def _config_file(folder: Path, config: BertConfig = CONFIG) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(folder / "bert_config.json"))
    return str(folder / "bert_config.json")


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[Path]:
    """Two TFRecord files written by the reference create_pretraining_data.py from the books sample."""
    reference = import_reference("create_pretraining_data")
    tokenizer = reference.tokenization.FullTokenizer(VOCAB, do_lower_case=True)
    instances = reference.create_training_instances([BOOKS], tokenizer, 128, 1, 0.1, 0.15, 20, random.Random(7))
    folder = tmp_path_factory.mktemp("reference_records")
    paths = [folder / "tf_examples-0.tfrecord", folder / "tf_examples-1.tfrecord"]
    reference.write_instance_to_example_files(instances, tokenizer, 128, 20, [str(path) for path in paths])
    assert not list(folder.glob("*.json"))
    return paths


@pytest.fixture(scope="module")
def reference_run(records, tmp_path_factory) -> tuple[Path, list[str], list[str], str]:
    """The reference command line run once: its OUTPUT_DIR, its progress lines and its printed summary."""
    output = tmp_path_factory.mktemp("pretraining_output")
    config_file = _config_file(tmp_path_factory.mktemp("config"))
    handler, root = _Lines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        argv = _reference_command(",".join(map(str, records)), output, config_file)
        assert main(argv) == 0
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return output, argv, handler.lines, config_file


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_reference_command_line_trains_evaluates_and_reports(reference_run):
    output, _, lines, config_file = reference_run
    results = json.loads((output / "eval_results.json").read_text())
    assert set(results) == REFERENCE_METRICS and results["global_step"] == 20
    assert 0 < results["next_sentence_accuracy"] < 1
    assert sorted(path.name for path in (output / "training").glob("ckpt-*.index")) == ["ckpt-20.index"]
    assert json.loads((output / "bert_config.json").read_text()) == json.loads(Path(config_file).read_text())
    progress = [match for line in lines if (match := PROGRESS.match(line))]
    # A first call of one step, then calls as long as the machine's speed allows in --progress_seconds.
    steps = [int(match[1]) for match in progress]
    assert steps[0] == 1 and steps[-1] == 20 and steps == sorted(set(steps))
    assert progress[-1][3] != "after the next call"
    assert lines.index("step 0/20: tracing the training loop and running one step; a progress line follows "
                       "every call") < lines.index(progress[0][0])
    assert any(line.startswith("trained steps 0 to 20 in ") for line in lines)


def test_do_train_false_evaluates_only(reference_run, capsys):
    output, argv, _, _ = reference_run
    trained = json.loads((output / "eval_results.json").read_text())
    assert main([arg if arg != "--do_train=True" else "--do_train=False" for arg in argv]) == 0
    summary = capsys.readouterr().out
    assert re.search(r"step 20 of 20; eval masked_lm_accuracy [\d.]+, .*; wall time \d+:\d\d:\d\d$", summary.strip())
    assert json.loads((output / "eval_results.json").read_text()) == pytest.approx(trained)
    assert sorted(path.name for path in (output / "training").glob("ckpt-*.index")) == ["ckpt-20.index"]


def test_another_model_in_the_output_dir_is_refused(reference_run, tmp_path, capsys):
    output, argv, _, _ = reference_run
    deeper = _config_file(tmp_path, BertConfig(**{**CONFIG.to_dict(), "num_hidden_layers": 4}))
    error = _refused([arg if not arg.startswith("--bert_config_file=") else f"--bert_config_file={deeper}"
                      for arg in argv], capsys)
    assert f"{output} holds a checkpoint of another model" in error
    assert "num_hidden_layers 4 vs 2" in error and "give a new --output_dir" in error


def test_lengths_from_the_flags_must_match_the_records(records, tmp_path, capsys):
    command = _reference_command(",".join(map(str, records)), tmp_path / "out", _config_file(tmp_path))
    for flag, lengths in (("--max_seq_length=64", "64 and 20"), ("--max_predictions_per_seq=80", "128 and 80")):
        error = _refused([*command, flag], capsys)
        assert (f"{records[0]}: its records have max_seq_length 128 and max_predictions_per_seq 20, but this run "
                f"reads {lengths}") in error
    assert not (tmp_path / "out" / "training").exists()


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_shard_is_named(records, tmp_path, capsys, damage):
    damaged = tmp_path / "tf_examples-1.tfrecord"
    data = bytearray(records[1].read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2: len(data) // 2 + 8] = b"\xff" * 8
    damaged.write_bytes(bytes(data))
    config_file = _config_file(tmp_path / "config")
    expected = ("does not end with a whole record: it was cut short" if damage == "truncated"
                else "is damaged (truncated or corrupted): corrupted record at")
    error = _refused(_reference_command(f"{records[0]},{damaged}", tmp_path / "out", config_file), capsys)
    assert f"error: {damaged} {expected}" in error
    # Evaluation alone reads it too.
    error = _refused(_reference_command(str(damaged), tmp_path / "eval", config_file, "--do_train=false"), capsys)
    assert f"error: {damaged} {expected}" in error


def test_a_model_name_takes_its_vocab_size_from_the_vocab_file(records, tmp_path, capsys, caplog):
    common = [f"--input_file={records[0]}", "--bert_config_file=bert-tiny", "--num_train_steps=2",
              "--train_batch_size=8", f"--output_dir={tmp_path / 'out'}"]
    error = _refused(["pretrain", *common], capsys)
    assert "takes its vocab_size from the data" in error and "--vocab_file" in error
    caplog.set_level(logging.INFO)
    assert main(["pretrain", *common, f"--vocab_file={VOCAB}", "--master=grpc://10.0.0.2:8470"]) == 0
    written = json.loads((tmp_path / "out" / "bert_config.json").read_text())
    assert written == named_config("bert-tiny", 30522).to_dict()
    assert written["num_attention_heads"] == 2 and written["intermediate_size"] == 512
    assert "--master grpc://10.0.0.2:8470 is ignored" in caplog.text


def test_tensorboard_serves_the_logs(reference_run, tmp_path):
    output = reference_run[0]
    tensorboard = shutil.which("tensorboard", path=str(Path(sys.executable).parent)) or shutil.which("tensorboard")
    assert tensorboard, "tensorboard is installed with the package"
    log = tmp_path / "tensorboard.log"
    with log.open("w") as handle:
        server = subprocess.Popen([tensorboard, "--logdir", str(output), "--port", "0", "--host", "localhost"],
                                  stdout=handle, stderr=subprocess.STDOUT)
    try:
        address = None
        for _ in range(120):
            found = re.search(r"(http://localhost:\d+/)", log.read_text())
            if found:
                address = found[1]
                break
            assert server.poll() is None, log.read_text()
            time.sleep(0.5)
        assert address, log.read_text()
        with urllib.request.urlopen(f"{address}data/plugin/scalars/tags", timeout=30) as response:
            tags = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert {"loss", "masked_lm_loss", "next_sentence_loss", "learning_rate", "examples_per_second"} <= set(tags["train"])
    assert REFERENCE_METRICS - {"global_step"} <= set(tags["eval"])


def test_the_two_reference_command_lines_chain(tmp_path, capsys):
    """create_pretraining_data.py's command line, then run_pretraining.py's on its output: the metadata.json
    written beside the file describes it (sizes and lengths checked, vocab_size for a model name)."""
    examples = tmp_path / "tf_examples.tfrecord"
    assert main(["pretraining-data", f"--input_file={BOOKS}", f"--output_file={examples}", f"--vocab_file={VOCAB}",
                 "--do_lower_case=True", "--max_seq_length=128", "--max_predictions_per_seq=20",
                 "--masked_lm_prob=0.15", "--random_seed=12345", "--dupe_factor=1"]) == 0
    command = _reference_command(str(examples), tmp_path / "pretraining_output", "bert-tiny",
                                 "--num_train_steps=2", "--num_warmup_steps=1", "--do_eval=False")
    error = _refused([*command, "--max_seq_length=512"], capsys)
    assert f"{tmp_path}/metadata.json: max_seq_length is 128 in the data but 512" in error
    assert main(command) == 0
    assert json.loads((tmp_path / "pretraining_output" / "bert_config.json").read_text())["vocab_size"] == 30522
    with examples.open("ab") as handle:
        handle.write(b"\0" * 10)
    error = _refused(command, capsys)
    assert "tf_examples.tfrecord has" in error and "bytes, not the" in error
