"""`BertConfig`: the model's shape, read from and written to the reference `bert_config.json`."""
from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

import keras
import tensorflow as tf

_log = logging.getLogger(__name__)

CONFIG_FILE = "bert_config.json"

# hidden_act names. "gelu" is the tanh approximation, as the reference computes it
# (and as Hugging Face calls "gelu_new"); "gelu_exact" is the erf form, which
# Hugging Face configs call "gelu" — convert such configs to "gelu_exact".
ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "gelu": lambda x: keras.ops.gelu(x, approximate=True),
    "gelu_new": lambda x: keras.ops.gelu(x, approximate=True),
    "gelu_exact": lambda x: keras.ops.gelu(x, approximate=False),
    "relu": keras.ops.relu,
    "swish": keras.ops.silu,
    "silu": keras.ops.silu,
    "tanh": keras.ops.tanh,
}


class ConfigError(ValueError):
    """A config that cannot describe a BERT model; the message names the field."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of the reference bert_config.json, with its defaults."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        for field in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                f"{self.num_attention_heads}: each head gets hidden_size / num_attention_heads dimensions"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"unknown hidden_act {self.hidden_act!r}; use one of {', '.join(ACTIVATIONS)}")
        for field in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0 <= getattr(self, field) < 1:
                raise ConfigError(f"{field} must be in [0, 1), got {getattr(self, field)!r}")
        if self.initializer_range <= 0:
            raise ConfigError(f"initializer_range must be positive, got {self.initializer_range!r}")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def activation(self) -> Callable[[Any], Any]:
        return ACTIVATIONS[self.hidden_act]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BertConfig:
        """Unknown keys are logged and ignored, as the reference ignores them
        (multilingual configs carry pooler_* and directionality)."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"a config is a JSON object, got {type(values).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        extra = sorted(set(values) - known)
        if extra:
            _log.warning("bert config: ignoring keys this model does not use: %s", ", ".join(extra))
        if "vocab_size" not in values:
            raise ConfigError("the config has no vocab_size")
        return cls(**{key: value for key, value in values.items() if key in known})

    @classmethod
    def from_json_file(cls, path: str) -> BertConfig:
        with tf.io.gfile.GFile(path) as handle:
            text = handle.read()
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not JSON: {error}") from None
        try:
            return cls.from_dict(values)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str) -> None:
        with tf.io.gfile.GFile(path, "w") as handle:
            handle.write(self.to_json_string())


# The released BERT models by name: the 24 miniatures (google-research/bert, "Well-Read Students Learn Better")
# as L-<layers>_H-<hidden>, their five short names, and BERT-Large. Heads are hidden / 64 and the feed-forward
# width 4 * hidden in all of them; the other fields are those of their published bert_config.json files.
MINIATURE_LAYERS = (2, 4, 6, 8, 10, 12)
MINIATURE_HIDDEN = (128, 256, 512, 768)
SHORT_NAMES = {"bert-tiny": (2, 128), "bert-mini": (4, 256), "bert-small": (4, 512), "bert-medium": (8, 512),
               "bert-base": (12, 768), "bert-large": (24, 1024)}
_MINIATURE = re.compile(r"L-(\d+)_H-(\d+)")
_RELEASED = {"hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
             "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02}


def _named_shape(name: str) -> tuple[int, int] | None:
    """(layers, hidden) of a model name, None when `name` is not one."""
    if name.lower() in SHORT_NAMES:
        return SHORT_NAMES[name.lower()]
    match = _MINIATURE.fullmatch(name)
    if match and int(match[1]) in MINIATURE_LAYERS and int(match[2]) in MINIATURE_HIDDEN:
        return int(match[1]), int(match[2])
    return None


def is_config_name(value: str) -> bool:
    """Whether `value` names a released model (`bert-tiny`, `L-4_H-256`, `bert-large`, ...)."""
    return _named_shape(value) is not None


def config_names() -> list[str]:
    """Every name `named_config` takes."""
    return [*SHORT_NAMES, *(f"L-{layers}_H-{hidden}" for layers in MINIATURE_LAYERS for hidden in MINIATURE_HIDDEN)]


def named_config(name: str, vocab_size: int) -> BertConfig:
    """The config of a released model by name, with the vocabulary size of the data or vocab file it is used with."""
    shape = _named_shape(name)
    if shape is None:
        raise ConfigError(f"{name!r} is not a model name; use one of {', '.join(SHORT_NAMES)} or "
                          "L-<2..12>_H-<128|256|512|768>")
    layers, hidden = shape
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=hidden // 64, intermediate_size=4 * hidden, **_RELEASED)


def load_config(value: str, vocab_size: Callable[[], int]) -> BertConfig:
    """A bert_config.json path, or a model name (`named_config`) whose vocab_size `vocab_size()` supplies.

    A name is taken as one only where no file of that name exists; a path that does not exist and is
    no name is refused with the names listed.
    """
    if is_config_name(value) and not tf.io.gfile.exists(value):
        return named_config(value, vocab_size())
    if not tf.io.gfile.exists(value):
        raise ConfigError(f"{value} does not exist; give a bert_config.json or a model name: "
                          f"{', '.join(SHORT_NAMES)}, or L-<layers>_H-<hidden> with layers in "
                          f"{', '.join(map(str, MINIATURE_LAYERS))} and hidden in {', '.join(map(str, MINIATURE_HIDDEN))}")
    return BertConfig.from_json_file(value)


def write_config_file(config: BertConfig, folder: str) -> str:
    """FOLDER/bert_config.json beside a run's checkpoints, so that the folder describes its model; its path."""
    tf.io.gfile.makedirs(folder)
    path = posixpath.join(folder, CONFIG_FILE)
    config.to_json_file(path)
    return path


def config_differences(ours: BertConfig, theirs: BertConfig) -> list[str]:
    """"hidden_size 256 (here) vs 128" for each field in which the two differ."""
    mine, other = ours.to_dict(), theirs.to_dict()
    return [f"{name} {mine[name]} vs {other[name]}" for name in mine if mine[name] != other[name]]
