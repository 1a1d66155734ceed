"""One name table between transformers' BERT state dicts and the reference checkpoint names.

transformers names a weight by its module path and parameter (`bert.encoder.layer.0.attention.self.query.weight`),
the reference by scope and variable (`bert/encoder/layer_0/attention/self/query/kernel`). Linear weights are
[out, in] in transformers and [in, out] kernels in the reference, so they are transposed; the `output_weights`
of the reference's logit heads are [units, hidden] like transformers' and are not. The masked-LM decoder weight
is the word embeddings (tied) and has no reference name.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import numpy as np

from bert_model.checkpoints import CheckpointError

# Parameter names per kind of module: transformers parameter -> reference variable ("" for the scope itself).
_DENSE = {"weight": "kernel", "bias": "bias"}
_LAYER_NORM = {"weight": "gamma", "bias": "beta"}
_EMBEDDING = {"weight": ""}
_LOGITS = {"weight": "output_weights", "bias": "output_bias"}

# transformers module (under `bert.`) -> its kind; its reference scope is `bert/` + the module path with "/".
_EMBEDDINGS = {"embeddings.word_embeddings": _EMBEDDING, "embeddings.position_embeddings": _EMBEDDING,
               "embeddings.token_type_embeddings": _EMBEDDING, "embeddings.LayerNorm": _LAYER_NORM}
_LAYER = {"attention.self.query": _DENSE, "attention.self.key": _DENSE, "attention.self.value": _DENSE,
          "attention.output.dense": _DENSE, "attention.output.LayerNorm": _LAYER_NORM,
          "intermediate.dense": _DENSE, "output.dense": _DENSE, "output.LayerNorm": _LAYER_NORM}
_POOLER = {"pooler.dense": _DENSE}
WORD_EMBEDDINGS = "bert/embeddings/word_embeddings"
OUTPUT_BIAS = "cls/predictions/output_bias"
# The masked-LM output: transformers holds its bias twice (`cls.predictions.bias` and the decoder's) and its
# weight as the decoder's, tied to the word embeddings; the reference has the bias once and no weight.
_PREDICTIONS_BIAS = {"bias": "output_bias"}
_DECODER = {"weight": WORD_EMBEDDINGS, "bias": OUTPUT_BIAS}
# Head modules (no `bert.` prefix) -> (reference scope, kind), in state-dict order.
_MASKED_LM = {"cls.predictions": ("cls/predictions", _PREDICTIONS_BIAS),
              "cls.predictions.transform.dense": ("cls/predictions/transform/dense", _DENSE),
              "cls.predictions.transform.LayerNorm": ("cls/predictions/transform/LayerNorm", _LAYER_NORM),
              "cls.predictions.decoder": ("", _DECODER)}
_NEXT_SENTENCE = {"cls.seq_relationship": ("cls/seq_relationship", _LOGITS)}
_CLASSIFIER = {"classifier": ("", _LOGITS)}
_SPANS = {"qa_outputs": ("cls/squad", _LOGITS)}
_HEADS = {**_MASKED_LM, **_NEXT_SENTENCE, **_CLASSIFIER, **_SPANS}

# Buffers a state dict may carry besides the weights.
_BUFFERS = re.compile(r"(bert\.)?embeddings\.(position_ids|token_type_ids)")
_LAYER_MODULE = re.compile(r"encoder\.layer\.(\d+)\.(.+)")

# What each transformers class holds besides the encoder: its `bert.` prefix, whether it has the pooler, its heads.
ARCHITECTURES = {
    "BertModel": ("", True, {}),
    "BertForPreTraining": ("bert.", True, {**_MASKED_LM, **_NEXT_SENTENCE}),
    "BertForMaskedLM": ("bert.", False, _MASKED_LM),
    "BertForSequenceClassification": ("bert.", True, _CLASSIFIER),
    "BertForQuestionAnswering": ("bert.", False, _SPANS),
}


def _join(scope: str, variable: str) -> str:
    return "/".join(part for part in (scope, variable) if part)


def _oriented(array: np.ndarray, kind: dict[str, str], parameter: str) -> np.ndarray:
    """A linear weight transposed ([out, in] <-> [in, out]); any other array as it is."""
    return np.ascontiguousarray(array.T) if kind is _DENSE and parameter == "weight" else array


def _module(module: str) -> tuple[str, dict[str, str]] | None:
    """(reference scope, kind) of a transformers module path, None when it is no BERT module."""
    if module in _HEADS:
        return _HEADS[module]
    module = module.removeprefix("bert.")
    layer = _LAYER_MODULE.fullmatch(module)
    if layer and layer[2] in _LAYER:
        return f"bert/encoder/layer_{layer[1]}/{layer[2].replace('.', '/')}", _LAYER[layer[2]]
    kind = {**_EMBEDDINGS, **_POOLER}.get(module)
    return ("bert/" + module.replace(".", "/"), kind) if kind else None


def _reference_array(name: str, tensor: np.ndarray) -> tuple[str, np.ndarray]:
    """(reference name, array) of a transformers weight; CheckpointError for an unknown one."""
    module, _, parameter = name.rpartition(".")
    found = _module(module)
    if found is None or parameter not in found[1]:
        raise CheckpointError(f"{name} is not a weight of a transformers BERT (BertModel, BertForPreTraining, "
                              "BertForMaskedLM, BertForSequenceClassification or BertForQuestionAnswering)")
    scope, kind = found
    return _join(scope, kind[parameter]), _oriented(tensor, kind, parameter)


def reference_arrays(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A transformers BERT state dict (with or without the `bert.` prefix) under the reference checkpoint names,
    linear weights transposed to kernels. Buffers are skipped. Tied weights (the masked-LM decoder and the word
    embeddings, the two masked-LM biases) must be equal, as this model ties them. CheckpointError names a tensor
    that has no place."""
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for name, tensor in tensors.items():
        if _BUFFERS.fullmatch(name):
            continue
        reference, array = _reference_array(name, tensor)
        if reference in arrays and not np.array_equal(arrays[reference], array):
            raise CheckpointError(f"{name} differs from {sources[reference]}; this model ties them as {reference}")
        arrays[reference], sources[reference] = array, name
    return arrays


