"""`bertprep export` and --export_transformers through main(): a fine-tuned classifier's folder (labels from
its labels.json), a pretraining run (vocab and casing from the data's metadata.json), and the usage errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.cli.main import main
from tests.support.paths import DATA, REPO, UNCASED_VOCAB

transformers = pytest.importorskip("transformers")

GLUE = DATA / "finetune" / "glue"
BOOKS = REPO / "tests" / "data" / "bert_text" / "books-en.txt"


def test_a_finetuned_classifier_exports_with_its_labels(tiny_bert, finetune, tmp_path: Path) -> None:
    tiny = tiny_bert(64)
    out = tmp_path / "out"
    finetune("classify", "--task_name", "rte", "--data_dir", str(GLUE / "RTE"), "--vocab_file", str(UNCASED_VOCAB),
             "--bert_config_file", tiny.config_file, "--init_checkpoint", tiny.checkpoint, "--output_dir", str(out),
             "--max_seq_length", "32", "--do_train", "--train_batch_size", "16", "--num_train_epochs", "1",
             "--export_transformers", str(tmp_path / "at_the_end"))
    assert json.loads((out / "labels.json").read_text()) == {
        "task": "rte", "labels": ["entailment", "not_entailment"], "regression": False, "do_lower_case": True,
        "max_seq_length": 32}
    # The folder holds the vocab it was trained with, so the export needs no --vocab_file.
    assert (out / "vocab.txt").read_bytes() == UNCASED_VOCAB.read_bytes()
    assert main(["export", "--checkpoint", str(out), "--output_dir", str(tmp_path / "hf")]) == 0

    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "hf"))
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "entailment", 1: "not_entailment"}
    assert model.config.problem_type == "single_label_classification"
    # The flag at the end of the run and the command write the same folder.
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "hf" / name).read_bytes() == (tmp_path / "at_the_end" / name).read_bytes(), name


def test_a_pretraining_run_exports_its_data_vocab(tiny_bert, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["pretraining-data", "--input", f"bert-text:{BOOKS}", "--vocab", str(UNCASED_VOCAB),
                 "--output", str(data), "--dupe_factor", "1", "--lengths", "64:10"]) == 0
    tiny = tiny_bert(64, checkpoint=False)
    assert main(["pretrain", "--data", str(data / "seq64"), "--bert_config_file", tiny.config_file,
                 "--output_dir", str(tmp_path / "out"), "--train_steps", "2", "--batch_size", "4",
                 "--export_transformers", str(tmp_path / "hf")]) == 0
    model = transformers.AutoModelForPreTraining.from_pretrained(str(tmp_path / "hf"))
    assert type(model).__name__ == "BertForPreTraining"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert tokenizer.do_lower_case and tokenizer("Hello")["input_ids"] == [101, 7592, 102]
    np.testing.assert_array_equal(model.bert.embeddings.position_embeddings.weight.shape, [64, 32])


def test_exports_that_cannot_work_name_the_fix(tiny_bert, tmp_path: Path, capsys) -> None:
    tiny = tiny_bert(64)
    (tiny.folder / "vocab.txt").unlink()
    cases = (([], "give the model's vocab as --vocab_file"),
             (["--vocab_file", str(UNCASED_VOCAB), "--bert_config_file", str(tmp_path / "none.json")], "none.json"))
    for flags, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["export", "--checkpoint", str(tiny.folder), "--output_dir", str(tmp_path / "hf"), *flags])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--checkpoint", str(tmp_path / "nothing"), "--output_dir", str(tmp_path / "hf")])
    assert "no checkpoint at" in capsys.readouterr().err
    assert not (tmp_path / "hf").exists()
