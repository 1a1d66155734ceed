"""Encoding a batch of instances: the reference's features byte for byte, truncation, parseable records."""
from __future__ import annotations

import numpy as np
import pytest

from formats.tfrecord import encode_examples
from pipelines.pretraining import instance_batch
from pipelines.pretraining.instance_batch import InstanceBatch
from pipelines.pretraining.instances import InstanceOptions
from tests.support.pretraining_data import SPECIAL, VOCAB


def test_examples_are_the_reference_features_byte_for_byte(reference, tmp_path):
    import tensorflow as tf

    tokenizer = reference.tokenization.FullTokenizer(str(VOCAB), do_lower_case=True)
    tokens = ["[CLS]"] + tokenizer.tokenize("the quick brown fox") + ["[SEP]", "jumps", "[MASK]", "[SEP]"]
    instance = reference.TrainingInstance(tokens=tokens, segment_ids=[0] * 6 + [1] * 3, is_random_next=True,
                                          masked_lm_positions=[2, 7], masked_lm_labels=["quick", "over"])
    path = str(tmp_path / "ref.tfrecord")
    reference.write_instance_to_example_files([instance], tokenizer, 16, 4, [path])
    (their_bytes,) = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    row = lambda values, width: np.array([values + [0] * (width - len(values))])  # noqa: E731
    ours = encode_examples({
        "input_ids": row(ids, 16), "input_mask": row([1] * 9, 16), "segment_ids": row([0] * 6 + [1] * 3, 16),
        "masked_lm_positions": row([2, 7], 4), "masked_lm_ids": row(tokenizer.convert_tokens_to_ids(["quick", "over"]), 4),
        "masked_lm_weights": row([1.0, 1.0], 4).astype(np.float32), "next_sentence_labels": row([1], 1),
    })[0]
    canonical = tf.train.Example.FromString(their_bytes).SerializeToString(deterministic=True)
    assert ours == canonical


def test_batch_encodes_parseable_instances_and_frames_valid_records(tmp_path):
    import tensorflow as tf

    options = InstanceOptions(32, 5)
    batch = InstanceBatch(options, SPECIAL)
    batch.add_pair(11, np.arange(2000, 2020, dtype=np.int32), np.arange(3000, 3030, dtype=np.int32), None, None, True)
    batch.add_pair(12, np.arange(2000, 2003, dtype=np.int32), np.arange(3000, 3002, dtype=np.int32), None, None, False)
    orders, records = batch.encode()
    assert batch.counts["instances"] == 2 and batch.counts["random_next"] == 1
    assert batch.counts["truncated_tokens"] == 50 - 29
    assert len(orders) == len(records) == 2 and orders.dtype == np.int64 and (orders >= 0).all()
    path = tmp_path / "x.tfrecord"
    path.write_bytes(records.data)
    spec = {"input_ids": tf.io.FixedLenFeature([32], tf.int64), "input_mask": tf.io.FixedLenFeature([32], tf.int64),
            "segment_ids": tf.io.FixedLenFeature([32], tf.int64),
            "masked_lm_positions": tf.io.FixedLenFeature([5], tf.int64),
            "masked_lm_ids": tf.io.FixedLenFeature([5], tf.int64),
            "masked_lm_weights": tf.io.FixedLenFeature([5], tf.float32),
            "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64)}
    parsed = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(str(path))]
    long, short = (parsed[0], parsed[1])
    assert long["input_mask"].numpy().sum() == 32 and long["next_sentence_labels"].numpy().tolist() == [1]
    a_length = int(np.flatnonzero(long["input_ids"].numpy() == SPECIAL.sep)[0]) - 1
    assert a_length + long["segment_ids"].numpy().sum() - 1 == 29  # A + B after truncation
    assert short["input_mask"].numpy().sum() == 8 and short["segment_ids"].numpy().tolist()[:8] == [0] * 5 + [1] * 3
    assert short["masked_lm_weights"].numpy().tolist() == [1, 0, 0, 0, 0]  # round(8 * 0.15) = 1


def _filled(options: InstanceOptions) -> InstanceBatch:
    """Fifty-one instances of random spans of 4,000 token ids (the same every call)."""
    rng = np.random.default_rng(3)
    tokens = rng.integers(1000, 5000, 4000).astype(np.int32)
    starts = rng.random(4000) < 0.6 if options.whole_word_mask else None
    batch = InstanceBatch(options, SPECIAL)
    base = batch.add_tokens(tokens, starts)
    begins = base + rng.integers(0, 3000, 50)
    lengths = rng.integers(1, 60, (2, 50))  # a packed sequence (no NSP) fits by construction
    batch.add_pairs(np.arange(50, dtype=np.uint64) * 7919, begins, begins + lengths[0], begins[::-1],
                    begins[::-1] + lengths[1], True)
    if options.nsp:
        segment_starts = (None, None) if starts is None else (starts[:40], starts[40:95])
        batch.add_pair(99, tokens[:40], tokens[40:95], *segment_starts, False)
    return batch


@pytest.mark.parametrize("options", [InstanceOptions(64, 10), InstanceOptions(64, 10, whole_word_mask=True),
                                     InstanceOptions(64, 10, nsp=False)])
def test_rows_encoded_a_slice_at_a_time_give_the_same_bytes_orders_and_counts(options, monkeypatch):
    encoded = {}
    for positions in (1 << 20, 64 * 7, 64):  # all rows at once, 7 rows, one row at a time
        monkeypatch.setattr(instance_batch, "ENCODED_POSITIONS", positions)
        batch = _filled(options)
        orders, records = batch.encode()
        encoded[positions] = orders.tolist(), records.data, records.ends.tolist(), dict(batch.counts)
    assert len(encoded[64][0]) >= 50 and encoded[1 << 20] == encoded[64 * 7] == encoded[64]
