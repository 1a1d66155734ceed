"""`bertprep distill squad` end to end with a tiny SQuAD teacher: the teacher's logits on the student's windows,
the prediction files and scores of `finetune squad` with the teacher's beside them, the `--task=squad`
spelling, and the refusals (another vocab, a folder that is no SQuAD teacher, transfer data of another kind)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model.config import BertConfig
from bert_model.distillation.span_teacher import WindowScorer
from bert_model.finetuning import initialize_from_checkpoint
from bert_model.squad.data import convert_examples_to_features, feature_arrays, read_squad_examples
from bert_model.squad.model import BertSquad
from formats.distillation_labels import LabelsMetadata
from pipelines.cli import main as cli
from tests.support.distillation import tiny_config
from tests.support.paths import DATA, UNCASED_VOCAB
from vocab.tokenization import FullTokenizer

SQUAD = DATA / "finetune" / "squad" / "train-v2.0-chopin-twilight-princess.json"
WINDOWS = ["--max_seq_length", "64", "--doc_stride", "32", "--max_query_length", "16", "--version_2_with_negative"]


def _squad_files(folder: Path) -> tuple[Path, Path, Path]:
    """Train on the first article's first 3 paragraphs, transfer the next 3 (answers unread), predict the
    second article's first 2."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    first, second = data["data"]
    files = []
    for name, article, paragraphs in (("train", first, first["paragraphs"][:3]),
                                      ("transfer", first, first["paragraphs"][3:6]),
                                      ("dev", second, second["paragraphs"][:2])):
        path = folder / f"{name}.json"
        path.write_text(json.dumps({"version": "v2.0", "data": [{**article, "paragraphs": paragraphs}]}))
        files.append(path)
    return tuple(files)


@pytest.fixture(scope="module")
def squad_teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Path, Path, Path]]:
    root = tmp_path_factory.mktemp("squad-teacher")
    files = _squad_files(root)
    out = root / "teacher"
    assert cli.main(["finetune", "squad", "--train_file", str(files[0]), "--predict_file", str(files[2]), *WINDOWS,
                     "--vocab_file", str(UNCASED_VOCAB), "--bert_config_file", tiny_config(root / "config"),
                     "--output_dir", str(out), "--do_train", "--do_predict", "--train_batch_size", "16",
                     "--num_train_epochs", "2", "--learning_rate", "1e-3"]) == 0
    return out, files


def _distill(teacher: Path, files: tuple[Path, Path, Path], out: Path, config: str, *extra: str) -> list[str]:
    return ["distill", "--task=squad", "--train_file", str(files[0]), "--predict_file", str(files[2]), *WINDOWS,
            "--teacher", str(teacher), "--student_config", config, "--vocab_file", str(UNCASED_VOCAB),
            "--train_batch_size", "16", "--num_train_epochs", "1", "--learning_rate", "1e-3", "--output_dir", str(out),
            *extra]


def test_distil_squad_from_the_teachers_window_logits(squad_teacher, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    teacher, files = squad_teacher
    out = tmp_path / "student"
    assert cli.main(_distill(teacher, files, out, tiny_config(tmp_path / "config"), "--do_train", "--do_predict",
                             f"--transfer_file={files[1]}", "--alpha=0.2")) == 0
    assert "student distilled from" in capsys.readouterr().out

    # Every window of the train questions (gold spans) and of the transfer questions (none), in that order,
    # with the teacher's logits on exactly those windows.
    tokenizer = FullTokenizer(str(UNCASED_VOCAB))
    train, _ = read_squad_examples(str(files[0]), True, True)
    transfer, _ = read_squad_examples(str(files[1]), False, True)
    gold = feature_arrays(list(convert_examples_to_features(train, tokenizer, 64, 32, 16, True)), True)
    other = feature_arrays(list(convert_examples_to_features(transfer, tokenizer, 64, 32, 16, False)), False)
    labels = out / "teacher_labels"
    metadata = LabelsMetadata.from_dict(json.loads((labels / "metadata.json").read_text()))
    assert [(s.examples, s.gold) for s in metadata.sources] == [(len(gold["input_ids"]),) * 2,
                                                                (len(other["input_ids"]), 0)]
    spec = {name: tf.io.FixedLenFeature(f["shape"], tf.int64 if f["dtype"] == "int64" else tf.float32)
            for name, f in metadata.feature_spec.items()}
    records = next(iter(tf.data.TFRecordDataset([str(labels / n) for n in sorted(metadata.file_bytes)])
                        .batch(100_000).map(lambda x: tf.io.parse_example(x, spec))))
    windows = {name: np.concatenate([gold[name], other[name]]) for name in ("input_ids", "input_mask", "segment_ids")}
    for name, values in windows.items():
        np.testing.assert_array_equal(records[name].numpy(), values)
    np.testing.assert_array_equal(records["start_positions"].numpy()[: len(gold["input_ids"])], gold["start_positions"])
    model = BertSquad(BertConfig.from_json_file(str(teacher / "bert_config.json")))
    model.build()
    initialize_from_checkpoint(model, str(teacher))
    start, end = WindowScorer(model, 32).logits(windows)
    np.testing.assert_array_equal(records["teacher_start_logits"].numpy(), start)
    np.testing.assert_array_equal(records["teacher_end_logits"].numpy(), end)

    # The prediction files of finetune squad, and the teacher's scores as the teacher's own run computed them.
    for name in ("predictions.json", "nbest_predictions.json", "null_odds.json", "squad.json", "vocab.txt"):
        assert (out / name).exists(), name
    results = json.loads((out / "eval_results.json").read_text())
    teacher_results = json.loads((teacher / "eval_results.json").read_text())
    for name in ("exact", "f1", "HasAns_f1", "NoAns_f1"):
        assert results[f"teacher_{name}"] == pytest.approx(teacher_results[name])
    assert results["alpha"] == 0.2 and results["student_windows_per_second"] > 0


def test_squad_refusals(squad_teacher, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    teacher, files = squad_teacher
    config = tiny_config(tmp_path / "config")
    wide = tiny_config(tmp_path / "wide", max_position_embeddings=128)  # a student longer than the teacher
    other_vocab = tmp_path / "vocab.txt"
    other_vocab.write_text("".join(UNCASED_VOCAB.read_text().splitlines(keepends=True)[:9000]))
    no_settings = tmp_path / "no-settings"
    shutil.copytree(teacher, no_settings)
    (no_settings / "squad.json").unlink()
    cases = [([f"--vocab_file={other_vocab}"], "reads another vocab or casing than the student"),
             ([f"--teacher={no_settings}"], "has no squad.json"),
             ([f"--transfer_file={files[1].with_suffix('.txt')}"], "matches no file"),
             (["--teacher_batch_size=0"], "--teacher_batch_size must be at least 1"),
             (["--max_seq_length=80", f"--student_config={wide}"], "exceeds the teacher's max_position_embeddings 64")]
    files[1].with_suffix(".jsonl").write_text("{}\n")
    cases.append(([f"--transfer_file={files[1].with_suffix('.jsonl')}"], "give SQuAD JSON files (.json)"))
    for extra, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(_distill(teacher, files, tmp_path / "out", config, "--do_train", *extra))
        assert exit_info.value.code == 2, extra
        assert message in capsys.readouterr().err, extra
    with pytest.raises(SystemExit):
        cli.main(["distill", "--task=translation", "--do_train"])
    assert "invalid choice: 'translation'" in capsys.readouterr().err
