"""A task's features as TFRecord files: written from numpy arrays, read back as (training or prediction)
batches, and padded to full batches with `is_real_example` as the reference pads them."""
from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from formats.tfrecord import framed_examples

IS_REAL_EXAMPLE = "is_real_example"
# The reference reads training records through a 100-record shuffle buffer (run_classifier.py, run_squad.py).
_SHUFFLE_BUFFER = 100
_INTERLEAVED_FILES = 8


def write_records(path: str, features: Mapping[str, np.ndarray]) -> int:
    """Writes one tf.train.Example per row of the 2-D arrays in `features` (integers as int64, floats as
    float) to the TFRecord file `path` (local or gs://), deterministically; returns the row count."""
    records = framed_examples(features)
    tf.io.gfile.makedirs(posixpath.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(records.data)
    return len(records)


def record_parsing_spec(features: Mapping[str, np.ndarray]) -> dict[str, tf.io.FixedLenFeature]:
    """The parsing spec of records that `write_records(path, features)` wrote."""
    return {name: tf.io.FixedLenFeature([np.shape(values)[1]],
                                        tf.float32 if np.issubdtype(np.asarray(values).dtype, np.floating)
                                        else tf.int64)
            for name, values in features.items()}


def record_dataset(paths: str | Sequence[str], spec: Mapping[str, tf.io.FixedLenFeature], batch_size: int, *,
                   is_training: bool, seed: int = 12345, input_context: tf.distribute.InputContext | None = None,
                   shuffle_buffer: int | None = None) -> tf.data.Dataset:
    """Batches of the records in `paths` (one file or several), int64 features cast to int32; width-1 features
    become [batch].

    Training: sharded per input pipeline, repeated, shuffled (seeded) through `shuffle_buffer` records (the
    reference's 100 by default), `batch_size` split per replica when `input_context` is given
    (distribute_datasets_from_function). Several files are read interleaved, in a new seeded order each
    epoch, so that a small buffer still mixes files written in source order. Otherwise in file order,
    unshuffled, global batches of `batch_size`; pad with `pad_to_batches` first, as the last partial batch is
    dropped to keep shapes static (TPUs need them).
    """
    files = [paths] if isinstance(paths, str) else list(paths)
    if is_training and len(files) > 1:
        dataset = tf.data.Dataset.from_tensor_slices(files).repeat().shuffle(len(files), seed=seed)
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), _INTERLEAVED_FILES))
    else:
        dataset = tf.data.TFRecordDataset(files)
    if is_training:
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(batch_size)
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        dataset = dataset.repeat().shuffle(shuffle_buffer or _SHUFFLE_BUFFER, seed=seed)
    spec = dict(spec)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        return {name: _squeezed(tf.cast(value, tf.int32) if value.dtype == tf.int64 else value, spec[name])
                for name, value in parsed.items()}

    return dataset.batch(batch_size, drop_remainder=True).map(parse, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)


def _squeezed(value: tf.Tensor, feature: tf.io.FixedLenFeature) -> tf.Tensor:
    return tf.squeeze(value, axis=1) if list(feature.shape) == [1] else value


def pad_to_batches(features: Mapping[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """`features` plus `is_real_example` (1) and all-zero rows (is_real_example 0) up to a multiple of
    `batch_size`: the reference's PaddingInputExample, so every batch is full and fakes are never counted."""
    rows = {len(values) for values in features.values()}
    if len(rows) != 1:
        raise ValueError(f"all features need the same number of rows, got {sorted(rows)}")
    count = rows.pop()
    fakes = -count % batch_size
    padded = {name: np.concatenate([values, np.zeros((fakes, *np.shape(values)[1:]), np.asarray(values).dtype)])
              for name, values in features.items()}
    padded[IS_REAL_EXAMPLE] = np.concatenate([np.ones((count, 1), np.int32), np.zeros((fakes, 1), np.int32)])
    return padded
