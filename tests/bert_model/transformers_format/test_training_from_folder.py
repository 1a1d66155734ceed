"""`finetune classify`, `finetune squad` and `pretrain` started from a transformers BERT folder alone (no
--bert_config_file, no --vocab_file): they run, log the encoder as loaded from the folder and take its casing;
a --bert_config_file that differs from the folder's config.json is refused, and without a folder the flags are
still asked for."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bert_model.config import BertConfig
from pipelines.cli.main import main
from tests.support.paths import DATA, REPO, UNCASED_VOCAB

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

SHAPE = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 37, "max_position_embeddings": 64, "type_vocab_size": 2}
SST2 = DATA / "finetune" / "glue" / "SST-2"
SQUAD = DATA / "finetune" / "squad" / "train-v2.0-chopin-twilight-princess.json"
BOOKS = REPO / "tests" / "data" / "bert_text" / "books-en.txt"
DIFFERS = "differs from the --init_checkpoint folder's config.json (hidden_act gelu vs gelu_exact)"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A random transformers BertForPreTraining (exact GELU) with the uncased vocab, whose tokenizer_config.json
    says cased, so that the casing a command uses shows where it came from."""
    path = tmp_path_factory.mktemp("transformers") / "model"
    torch.manual_seed(7)
    transformers.BertForPreTraining(transformers.BertConfig(**SHAPE, hidden_act="gelu")).save_pretrained(path)
    (path / "vocab.txt").write_bytes(UNCASED_VOCAB.read_bytes())
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return path


@pytest.fixture(scope="module")
def tanh_config(folder: Path) -> str:
    """A bert_config.json of the folder's shape with the tanh GELU: one field off the folder's config."""
    path = folder.parent / "bert_config.json"
    BertConfig.from_dict({**SHAPE, "hidden_act": "gelu"}).to_json_file(str(path))
    return str(path)


def _refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_finetune_classify_from_the_folder_alone(folder, tanh_config, tmp_path, caplog, capsys):
    common = ["finetune", "classify", "--task_name", "sst-2", "--data_dir", str(SST2), "--do_train",
              "--max_seq_length", "32", "--train_batch_size", "16", "--num_train_epochs", "0.34"]
    caplog.set_level(logging.INFO)
    assert main([*common, "--init_checkpoint", str(folder), "--output_dir", str(tmp_path / "out"),
                 "--export_transformers", str(tmp_path / "hf")]) == 0
    assert f"encoder variables from {folder}; head newly initialized" in caplog.text
    assert "trained 2 steps" in capsys.readouterr().out
    # The export at the end writes the folder's vocab and casing.
    assert (tmp_path / "hf" / "vocab.txt").read_bytes() == (folder / "vocab.txt").read_bytes()
    assert json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())["do_lower_case"] is False

    error = _refused([*common, "--init_checkpoint", str(folder), "--bert_config_file", tanh_config,
                      "--output_dir", str(tmp_path / "refused")], capsys)
    assert f"--bert_config_file {tanh_config} {DIFFERS}" in error
    # Without a transformers folder the flags are still needed, and the error names the one to add.
    assert "give --vocab_file" in _refused([*common, "--output_dir", str(tmp_path / "none")], capsys)
    error = _refused([*common, "--vocab_file", str(UNCASED_VOCAB), "--output_dir", str(tmp_path / "none")], capsys)
    assert "give --bert_config_file" in error


def test_finetune_squad_from_the_folder_alone(folder, tanh_config, tmp_path, caplog, capsys):
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    for article in data["data"]:
        article["paragraphs"] = article["paragraphs"][:1]
    train = tmp_path / "train.json"
    train.write_text(json.dumps(data), encoding="utf-8")
    common = ["finetune", "squad", "--train_file", str(train), "--do_train", "--version_2_with_negative",
              "--init_checkpoint", str(folder), "--max_seq_length", "64", "--doc_stride", "32",
              "--max_query_length", "16", "--train_batch_size", "8", "--num_train_epochs", "0.5"]
    caplog.set_level(logging.INFO)
    assert main([*common, "--output_dir", str(tmp_path / "out")]) == 0
    assert f"encoder variables from {folder}; head newly initialized" in caplog.text
    assert "trained " in capsys.readouterr().out

    error = _refused([*common, "--bert_config_file", tanh_config, "--output_dir", str(tmp_path / "refused")], capsys)
    assert DIFFERS in error


def test_pretrain_from_the_folder_alone(folder, tanh_config, tmp_path, caplog, capsys):
    data = tmp_path / "data"
    assert main(["pretraining-data", "--input", f"bert-text:{BOOKS}", "--vocab", str(UNCASED_VOCAB),
                 "--output", str(data), "--dupe_factor", "1", "--lengths", "64:10"]) == 0
    common = ["pretrain", "--data", str(data / "seq64"), "--train_steps", "2", "--batch_size", "4"]
    caplog.set_level(logging.INFO)
    assert main([*common, "--init_checkpoint", str(folder), "--output_dir", str(tmp_path / "out")]) == 0
    assert f"variables from {folder}" in caplog.text
    written = json.loads((tmp_path / "out" / "bert_config.json").read_text())
    assert written["hidden_act"] == "gelu_exact" and written["intermediate_size"] == SHAPE["intermediate_size"]

    error = _refused([*common, "--init_checkpoint", str(folder), "--bert_config_file", tanh_config,
                      "--output_dir", str(tmp_path / "refused")], capsys)
    assert DIFFERS in error
    assert "give --bert_config_file" in _refused([*common, "--output_dir", str(tmp_path / "none")], capsys)
