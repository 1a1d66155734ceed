"""tf.data over a pretraining-data folder (`OUT/seqL/`), checked against the run's configuration first.

The folder's `metadata.json` (formats.pretraining_data) says how the
shards were made; data whose sequence length, predictions per sequence or
vocabulary size differ from the model's is refused with both values named,
where the reference would fail with "Can't parse serialized Example" or train
on out-of-range ids. Data made without next-sentence pairs (`nsp: false`) is
refused when the run trains the next-sentence head, as its labels carry no
signal; pass `next_sentence=False` to train on it.

Training reads the shards in parallel and in a shuffled order, repeats and
shuffles records, and can re-draw the masks of every batch (dynamic masking);
evaluation reads every record once, in order. Batches have static shapes
(`drop_remainder`) for TPUs, with the int64 features cast to int32.
"""
from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

import tensorflow as tf

from formats.masking import KEEP_BELOW, MASK_BELOW
from formats.pretraining_data import (
    METADATA_FILE,
    SHARD_STEM,
    DatasetMetadata,
    feature_spec,
    file_problems,
)

_COMPRESSION_TYPES = {None: "", "gzip": "GZIP"}  # metadata value -> TFRecordDataset compression_type
_MAX_PARALLEL_FILES = 8  # files read at once; fixed, so a seeded order does not depend on the core count
_SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]")


class PretrainingDataError(ValueError):
    """Data that this run cannot use; the message says what differs and what to change."""


def read_metadata(data_dir: str) -> DatasetMetadata:
    """The folder's metadata.json (local, gs:// or ram:// path)."""
    path = posixpath.join(data_dir, METADATA_FILE)
    if not tf.io.gfile.exists(path):
        inner = sorted(posixpath.dirname(found) for found in tf.io.gfile.glob(f"{data_dir}/*/{METADATA_FILE}"))
        hint = f"; pretraining-data folders inside it: {', '.join(inner)}" if inner else ""
        raise PretrainingDataError(f"no {METADATA_FILE} in {data_dir}: point at a folder that `bertprep "
                                   f"pretraining-data` wrote, such as OUT/seq128{hint}")
    with tf.io.gfile.GFile(path, "r") as handle:
        try:
            return DatasetMetadata.from_json(handle.read())
        except (ValueError, TypeError) as error:
            raise PretrainingDataError(f"{path} is not usable: {error}") from None


def check_metadata(metadata: DatasetMetadata, data_dir: str, max_seq_length: int, max_predictions_per_seq: int,
                   vocab_size: int, next_sentence: bool = True) -> None:
    """Raises PretrainingDataError naming every value in which the data and the run's configuration differ."""
    expected = {"max_seq_length": max_seq_length, "max_predictions_per_seq": max_predictions_per_seq,
                "vocab_size": vocab_size}
    problems = [f"{name} is {getattr(metadata, name)} in the data but {value} in this run's configuration"
                for name, value in expected.items() if getattr(metadata, name) != value]
    if next_sentence and not metadata.nsp:
        problems.append("the data was made without next-sentence pairs (nsp false) but this run trains the "
                        "next-sentence head; train without it or regenerate the data with NSP")
    if metadata.compression not in _COMPRESSION_TYPES:
        problems.append(f"compression {metadata.compression!r} is not one of {sorted(map(str, _COMPRESSION_TYPES))}")
    if not metadata.num_instances:
        problems.append("the data holds no instances")
    if problems:
        raise PretrainingDataError(f"{data_dir}/{METADATA_FILE}: " + "; ".join(problems))


def shard_paths(data_dir: str, metadata: DatasetMetadata) -> list[str]:
    """The shards metadata.json lists, in order; raises naming one that is missing or whose size differs from
    the recorded one (an incomplete copy, a run cut short). No other file of the folder is read."""
    listed = set(metadata.files)
    present = tf.io.gfile.glob(posixpath.join(data_dir, f"{SHARD_STEM}-*"))
    found = {name: tf.io.gfile.stat(path).length for path in present if (name := posixpath.basename(path)) in listed}
    problems = file_problems(metadata.listed_sizes(), found)
    if problems:
        raise PretrainingDataError(f"{data_dir}: {len(problems)} of the {len(metadata.files)} shards that "
                                   f"{METADATA_FILE} lists are not as written: {problems[0]}")
    return [posixpath.join(data_dir, name) for name in metadata.files]


