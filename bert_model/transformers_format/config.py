"""A transformers BertConfig (config.json) as our `BertConfig`, and back.

The activation names differ between the two: transformers' "gelu" is the exact (erf) GELU, our "gelu" the
reference's tanh approximation, which transformers calls "gelu_new" (or "gelu_pytorch_tanh"). A config that
this model cannot compute exactly is refused with what differs, never loaded in part.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bert_model.config import BertConfig, ConfigError
from bert_model.modeling import LAYER_NORM_EPSILON

# transformers hidden_act -> ours.
_ACTIVATIONS = {"gelu": "gelu_exact", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu",
                "tanh": "tanh", "silu": "silu", "swish": "swish"}
# Ours -> the transformers name written on export.
_EXPORTED_ACTIVATIONS = {"gelu": "gelu_new", "gelu_new": "gelu_new", "gelu_exact": "gelu", "relu": "relu",
                         "tanh": "tanh", "silu": "silu", "swish": "swish"}
# transformers' BertConfig defaults, for the keys a config.json leaves out.
_DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
             "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
             "initializer_range": 0.02}
# Settings of a transformers BERT that this model does not have, with the one value it computes.
_REQUIRED = {"position_embedding_type": "absolute", "is_decoder": False, "add_cross_attention": False,
             "layer_norm_eps": LAYER_NORM_EPSILON}


def _check_bert(hf: Mapping[str, Any]) -> None:
    if hf.get("model_type") != "bert":
        raise ConfigError(f"model_type {hf.get('model_type')!r}: only transformers BERT configs (model_type "
                          "'bert') map onto this model")
    for key, value in _REQUIRED.items():
        if key in hf and hf[key] != value:
            raise ConfigError(f"{key} {hf[key]!r}: this BERT computes only {key} {value!r}")
    activation = hf.get("hidden_act", _DEFAULTS["hidden_act"])
    if activation not in _ACTIVATIONS:
        raise ConfigError(f"hidden_act {activation!r} has no counterpart here; transformers names that map: "
                          f"{', '.join(_ACTIVATIONS)}")


def bert_config_from_transformers(hf: Mapping[str, Any]) -> BertConfig:
    """Our BertConfig for a transformers BERT config.json's values; ConfigError naming what differs for another
    model type, relative or rotary positions, a decoder, cross-attention, another LayerNorm epsilon or an
    activation without an exact counterpart."""
    if not isinstance(hf, Mapping):
        raise ConfigError(f"a config is a JSON object, got {type(hf).__name__}")
    _check_bert(hf)
    values = {key: hf.get(key, default) for key, default in _DEFAULTS.items()}
    values["hidden_act"] = _ACTIVATIONS[values["hidden_act"]]
    return BertConfig(**values)


def transformers_config(config: BertConfig, architecture: str, id2label: Mapping[int, str] | None = None,
                        problem_type: str | None = None) -> dict[str, Any]:
    """config.json for `config` as the transformers class `architecture` (e.g. "BertForPreTraining"), with the
    label names of a classifier and its problem_type ("regression", "single_label_classification") when given."""
    values: dict[str, Any] = {"architectures": [architecture], "model_type": "bert", **config.to_dict(),
                              **_REQUIRED, "hidden_act": _EXPORTED_ACTIVATIONS[config.hidden_act], "pad_token_id": 0}
    if id2label is not None:
        values["id2label"] = {str(index): label for index, label in id2label.items()}
        values["label2id"] = {label: index for index, label in id2label.items()}
    if problem_type is not None:
        values["problem_type"] = problem_type
    return values
