"""OUTPUT_DIR/squad.json beside a fine-tuned SQuAD model's checkpoints (with its bert_config.json and vocab.txt):
how its windows were made and its text cased, so that the folder can be used again, as a distillation teacher
for one, without restating them."""
from __future__ import annotations

import dataclasses
import json
import posixpath

import tensorflow as tf

SQUAD_FILE = "squad.json"


@dataclasses.dataclass(frozen=True)
class SquadSettings:
    do_lower_case: bool
    max_seq_length: int
    doc_stride: int
    max_query_length: int
    version_2_with_negative: bool


def write_settings(settings: SquadSettings, folder: str) -> str:
    """Writes FOLDER/squad.json; its path."""
    tf.io.gfile.makedirs(folder)
    path = posixpath.join(folder, SQUAD_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(dataclasses.asdict(settings), indent=2) + "\n")
    return path


def read_settings(folder: str) -> SquadSettings | None:
    """FOLDER/squad.json, or None where the folder has none."""
    path = posixpath.join(folder, SQUAD_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as handle:
        return SquadSettings(**json.loads(handle.read()))