@dataclass(frozen=True)
class DynamicMasking:
    """Re-draws the masked-LM targets of each training batch, as create_pretraining_data draws them.

    Per sequence: min(max_predictions_per_seq, max(1, round(tokens * masked_lm_prob)))
    positions, tokens counting [CLS] and [SEP] as the reference does, drawn
    among the tokens other than `special_ids` and replaced 80% by
    `mask_id`, 10% by a random id and 10% kept. Tokens are masked one by one,
    even in data made with whole-word masking.
    """

    mask_id: int
    special_ids: tuple[int, ...]  # never masked: [CLS], [SEP], [PAD]
    masked_lm_prob: float = 0.15

    @classmethod
    def from_vocab(cls, vocab: Mapping[str, int], masked_lm_prob: float = 0.15) -> DynamicMasking:
        """From a token -> id vocabulary (e.g. vocab.tokenization.load_vocab) with the usual special tokens."""
        missing = [token for token in ("[MASK]", *_SPECIAL_TOKENS) if token not in vocab]
        if missing:
            raise PretrainingDataError(f"dynamic masking needs {missing} in the vocabulary")
        return cls(vocab["[MASK]"], tuple(vocab[token] for token in _SPECIAL_TOKENS), masked_lm_prob)


def pretraining_dataset(data_dir: str, batch_size: int, max_seq_length: int, max_predictions_per_seq: int,
                        vocab_size: int, is_training: bool, *, seed: int | None = None,
                        input_context: tf.distribute.InputContext | None = None,
                        dynamic_masking: DynamicMasking | None = None, next_sentence: bool = True,
                        drop_remainder: bool = True, shuffle_buffer: int = 10_000) -> tf.data.Dataset:
    """Batches of the reference features (int32, masked_lm_weights float32) from `data_dir`.

    `batch_size` is the global batch size; with an `input_context`
    (`strategy.distribute_datasets_from_function(lambda context:
    pretraining_dataset(..., input_context=context))`) the batches are per replica
    and each input pipeline reads its own share of the shards (of the
    records, when there are fewer shards than pipelines). A `seed` makes the
    training order and the dynamic masks reproducible.
    """
    metadata = read_metadata(data_dir)
    check_metadata(metadata, data_dir, max_seq_length, max_predictions_per_seq, vocab_size, next_sentence)
    return records_dataset(shard_paths(data_dir, metadata), _COMPRESSION_TYPES[metadata.compression], batch_size,
                           max_seq_length, max_predictions_per_seq, vocab_size, is_training, seed=seed,
                           input_context=input_context, dynamic_masking=dynamic_masking,
                           drop_remainder=drop_remainder, shuffle_buffer=shuffle_buffer)