def _modules(architecture: str, num_layers: int) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(transformers module, reference scope, kind) of every module of `architecture`, in state-dict order."""
    prefix, pooler, heads = ARCHITECTURES[architecture]
    encoder = dict(_EMBEDDINGS)
    for index in range(num_layers):
        encoder.update({f"encoder.layer.{index}.{module}": kind for module, kind in _LAYER.items()})
    if pooler:
        encoder.update(_POOLER)
    for module in encoder:
        yield prefix + module, *_module(module)
    for module, (scope, kind) in heads.items():
        yield module, scope, kind


def _layer_count(arrays: Mapping[str, np.ndarray]) -> int:
    layers = {int(match[1]) for name in arrays if (match := re.match(r"bert/encoder/layer_(\d+)/", name))}
    return max(layers, default=-1) + 1


def transformers_tensors(arrays: Mapping[str, np.ndarray], architecture: str) -> dict[str, np.ndarray]:
    """Reference-named arrays as the state dict of the transformers class `architecture` (one of ARCHITECTURES):
    exactly its keys, kernels transposed to linear weights, the masked-LM decoder tied to the word embeddings.
    CheckpointError names a weight the class needs that `arrays` lacks."""
    if architecture not in ARCHITECTURES:
        raise CheckpointError(f"unknown transformers class {architecture!r}; one of {', '.join(ARCHITECTURES)}")

    def take(reference: str) -> np.ndarray:
        if reference not in arrays:
            raise CheckpointError(f"{architecture} needs {reference}, which the checkpoint lacks")
        return arrays[reference]

    tensors = {}
    for module, scope, kind in _modules(architecture, _layer_count(arrays)):
        for parameter, variable in kind.items():
            tensors[f"{module}.{parameter}"] = _oriented(take(_join(scope, variable)), kind, parameter)
    return tensors
