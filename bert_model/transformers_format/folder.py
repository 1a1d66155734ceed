"""Reading a transformers BERT folder: config.json, model.safetensors (or shards listed by
model.safetensors.index.json), and vocab.txt and tokenizer_config.json when present. Safetensors are read with
numpy, not torch, through tf.io.gfile, so gs:// folders read as local ones."""
from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Any

import numpy as np
import tensorflow as tf
from safetensors.numpy import load as load_safetensors

from bert_model.checkpoints import CheckpointError
from bert_model.config import BertConfig, ConfigError
from bert_model.transformers_format.config import bert_config_from_transformers
from bert_model.transformers_format.weights import reference_arrays

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


@dataclasses.dataclass(frozen=True)
class TransformersSettings:
    """What a transformers BERT folder says besides its weights: the config, the tokenizer's casing (None when the
    folder does not say) and its vocab.txt (None when it has none)."""

    config: BertConfig
    do_lower_case: bool | None
    vocab_file: str | None


@dataclasses.dataclass(frozen=True)
class TransformersModel:
    """A transformers BERT folder as this model reads it: the config, the weights under reference names, the
    tokenizer's casing (None when the folder does not say) and its vocab.txt (None when it has none)."""

    config: BertConfig
    arrays: dict[str, np.ndarray]
    do_lower_case: bool | None
    vocab_file: str | None


def is_transformers_folder(path: str) -> bool:
    """Whether `path` is a folder with config.json and model.safetensors (or its shard index)."""
    return tf.io.gfile.exists(posixpath.join(path, CONFIG_FILE)) and any(
        tf.io.gfile.exists(posixpath.join(path, name)) for name in (WEIGHTS_FILE, WEIGHTS_INDEX_FILE))


def _read_json(path: str) -> Any:
    with tf.io.gfile.GFile(path) as handle:
        text = handle.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not JSON: {error}") from None


def _weight_files(path: str) -> list[str]:
    """model.safetensors, or the shards its index names."""
    index = posixpath.join(path, WEIGHTS_INDEX_FILE)
    if not tf.io.gfile.exists(index):
        return [posixpath.join(path, WEIGHTS_FILE)]
    weight_map = _read_json(index).get("weight_map")
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index} has no weight_map")
    return [posixpath.join(path, name) for name in sorted(set(weight_map.values()))]


def _read_tensors(path: str) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for name in _weight_files(path):
        with tf.io.gfile.GFile(name, "rb") as handle:
            tensors.update(load_safetensors(handle.read()))
    return tensors


def _do_lower_case(path: str) -> bool | None:
    name = posixpath.join(path, TOKENIZER_CONFIG_FILE)
    if not tf.io.gfile.exists(name):
        return None
    value = _read_json(name).get("do_lower_case")
    return value if isinstance(value, bool) else None


def read_transformers_settings(path: str) -> TransformersSettings:
    """The config, casing and vocab of the transformers folder `path`, without its weights. ConfigError for a
    config that is no BERT this model computes."""
    config_file = posixpath.join(path, CONFIG_FILE)
    try:
        config = bert_config_from_transformers(_read_json(config_file))
    except ConfigError as error:
        raise ConfigError(f"{config_file}: {error}") from None
    vocab = posixpath.join(path, VOCAB_FILE)
    return TransformersSettings(config, _do_lower_case(path), vocab if tf.io.gfile.exists(vocab) else None)


def read_transformers_folder(path: str) -> TransformersModel:
    """The model in the transformers folder `path`. ConfigError for a config that is no BERT this model computes,
    CheckpointError for a weight with no place in it."""
    settings = read_transformers_settings(path)
    try:
        arrays = reference_arrays(_read_tensors(path))
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return TransformersModel(config=settings.config, arrays=arrays, do_lower_case=settings.do_lower_case,
                             vocab_file=settings.vocab_file)