def records_dataset(paths: list[str], compression: str, batch_size: int, max_seq_length: int,
                    max_predictions_per_seq: int, vocab_size: int, is_training: bool, *, seed: int | None = None,
                    input_context: tf.distribute.InputContext | None = None,
                    dynamic_masking: DynamicMasking | None = None, drop_remainder: bool = True,
                    shuffle_buffer: int = 10_000) -> tf.data.Dataset:
    """`pretraining_dataset` over TFRecord files already checked against the run (`compression` as
    TFRecordDataset takes it): the reference's --input_file, with or without metadata."""
    if dynamic_masking is not None and not is_training:
        raise ValueError("dynamic masking is for training; evaluation keeps the masks stored in the data")
    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        num_pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    shard_files = len(paths) >= num_pipelines
    if shard_files:
        paths = paths[pipeline_id::num_pipelines]
    files = tf.data.Dataset.from_tensor_slices(paths)
    # Order matters when seeded, when evaluating, and when pipelines split one record stream between them.
    deterministic = seed is not None or not is_training or not shard_files

    def read(path: tf.Tensor) -> tf.data.Dataset:
        return tf.data.TFRecordDataset(path, compression_type=compression)

    if is_training:
        if shard_files:  # else every pipeline reads every file and keeps every n-th record: one order for all
            files = files.shuffle(len(paths), seed=seed)
        records = files.repeat().interleave(read, cycle_length=min(len(paths), _MAX_PARALLEL_FILES),
                                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    else:
        records = files.flat_map(read)
    if not shard_files:
        records = records.shard(num_pipelines, pipeline_id)
    if is_training:
        records = records.shuffle(shuffle_buffer, seed=seed)
    spec = {name: tf.io.FixedLenFeature(entry["shape"], tf.as_dtype(entry["dtype"]))
            for name, entry in feature_spec(max_seq_length, max_predictions_per_seq).items()}
    batches = records.batch(batch_size, drop_remainder=drop_remainder).map(
        lambda serialized: _parse(serialized, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if dynamic_masking is not None:
        seeds = tf.data.Dataset.random(seed=seed).batch(2)  # one stateless seed per batch
        batches = tf.data.Dataset.zip(batches, seeds).map(
            lambda features, pair: remask(features, tf.random.experimental.stateless_fold_in(pair, pipeline_id),
                                          dynamic_masking, vocab_size),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return batches.prefetch(tf.data.AUTOTUNE)


def _parse(serialized: tf.Tensor, spec: dict[str, tf.io.FixedLenFeature]) -> dict[str, tf.Tensor]:
    # tf.Example stores int64; TPUs want int32.
    features = tf.io.parse_example(serialized, spec)
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value for name, value in features.items()}


def _put(ids: tf.Tensor, positions: tf.Tensor, values: tf.Tensor, where: tf.Tensor) -> tf.Tensor:
    """`ids` [batch, seq] with values[b, j] written at positions[b, j] wherever where[b, j]."""
    rows = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions))
    index = tf.stack([rows, positions], axis=-1)
    return tf.tensor_scatter_nd_update(ids, tf.boolean_mask(index, where), tf.boolean_mask(values, where))


def original_ids(features: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The unmasked input_ids of a batch: the stored targets put back at their (weighted) positions."""
    return _put(features["input_ids"], features["masked_lm_positions"], features["masked_lm_ids"],
                features["masked_lm_weights"] > 0)


def remask(features: Mapping[str, tf.Tensor], seed: tf.Tensor, masking: DynamicMasking,
           vocab_size: int) -> dict[str, tf.Tensor]:
    """The batch with freshly drawn masks (input_ids and the three masked_lm_* features); shapes unchanged."""
    ids, input_mask = original_ids(features), features["input_mask"]
    max_predictions = features["masked_lm_positions"].shape[1]
    length = tf.shape(ids)[1]
    shape = tf.shape(features["masked_lm_positions"])
    draw_positions, draw_kind, draw_random = tf.unstack(tf.random.experimental.stateless_split(seed, 3))

    special = tf.reduce_any(ids[..., None] == tf.constant(masking.special_ids, tf.int32), axis=-1)
    candidate = (input_mask > 0) & ~special
    tokens = tf.cast(tf.reduce_sum(input_mask, axis=1), tf.float32)
    wanted = tf.maximum(1, tf.cast(tf.round(tokens * masking.masked_lm_prob), tf.int32))
    count = tf.minimum(tf.minimum(wanted, max_predictions), tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1))
    # A random subset of `count` candidates: the top scores, non-candidates scoring below every candidate.
    scores = tf.where(candidate, tf.random.stateless_uniform(tf.shape(ids), draw_positions), -1.0)
    picked = tf.math.top_k(scores, k=max_predictions).indices
    chosen = tf.range(max_predictions)[None, :] < count[:, None]
    positions = tf.sort(tf.where(chosen, picked, length), axis=1)  # ascending like the reference, unused last
    valid = positions < length
    positions = tf.where(valid, positions, 0)
    targets = tf.where(valid, tf.gather(ids, positions, batch_dims=1), 0)

    kind = tf.random.stateless_uniform(shape, draw_kind)
    random_ids = tf.random.stateless_uniform(shape, draw_random, maxval=vocab_size, dtype=tf.int32)
    replacement = tf.where(kind < MASK_BELOW, masking.mask_id, tf.where(kind < KEEP_BELOW, targets, random_ids))
    return {**features, "input_ids": _put(ids, positions, replacement, valid), "masked_lm_positions": positions,
            "masked_lm_ids": targets, "masked_lm_weights": tf.cast(valid, tf.float32)}
