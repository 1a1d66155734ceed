"""`bertprep distill` end to end with tiny teachers and students: the files `finetune classify` writes plus the
teacher's metrics and speed, labels reused on a rerun and refused when they are another labelling's,
regression, and the refusals that keep a student from learning the wrong thing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipelines.cli import main as cli
from tests.support.distillation import GLUE, distill_flags, tiny_config, train_teacher


@pytest.fixture(scope="module")
def sst2_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_teacher(tmp_path_factory.mktemp("sst2-teacher"), "SST-2", GLUE / "SST-2")


def _sst2_with_test(folder: Path) -> Path:
    data = folder / "sst-2"
    shutil.copytree(GLUE / "SST-2", data)
    reviews = [row.split("\t")[0] for row in (GLUE / "SST-2" / "dev.tsv").read_text().splitlines()[1:20]]
    (data / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{text}\n" for i, text in enumerate(reviews)))
    return data


def test_distil_evaluate_predict_export_and_rerun(sst2_teacher: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    data = _sst2_with_test(tmp_path)
    transfer = tmp_path / "reviews.txt"
    transfer.write_text("a moving , funny film\nthe plot never comes together\n")
    out = tmp_path / "student"
    config = tiny_config(tmp_path / "config")
    flags = [*distill_flags("sst-2", data, sst2_teacher, config, out), f"--transfer_file={transfer}"]
    assert cli.main([*flags, "--do_train", "--do_eval", "--do_predict", "--alpha=0.5", "--temperature=3",
                     "--export_dir", str(tmp_path / "export")]) == 0
    printed = capsys.readouterr().out
    assert "98 records labelled by the teacher (96 with gold labels, 1 transfer files)" in printed

    # 98 labelled examples / 16 = 6 steps; OUTPUT_DIR describes the student as a fine-tuned classifier.
    assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-6")
    labels = json.loads((out / "labels.json").read_text())
    assert labels == {"task": "sst-2", "labels": ["0", "1"], "regression": False, "do_lower_case": True,
                      "max_seq_length": 24}
    results = json.loads((out / "eval_results.json").read_text())
    teacher_results = json.loads((sst2_teacher / "eval_results.json").read_text())
    assert results["num_examples"] == 64 and results["global_step"] == 6
    assert results["teacher_eval_accuracy"] == pytest.approx(teacher_results["eval_accuracy"])
    assert results["temperature"] == 3.0 and results["alpha"] == 0.5
    assert results["student_speedup"] == pytest.approx(
        results["student_examples_per_second"] / results["teacher_examples_per_second"])
    probabilities = np.loadtxt(out / "test_results.tsv", delimiter="\t")
    assert probabilities.shape == (19, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    served = tf.saved_model.load(str(tmp_path / "export"))
    reviews = [row.split("\t")[1] for row in (data / "test.tsv").read_text().splitlines()[1:]]
    outputs = served.signatures["serving_default"](text_a=tf.constant(reviews), text_b=tf.constant([""] * 19))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), probabilities, atol=1e-5)

    # Other student settings reuse the labels; another labelling is refused, naming the flag to change.
    labels_file = out / "teacher_labels" / "labels-00000-00000.tfrecord"
    before = labels_file.stat().st_mtime_ns
    assert cli.main([*distill_flags("sst-2", data, sst2_teacher, config, tmp_path / "student-2"), "--labels_dir",
                     str(out / "teacher_labels"), f"--transfer_file={transfer}", "--do_train", "--alpha=0"]) == 0
    assert "already complete" in capsys.readouterr().out and labels_file.stat().st_mtime_ns == before
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*flags, "--do_train", "--max_seq_length=20"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "holds the output of another run" in error and "max_seq_length 24 there, 20 now" in error
    assert "--labels_dir" in error and labels_file.stat().st_mtime_ns == before
    assert cli.main([*flags, "--do_train", "--max_seq_length=20", "--overwrite"]) == 0
    metadata = json.loads((out / "teacher_labels" / "metadata.json").read_text())
    assert metadata["feature_spec"]["input_ids"]["shape"] == [20]


def test_regression_distils_the_teachers_scores(tmp_path: Path) -> None:
    teacher = train_teacher(tmp_path / "teacher", "STS-B", GLUE / "STS-B")
    out = tmp_path / "student"
    assert cli.main([*distill_flags("sts-b", GLUE / "STS-B", teacher, tiny_config(tmp_path / "config"), out),
                     "--do_train", "--do_eval"]) == 0
    results = json.loads((out / "eval_results.json").read_text())
    teacher_results = json.loads((teacher / "eval_results.json").read_text())
    for name in ("eval_pearson", "eval_spearman"):
        assert results[f"teacher_{name}"] == pytest.approx(teacher_results[name], abs=1e-6)
    metadata = json.loads((out / "teacher_labels" / "metadata.json").read_text())
    assert metadata["labels"] == [] and set(metadata["teacher_gold_metrics"]) == {"mse"}
    assert metadata["feature_spec"]["teacher_logits"]["shape"] == [1]


def test_refusals_name_what_to_change(sst2_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tiny_config(tmp_path / "config")
    out = tmp_path / "student"
    no_labels = tmp_path / "no-labels"
    shutil.copytree(sst2_teacher, no_labels)
    (no_labels / "labels.json").unlink()
    gz = tmp_path / "more.tsv.gz"
    gz.write_bytes(b"")
    column = tmp_path / "column"
    column.mkdir()
    (column / "train.tsv").write_text("text\tsentiment\nfine\t1\nbad\t0\n")
    column_teacher = tmp_path / "column-teacher"  # a teacher of a column task with labels 0, 1
    shutil.copytree(sst2_teacher, column_teacher)
    labels = json.loads((column_teacher / "labels.json").read_text())
    (column_teacher / "labels.json").write_text(json.dumps({**labels, "task": "column"}))
    cases = [
        (["--task_name=cola", f"--data_dir={GLUE / 'CoLA'}"], "was fine-tuned on task sst-2, not cola"),
        (["--task_name=column", f"--data_dir={column}", "--text_a_column=text", "--label_column=sentiment",
          "--labels=1,0", f"--teacher={column_teacher}"], "outputs labels ['0', '1'], but task column has ['1', '0']"),
        ([f"--teacher={no_labels}"], "no labels.json, so its outputs' labels are unknown"),
        (["--do_lower_case=false"], "is an uncased vocab (no token has a capital) but the text keeps its case"),
        (["--temperature=0"], "--temperature must be positive"),
        (["--alpha=1.5"], "--alpha must be in [0, 1]"),
        ([f"--transfer_file={tmp_path / 'nothing-*.txt'}"], "matches no file"),
        ([f"--transfer_file={gz}"], "give TSV/CSV transfer files uncompressed"),
        (["--teacher_batch_size=0"], "--teacher_batch_size must be at least 1"),
        (["--nodo_train", "--do_eval", "--labels_dir=elsewhere"], "--labels_dir is used only with --do_train"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*distill_flags("sst-2", GLUE / "SST-2", sst2_teacher, config, out), "--do_train", *extra])
        assert exit_info.value.code == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not (out / "teacher_labels").exists() and not list(out.glob("model.ckpt-*"))
