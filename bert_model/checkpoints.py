"""Checkpoints in the reference (TF1, name-based) layout: `bert/embeddings/…`,
`bert/encoder/layer_N/…`, `bert/pooler/…`, `cls/predictions/…`,
`cls/seq_relationship/…` — the layout of the public BERT checkpoints.

Loading checks every name and shape before it assigns anything, so a bad
checkpoint leaves the model untouched. Saving writes the same names with
SaveV2, readable by `tf.train.load_checkpoint` and the reference code.
"""
from __future__ import annotations

import dataclasses
import logging
import posixpath
from collections.abc import Callable, Iterator, Mapping

import keras
import numpy as np
import tensorflow as tf

from bert_model.config import BertConfig, config_differences
from bert_model.modeling import BertModel, BertPretrainer

_log = logging.getLogger(__name__)

ENCODER_SCOPE = "bert/"
# Trained by the next-sentence task only; a checkpoint without it (transformers' BertForMaskedLM and
# BertForQuestionAnswering) leaves it initialized, as a head.
POOLER_SCOPE = "bert/pooler/"
# Training state that reference checkpoints carry besides the weights.
_OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v")
_OPTIMIZER_NAMES = ("global_step",)
_CHECKPOINT_FILE_SUFFIXES = (".index", ".data-00000-of-00001", ".meta")


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model; the message names the variable."""


@dataclasses.dataclass(frozen=True, eq=False)
class CheckpointArrays(Mapping[str, np.ndarray]):
    """Weights under reference names to load from: where they are, each one's shape, a reader of one, and the
    config they were saved with where the checkpoint carries one (a transformers folder's config.json). As a
    mapping it reads each array when asked, so optimizer slots that no one asks for are never read."""

    location: str
    shapes: Mapping[str, list[int]]
    read: Callable[[str], np.ndarray]
    config: BertConfig | None = None

    @classmethod
    def from_arrays(cls, location: str, arrays: Mapping[str, np.ndarray],
                    config: BertConfig | None = None) -> CheckpointArrays:
        return cls(location, {name: list(array.shape) for name, array in arrays.items()}, arrays.__getitem__, config)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.shapes:
            raise KeyError(name)
        return self.read(name)

    def __contains__(self, name: object) -> bool:
        return name in self.shapes

    def __iter__(self) -> Iterator[str]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)


@dataclasses.dataclass(frozen=True)
class LoadReport:
    checkpoint: str
    loaded: tuple[str, ...]
    # Head weights the checkpoint lacks (encoder-only checkpoints); they keep their initial values.
    missing_heads: tuple[str, ...]
    # Checkpoint variables with no place in this model (e.g. cls/ when loading a BertModel);
    # optimizer slots and global_step are not listed.
    unused: tuple[str, ...]


def _dense(scope: str, layer: keras.layers.Dense) -> dict[str, keras.Variable]:
    return {f"{scope}/kernel": layer.kernel, f"{scope}/bias": layer.bias}


def _layer_norm(scope: str, layer: keras.layers.LayerNormalization) -> dict[str, keras.Variable]:
    return {f"{scope}/gamma": layer.gamma, f"{scope}/beta": layer.beta}


def _encoder_variables(bert: BertModel) -> dict[str, keras.Variable]:
    embeddings = bert.embeddings
    names = {
        "bert/embeddings/word_embeddings": embeddings.word_embeddings,
        "bert/embeddings/token_type_embeddings": embeddings.token_type_embeddings,
        "bert/embeddings/position_embeddings": embeddings.position_embeddings,
        **_layer_norm("bert/embeddings/LayerNorm", embeddings.layer_norm),
    }
    for index, layer in enumerate(bert.encoder_layers):
        scope = f"bert/encoder/layer_{index}"
        for projection in ("query", "key", "value"):
            names.update(_dense(f"{scope}/attention/self/{projection}", getattr(layer.attention, projection)))
        names.update(_dense(f"{scope}/attention/output/dense", layer.attention_output.dense))
        names.update(_layer_norm(f"{scope}/attention/output/LayerNorm", layer.attention_output.layer_norm))
        names.update(_dense(f"{scope}/intermediate/dense", layer.intermediate))
        names.update(_dense(f"{scope}/output/dense", layer.output_block.dense))
        names.update(_layer_norm(f"{scope}/output/LayerNorm", layer.output_block.layer_norm))
    names.update(_dense("bert/pooler/dense", bert.pooler.dense))
    return names


def reference_variables(model: BertModel | BertPretrainer) -> dict[str, keras.Variable]:
    """Reference variable name -> the model's variable (built first if need be).

    The masked-LM output weights are the word embeddings, so they have no name of their own.
    """
    if not model.built:
        model.build()
    if isinstance(model, BertModel):
        return _encoder_variables(model)
    heads = model.masked_lm
    return {
        **_encoder_variables(model.bert),
        **_dense("cls/predictions/transform/dense", heads.transform),
        **_layer_norm("cls/predictions/transform/LayerNorm", heads.layer_norm),
        "cls/predictions/output_bias": heads.output_bias,
        "cls/seq_relationship/output_weights": model.next_sentence.output_weights,
        "cls/seq_relationship/output_bias": model.next_sentence.output_bias,
    }


def resolve_checkpoint(path: str) -> str:
    """The checkpoint prefix that `path` names: a prefix, one of its files, or a
    directory (its `checkpoint` state file, else its only checkpoint)."""
    for suffix in _CHECKPOINT_FILE_SUFFIXES:
        if path.endswith(suffix) and tf.io.gfile.exists(path[: -len(suffix)] + ".index"):
            return path[: -len(suffix)]
    if tf.io.gfile.exists(path + ".index"):
        return path
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        prefixes = sorted(name[: -len(".index")] for name in tf.io.gfile.glob(posixpath.join(path, "*.index")))
        if len(prefixes) == 1:
            return prefixes[0]
        if prefixes:
            raise CheckpointError(f"{path} holds several checkpoints ({', '.join(prefixes)}); give one prefix")
    raise CheckpointError(f"no checkpoint at {path}: expected a prefix P with P.index beside it, or a folder holding one")


def _is_optimizer_state(name: str) -> bool:
    return name in _OPTIMIZER_NAMES or name.endswith(_OPTIMIZER_SUFFIXES)


def reference_checkpoint(path: str) -> CheckpointArrays:
    """The reference-layout checkpoint that `path` names (`resolve_checkpoint`)."""
    prefix = resolve_checkpoint(path)
    reader = tf.train.load_checkpoint(prefix)
    return CheckpointArrays(prefix, reader.get_variable_to_shape_map(), reader.get_tensor)


def load_checkpoint(model: BertModel | BertPretrainer, path: str) -> LoadReport:
    """Assigns a reference-layout checkpoint's weights to `model` (`assign_checkpoint`)."""
    return assign_checkpoint(model, reference_checkpoint(path))


def _check_encoder(arrays: CheckpointArrays, variables: Mapping[str, keras.Variable], model_config: BertConfig) -> None:
    """CheckpointError unless `arrays` has every encoder weight (the pooler aside) in the model's shape, and
    was saved with the model's config where it carries one (the activation is in no shape)."""
    differences = config_differences(model_config, arrays.config) if arrays.config else []
    if differences:
        raise CheckpointError(f"{arrays.location} holds a model with another config ({', '.join(differences)}; "
                              "this model's first): give its config, or none to take the folder's")
    shapes = arrays.shapes
    missing_encoder = [name for name in variables if name not in shapes and name.startswith(ENCODER_SCOPE)
                       and not name.startswith(POOLER_SCOPE)]
    if missing_encoder:
        found = ", ".join(sorted(shapes)[:5])
        raise CheckpointError(
            f"{arrays.location} lacks {missing_encoder[0]} (and {len(missing_encoder) - 1} more encoder variables); "
            f"a reference-layout BERT checkpoint has bert/... names, this one has e.g. {found}"
        )
    for name, variable in variables.items():
        if name in shapes and list(shapes[name]) != list(variable.shape):
            raise CheckpointError(
                f"{arrays.location}: {name} has shape {list(shapes[name])} but the model expects "
                f"{list(variable.shape)}; does the bert_config.json match this checkpoint (vocab_size, hidden_size, "
                "intermediate_size, max_position_embeddings, type_vocab_size)?"
            )


def assign_checkpoint(model: BertModel | BertPretrainer, arrays: CheckpointArrays) -> LoadReport:
    """Assigns reference-named weights (a reference checkpoint's, a transformers folder's) to `model`.

    Raises CheckpointError, before assigning anything, when an encoder weight
    is missing or any shape differs. Missing `cls/` heads and pooler are reported, not fatal.
    """
    variables = reference_variables(model)
    _check_encoder(arrays, variables, model.config)
    shapes = arrays.shapes
    loaded = [name for name in variables if name in shapes]
    for name in loaded:
        variables[name].assign(np.asarray(arrays.read(name)).astype(variables[name].dtype))
    report = LoadReport(
        checkpoint=arrays.location,
        loaded=tuple(loaded),
        missing_heads=tuple(name for name in variables if name not in shapes),
        unused=tuple(sorted(name for name in shapes if name not in variables and not _is_optimizer_state(name))),
    )
    _log.info("loaded %d variables from %s", len(loaded), arrays.location)
    if report.missing_heads:
        _log.info("not in the checkpoint, left initialized: %s", ", ".join(report.missing_heads))
    if report.unused:
        _log.info("in the checkpoint, not used by this model: %s", ", ".join(report.unused))
    return report


def save_checkpoint(model: BertModel | BertPretrainer, prefix: str, global_step: int | None = None,
                    extra: Mapping[str, keras.Variable] | None = None) -> str:
    """Writes the model's weights under their reference names at `prefix`
    (PREFIX.index + PREFIX.data-*), plus `global_step` when given and the
    `extra` variables (e.g. a fine-tuning head, reference name -> variable); returns `prefix`.

    It does not write a `checkpoint` state file, which object-based
    checkpoints in the same folder may own.
    """
    variables = {**reference_variables(model), **(extra or {})}
    names = list(variables)
    tensors = [tf.convert_to_tensor(variables[name]) for name in names]
    if global_step is not None:
        names.append("global_step")
        tensors.append(tf.constant(global_step, tf.int64))
    tf.io.gfile.makedirs(posixpath.dirname(prefix) or ".")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    return prefix
