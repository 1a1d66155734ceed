"""What the distillation tests share: a tiny teacher fine-tuned by the real `finetune classify` command, and
the command lines that distil from it."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.cli import main as cli
from tests.support.paths import DATA, UNCASED_VOCAB

GLUE = DATA / "finetune" / "glue"
# Two layers of 32 units over the uncased vocab: trains in seconds.
TINY_CONFIG = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
               "intermediate_size": 64, "type_vocab_size": 2, "max_position_embeddings": 64}


def tiny_config(folder: Path, **changes: int) -> str:
    """TINY_CONFIG (with `changes`) as FOLDER/bert_config.json; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bert_config.json"
    path.write_text(json.dumps({**TINY_CONFIG, **changes}))
    return str(path)


def train_teacher(folder: Path, task: str, data_dir: Path, *flags: str) -> Path:
    """A tiny BERT fine-tuned on `task` from random weights at length 32 (FOLDER/model, with `flags` such as
    --export_dir): a real teacher folder, if not a good one."""
    config = tiny_config(folder / "config")
    out = folder / "model"
    assert cli.main(["finetune", "classify", "--task_name", task, "--data_dir", str(data_dir), "--vocab_file",
                     str(UNCASED_VOCAB), "--bert_config_file", config, "--max_seq_length", "32", "--output_dir",
                     str(out), "--do_train", "--do_eval", "--train_batch_size", "16", "--num_train_epochs", "2",
                     "--learning_rate", "1e-3", "--eval_batch_size", "16", *flags]) == 0
    return out


def distill_flags(task: str, data_dir: Path, teacher: Path, config: str, output_dir: Path,
                  vocab_file: Path = UNCASED_VOCAB) -> list[str]:
    """A `bertprep distill` command line training a student of `config` from random weights at length 24."""
    return ["distill", "--task_name", task, "--data_dir", str(data_dir), "--teacher", str(teacher),
            "--student_config", config, "--vocab_file", str(vocab_file), "--do_lower_case=true",
            "--max_seq_length", "24", "--train_batch_size", "16", "--learning_rate", "1e-3", "--num_train_epochs", "1",
            "--eval_batch_size", "16", "--output_dir", str(output_dir)]
