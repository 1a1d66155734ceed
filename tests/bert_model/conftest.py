"""Fixtures of the model tests: a tiny BERT on disk as a released model is laid out, and the fine-tuning
command run end to end."""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from bert_model.checkpoints import save_checkpoint
from bert_model.config import BertConfig
from bert_model.modeling import BertPretrainer
from pipelines.cli import main as cli
from tests.support.paths import UNCASED_VOCAB

# Two layers of 32 units over the uncased vocab: trains in seconds, and reads the real vocab.
TINY_BERT = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "type_vocab_size": 2}


@dataclasses.dataclass(frozen=True)
class TinyBert:
    """A folder as a released BERT is laid out: bert_config.json, bert_model.ckpt (when asked), vocab.txt."""

    folder: Path
    config: BertConfig

    @property
    def config_file(self) -> str:
        return str(self.folder / "bert_config.json")

    @property
    def checkpoint(self) -> str:
        return str(self.folder / "bert_model.ckpt")

    @property
    def vocab_file(self) -> str:
        return str(self.folder / "vocab.txt")


@pytest.fixture
def tiny_bert(tmp_path: Path) -> Callable[..., TinyBert]:
    """`tiny_bert(max_position_embeddings)`: TINY_BERT's config in a new folder under tmp_path, with the
    uncased vocab and, unless `checkpoint=False`, a freshly initialized pretrainer's weights in the reference
    layout (with `global_step` when given), as `bertprep pretrain` or a BERT release leaves them."""
    numbers = itertools.count(1)

    def make(max_position_embeddings: int, *, checkpoint: bool = True, global_step: int | None = None) -> TinyBert:
        model = TinyBert(tmp_path / f"uncased_L-2_H-32_A-2-{next(numbers)}",
                         BertConfig.from_dict({**TINY_BERT, "max_position_embeddings": max_position_embeddings}))
        model.folder.mkdir()
        model.config.to_json_file(model.config_file)
        (model.folder / "vocab.txt").write_bytes(UNCASED_VOCAB.read_bytes())
        if checkpoint:
            pretrainer = BertPretrainer(model.config)
            pretrainer.build()
            save_checkpoint(pretrainer, model.checkpoint, global_step=global_step)
        return model

    return make


@pytest.fixture
def finetune() -> Callable[..., None]:
    """`finetune(TASK, *flags)`: runs `bertprep finetune TASK` with the flags and checks that it succeeded."""

    def run(task: str, *flags: str) -> None:
        assert cli.main(["finetune", task, *flags]) == 0

    return run
