"""The reference create_pretraining_data.py command line, copied from the BERT README, runs unchanged."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.cli.main import main
from tests.support.pretraining_data import BOOKS, VOCAB, read_dataset

# The README's command, flag for flag (only the paths are the test's).
README_FLAGS = ["--do_lower_case=True", "--max_seq_length=128", "--max_predictions_per_seq=20",
                "--masked_lm_prob=0.15", "--random_seed=12345", "--dupe_factor=5"]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    shutil.copy(BOOKS, tmp_path / "sample_text.txt")
    shutil.copy(VOCAB, tmp_path / "vocab.txt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_command_writes_the_named_file_and_metadata_beside_it(workdir, capsys):
    output = workdir / "tmp" / "tf_examples.tfrecord"
    assert main(["pretraining-data", "--input_file=sample_text.txt", f"--output_file={output}",
                 "--vocab_file=vocab.txt", *README_FLAGS]) == 0
    assert sorted(path.name for path in output.parent.iterdir()) == ["metadata.json", "tf_examples.tfrecord"]
    metadata, features = read_dataset(output.parent)
    assert metadata.files == ["tf_examples.tfrecord"]
    assert metadata.file_bytes == {"tf_examples.tfrecord": output.stat().st_size}
    assert (metadata.max_seq_length, metadata.max_predictions_per_seq, metadata.seed, metadata.dupe_factor,
            metadata.do_lower_case, metadata.masked_lm_prob) == (128, 20, 12345, 5, True, 0.15)
    assert len(features["input_ids"]) == metadata.num_instances > 1000
    assert f"wrote {output}: {metadata.num_instances} instances" in capsys.readouterr().out


def test_comma_separated_inputs_and_outputs_and_the_reference_defaults(workdir):
    half = Path(BOOKS).read_text(encoding="utf-8").split("\n\n")
    (workdir / "a.txt").write_text("\n\n".join(half[: len(half) // 2]), encoding="utf-8")
    (workdir / "b.txt").write_text("\n\n".join(half[len(half) // 2:]), encoding="utf-8")
    outputs = [workdir / "out" / "one.tfrecord", workdir / "out" / "two.tfrecord"]
    # No length, seed or dupe_factor flags: the reference's defaults (128/20, 12345, 10) apply.
    assert main(["pretraining-data", "--input_file=a.txt,b*.txt", f"--output_file={outputs[0]},{outputs[1]}",
                 "--vocab_file=vocab.txt"]) == 0
    metadata, features = read_dataset(workdir / "out")
    assert metadata.files == ["one.tfrecord", "two.tfrecord"] and all(path.stat().st_size for path in outputs)
    assert (metadata.max_seq_length, metadata.max_predictions_per_seq, metadata.seed, metadata.dupe_factor) == (
        128, 20, 12345, 10)
    assert metadata.counters["documents"] == len([block for block in half if block.strip()])
    assert not [path for path in (workdir / "out").iterdir() if path.name.startswith(".")]  # no work folder left


@pytest.mark.parametrize("flags, message", [
    (["--output_file=x/a.tfrecord,y/b.tfrecord"], "distinct files in one folder, none named metadata.json"),
    (["--output_file=a.tfrecord", "--lengths=128:20,512:80"], "holds one length"),
    (["--output_file=a.tfrecord,b.tfrecord", "--num_shards=3"], "names 2 files"),
    (["--output_file=a.tfrecord", "--output=folder"], "either --output FOLDER or --output_file"),
    (["--output_file=a.tfrecord", "--lengths=128:20", "--max_seq_length=64"], "either --lengths or"),
])
def test_contradicting_output_flags_are_refused(workdir, capsys, flags, message):
    with pytest.raises(SystemExit) as stopped:
        main(["pretraining-data", "--input_file=sample_text.txt", "--vocab_file=vocab.txt", *flags])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert sorted(path.name for path in workdir.iterdir()) == ["sample_text.txt", "vocab.txt"]


def test_a_rerun_is_complete_and_another_run_into_the_same_files_needs_overwrite(workdir, capsys):
    output = workdir / "out" / "tf_examples.tfrecord"
    argv = ["pretraining-data", "--input_file=sample_text.txt", f"--output_file={output}", "--vocab_file=vocab.txt",
            "--dupe_factor=1"]
    (workdir / "out").mkdir()
    (workdir / "out" / "notes.txt").write_text("mine")
    assert main(argv) == 0
    before = output.stat().st_mtime_ns
    assert main(argv) == 0
    assert "already complete" in capsys.readouterr().out and output.stat().st_mtime_ns == before
    with pytest.raises(SystemExit):
        main([*argv, "--random_seed=7"])
    assert "--overwrite" in capsys.readouterr().err and output.stat().st_mtime_ns == before
    assert main([*argv, "--random_seed=7", "--overwrite"]) == 0
    metadata, _ = read_dataset(workdir / "out")
    assert metadata.seed == 7 and (workdir / "out" / "notes.txt").read_text() == "mine"
