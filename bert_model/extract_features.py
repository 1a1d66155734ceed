"""Per-token activations of chosen encoder layers, in the reference
extract_features.py's JSONL format; how users check a converted checkpoint.

Input: one example per line, `text` or `text_a ||| text_b`. Output, per line:
{"linex_index": i, "features": [{"token": t, "layers": [{"index": l, "values": [...]}]}]}
with the reference's key names (including "linex_index") and values rounded
to 6 decimals. Lines stream through in batches, so memory stays bounded.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from bert_model.init_checkpoint import init_folder, load_init_checkpoint, lower_case, model_config, vocab_file
from bert_model.modeling import BertModel
from vocab.tokenization import FullTokenizer

# The last " ||| " splits a pair, as the reference's greedy pattern does.
_PAIR = re.compile(r"(.*) \|\|\| (.*)")


class FeatureError(ValueError):
    """Arguments that cannot work with this model; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class InputExample:
    unique_id: int
    text_a: str
    text_b: str | None


@dataclasses.dataclass(frozen=True)
class InputFeature:
    unique_id: int
    tokens: list[str]
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]


def read_examples(path: str) -> Iterator[InputExample]:
    with tf.io.gfile.GFile(path) as handle:
        for unique_id, line in enumerate(handle):
            line = line.strip()
            pair = _PAIR.fullmatch(line)
            yield InputExample(unique_id, *(pair.groups() if pair else (line, None)))


def truncate_pair(tokens_a: list[str], tokens_b: list[str], max_length: int) -> None:
    """Drops tokens from the end of the longer list (b on ties) until both fit, in place."""
    while len(tokens_a) + len(tokens_b) > max_length:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def convert_example(example: InputExample, seq_length: int, tokenizer: FullTokenizer) -> InputFeature:
    """[CLS] a [SEP] (b [SEP]), truncated to seq_length and zero-padded to it."""
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
    if tokens_b:
        truncate_pair(tokens_a, tokens_b, seq_length - 3)
        first, second = ["[CLS]", *tokens_a, "[SEP]"], [*tokens_b, "[SEP]"]
    else:
        first, second = ["[CLS]", *tokens_a[: seq_length - 2], "[SEP]"], []
    tokens = first + second
    segment_ids = [0] * len(first) + [1] * len(second)
    padding = [0] * (seq_length - len(tokens))
    return InputFeature(
        unique_id=example.unique_id,
        tokens=tokens,
        input_ids=tokenizer.convert_tokens_to_ids(tokens) + padding,
        input_mask=[1] * len(tokens) + padding,
        segment_ids=segment_ids + padding,
    )


def parse_layers(text: str, num_layers: int) -> list[int]:
    """"-1,-2" -> [-1, -2]; indexes count encoder layers, -1 being the last."""
    try:
        indexes = [int(part) for part in text.split(",")]
    except ValueError:
        raise FeatureError(f"--layers {text!r}: give comma-separated integers such as -1,-2,-3,-4") from None
    for index in indexes:
        if not -num_layers <= index < num_layers:
            raise FeatureError(f"--layers: {index} is not a layer of this {num_layers}-layer model "
                               f"(use {-num_layers}..{num_layers - 1})")
    return indexes


def feature_json(feature: InputFeature, layer_indexes: Sequence[int], layer_values: Sequence[np.ndarray]) -> str:
    """One output line for `feature`; layer_values[j] is layer layer_indexes[j], [seq_length, hidden]."""
    rows = [values[: len(feature.tokens)].tolist() for values in layer_values]
    return json.dumps({
        "linex_index": feature.unique_id,
        "features": [
            {
                "token": token,
                "layers": [
                    {"index": index, "values": [round(value, 6) for value in layer_rows[position]]}
                    for index, layer_rows in zip(layer_indexes, rows)
                ],
            }
            for position, token in enumerate(feature.tokens)
        ],
    })


def _batches(features: Iterable[InputFeature], batch_size: int) -> Iterator[list[InputFeature]]:
    iterator = iter(features)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield batch


def extract_features(
    input_file: str,
    output_file: str,
    model: BertModel,
    tokenizer: FullTokenizer,
    layer_indexes: Sequence[int],
    max_seq_length: int = 128,
    batch_size: int = 32,
) -> int:
    """Writes one JSON line per input line; returns how many."""
    if not 2 < max_seq_length <= model.config.max_position_embeddings:
        raise FeatureError(f"--max_seq_length {max_seq_length} must be in 3..{model.config.max_position_embeddings} "
                           "(the model's max_position_embeddings)")
    if batch_size < 1:
        raise FeatureError(f"--batch_size must be positive, got {batch_size}")
    layer_indexes = list(layer_indexes)

    @tf.function
    def selected_layers(input_ids: tf.Tensor, input_mask: tf.Tensor, segment_ids: tf.Tensor) -> list[tf.Tensor]:
        inputs = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        encoder_outputs = model(inputs, training=False)["encoder_outputs"]
        return [encoder_outputs[index] for index in layer_indexes]

    features = (convert_example(example, max_seq_length, tokenizer) for example in read_examples(input_file))
    written = 0
    with tf.io.gfile.GFile(output_file, "w") as writer:
        for batch in _batches(features, batch_size):
            # A short last batch is padded with empty rows, so one trace serves every batch.
            empty = [[0] * max_seq_length] * (batch_size - len(batch))
            arrays = [
                tf.constant([getattr(feature, name) for feature in batch] + empty, tf.int32)
                for name in ("input_ids", "input_mask", "segment_ids")
            ]
            layer_values = [values.numpy() for values in selected_layers(*arrays)]
            for row, feature in enumerate(batch):
                writer.write(feature_json(feature, layer_indexes, [values[row] for values in layer_values]) + "\n")
            written += len(batch)
    return written


@dataclasses.dataclass(frozen=True)
class ExtractionOptions:
    """What to extract with which model: the reference extract_features.py's flags. `layers` is
    comma-separated encoder layers ("-1,-2"); `bert_config_file` a bert_config.json or a released model's
    name, sized by the vocab; `init_checkpoint` a reference-layout prefix or a folder holding one, or a
    transformers folder, which supplies the config, vocab and casing left None."""

    input_file: str
    output_file: str
    vocab_file: str | None
    bert_config_file: str | None
    init_checkpoint: str
    layers: str = "-1,-2,-3,-4"
    max_seq_length: int = 128
    batch_size: int = 32
    do_lower_case: bool | None = True


def extract_from_checkpoint(options: ExtractionOptions) -> int:
    """Loads the model of `options` and writes the features of every input line (`extract_features`);
    returns how many. FeatureError for layers the model lacks or a vocab larger than its vocab_size."""
    folder = init_folder(options.init_checkpoint)
    vocab = vocab_file(options.vocab_file, folder)
    tokenizer = FullTokenizer(vocab, do_lower_case=lower_case(options.do_lower_case, folder))
    config = model_config(options.bert_config_file, folder, lambda: len(tokenizer.vocab))
    layer_indexes = parse_layers(options.layers, config.num_hidden_layers)
    if len(tokenizer.vocab) > config.vocab_size:
        raise FeatureError(f"{vocab} has {len(tokenizer.vocab)} tokens but the model's config says vocab_size "
                           f"{config.vocab_size}: give the vocab the model was trained with")
    model = BertModel(config)
    load_init_checkpoint(model, options.init_checkpoint)
    return extract_features(options.input_file, options.output_file, model, tokenizer, layer_indexes,
                            max_seq_length=options.max_seq_length, batch_size=options.batch_size)
