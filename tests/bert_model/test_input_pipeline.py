"""bert_model.input_pipeline on real TFRecord shards in the pretraining-data layout (local and ram:// folders)."""
from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass, replace

import numpy as np
import pytest
import tensorflow as tf

from bert_model.input_pipeline import (
    DynamicMasking,
    PretrainingDataError,
    original_ids,
    pretraining_dataset,
    remask,
)
from formats.pretraining_data import METADATA_FILE, DatasetMetadata, shard_name

SEQ, PREDICTIONS, VOCAB = 32, 5, 500
PAD, UNK, CLS, SEP, MASK = range(5)
MASKING = DynamicMasking(mask_id=MASK, special_ids=(CLS, SEP, PAD))


@dataclass
class Instance:
    """One written example and the unmasked tokens behind it."""

    features: dict[str, list]
    original: list[int]


def _instance(index: int, rng: np.random.Generator) -> Instance:
    # [CLS] index-token a… [SEP] b… [SEP] [PAD]…; the second token makes every instance's tokens unique.
    size_a, size_b = int(rng.integers(2, 8)), int(rng.integers(2, 14))
    tokens = [CLS, 10 + index, *rng.integers(10, VOCAB, size_a), SEP, *rng.integers(10, VOCAB, size_b), SEP]
    tokens = [int(token) for token in tokens]
    segments = [0] * (size_a + 3) + [1] * (size_b + 1)
    candidates = [i for i, token in enumerate(tokens) if token not in (CLS, SEP) and i != 1]  # keep the index
    positions = sorted(int(i) for i in rng.choice(candidates, size=min(PREDICTIONS, 3), replace=False))
    masked = list(tokens)
    for position in positions:
        masked[position] = MASK
    pad = SEQ - len(tokens)
    extra = PREDICTIONS - len(positions)
    features = {
        "input_ids": masked + [PAD] * pad,
        "input_mask": [1] * len(tokens) + [0] * pad,
        "segment_ids": segments + [0] * pad,
        "masked_lm_positions": positions + [0] * extra,
        "masked_lm_ids": [tokens[p] for p in positions] + [0] * extra,
        "masked_lm_weights": [1.0] * len(positions) + [0.0] * extra,
        "next_sentence_labels": [index % 2],
    }
    return Instance(features, tokens + [PAD] * pad)


def _serialize(features: dict[str, list]) -> bytes:
    feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=values)) if name == "masked_lm_weights"
               else tf.train.Feature(int64_list=tf.train.Int64List(value=values)) for name, values in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def _write_folder(folder: str, shard_sizes: list[int], compression: str | None = None, **overrides) -> list[Instance]:
    """Writes shards and metadata.json as `bertprep pretraining-data` does; the instances, in shard order."""
    rng = np.random.default_rng(7)
    tf.io.gfile.makedirs(folder)
    instances, files = [], []
    for shard, size in enumerate(shard_sizes):
        files.append(shard_name(shard, len(shard_sizes), compression))
        options = tf.io.TFRecordOptions(compression_type="GZIP" if compression else "")
        with tf.io.TFRecordWriter(posixpath.join(folder, files[-1]), options) as writer:
            for _ in range(size):
                instances.append(_instance(len(instances), rng))
                writer.write(_serialize(instances[-1].features))
    metadata = DatasetMetadata(
        max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS, masked_lm_prob=0.15, short_seq_prob=0.1,
        dupe_factor=1, whole_word_mask=False, do_lower_case=True, seed=1, nsp=True, compression=compression,
        vocab_file="vocab.txt", vocab_sha256="0" * 64, vocab_size=VOCAB, num_instances=len(instances),
        num_shards=len(files), files=files)
    with tf.io.gfile.GFile(posixpath.join(folder, METADATA_FILE), "w") as handle:
        handle.write(replace(metadata, **overrides).to_json())
    return instances


def _dataset(folder: str, batch_size: int, is_training: bool, **kwargs) -> tf.data.Dataset:
    return pretraining_dataset(folder, batch_size, SEQ, PREDICTIONS, VOCAB, is_training, **kwargs)


def _rows(batches) -> list[dict[str, list]]:
    """Batches -> one dict of python lists per example."""
    arrays = [{name: np.asarray(value) for name, value in batch.items()} for batch in batches]
    return [{name: value[i].tolist() for name, value in batch.items()}
            for batch in arrays for i in range(len(batch["input_ids"]))]


@pytest.fixture
def folder(tmp_path):
    path = str(tmp_path / "seq32")
    return path, _write_folder(path, [4, 3, 3])


def test_eval_reads_every_record_once_in_order_with_the_exact_values(folder):
    path, instances = folder
    batches = list(_dataset(path, 3, is_training=False, drop_remainder=False))
    assert [len(batch["input_ids"]) for batch in batches] == [3, 3, 3, 1]
    rows = _rows(batches)
    assert len(rows) == len(instances)
    for row, instance in zip(rows, instances):
        for name, values in instance.features.items():
            assert row[name] == pytest.approx(values), name
    first = batches[0]
    assert {name: (value.dtype, value.shape.as_list()) for name, value in first.items()} == {
        "input_ids": (tf.int32, [3, SEQ]), "input_mask": (tf.int32, [3, SEQ]), "segment_ids": (tf.int32, [3, SEQ]),
        "masked_lm_positions": (tf.int32, [3, PREDICTIONS]), "masked_lm_ids": (tf.int32, [3, PREDICTIONS]),
        "masked_lm_weights": (tf.float32, [3, PREDICTIONS]), "next_sentence_labels": (tf.int32, [3, 1]),
    }


def test_batches_have_static_shapes_by_default(folder):
    path, _ = folder
    for is_training in (True, False):
        spec = _dataset(path, 4, is_training).element_spec
        assert spec["input_ids"].shape.as_list() == [4, SEQ]
        assert spec["masked_lm_weights"].shape.as_list() == [4, PREDICTIONS]
    assert len(list(_dataset(path, 4, is_training=False))) == 2  # 10 records: the last 2 are dropped


def test_training_repeats_shuffles_and_is_reproducible_with_a_seed(folder):
    path, instances = folder
    def first_ids(seed):
        rows = _rows(_dataset(path, 5, is_training=True, seed=seed).take(8))  # 40 rows: four passes
        return [row["input_ids"][1] - 10 for row in rows]

    order = first_ids(seed=3)
    assert order == first_ids(seed=3)
    assert order != first_ids(seed=4)
    assert order[:10] != list(range(10))
    assert len(order) == 4 * len(instances) and set(order) <= set(range(len(instances)))


def test_gzip_shards_in_a_ram_filesystem_folder():
    path = f"ram://bertprep-test-{uuid.uuid4().hex}/seq32"
    instances = _write_folder(path, [3, 2], compression="gzip")
    assert "part-00001-of-00002.tfrecord.gz" in tf.io.gfile.listdir(path)
    rows = _rows(_dataset(path, 1, is_training=False))
    assert [row["input_ids"] for row in rows] == [instance.features["input_ids"] for instance in instances]
    assert len(_rows(_dataset(path, 2, is_training=True, seed=0).take(4))) == 8


@pytest.mark.parametrize("override, numbers", [
    ({"max_seq_length": 64}, ("64", "32")),
    ({"max_predictions_per_seq": 20}, ("20", "5")),
    ({"vocab_size": 30522}, ("30522", "500")),
])
def test_mismatched_data_is_refused_naming_both_values(tmp_path, override, numbers):
    path = str(tmp_path / "data")
    _write_folder(path, [2], **override)
    with pytest.raises(PretrainingDataError) as error:
        _dataset(path, 2, is_training=True)
    name = next(iter(override))
    assert f"{name} is {numbers[0]} in the data but {numbers[1]} in this run" in str(error.value)


def test_data_without_next_sentence_pairs_needs_next_sentence_false(tmp_path):
    path = str(tmp_path / "data")
    _write_folder(path, [2], nsp=False)
    with pytest.raises(PretrainingDataError, match="nsp false"):
        _dataset(path, 2, is_training=False)
    assert len(list(_dataset(path, 2, is_training=False, next_sentence=False))) == 1


def test_missing_metadata_or_shard_is_refused(tmp_path):
    with pytest.raises(PretrainingDataError, match="no metadata.json"):
        _dataset(str(tmp_path), 2, is_training=False)
    path = str(tmp_path / "data")
    _write_folder(path, [2, 2, 2])
    tf.io.gfile.remove(posixpath.join(path, shard_name(1, 3, None)))
    with pytest.raises(PretrainingDataError, match=r"1 of the 3 shards .* part-00001-of-00003"):
        _dataset(path, 2, is_training=False)


@pytest.mark.parametrize("shard_sizes", [[3, 3, 2, 2], [10]], ids=["by-file", "by-record"])
def test_input_contexts_split_the_data_between_pipelines(tmp_path, shard_sizes):
    path = str(tmp_path / "data")
    instances = _write_folder(path, shard_sizes)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        dataset = _dataset(path, 2, is_training=False, input_context=context, drop_remainder=False)
        assert dataset.element_spec["input_ids"].shape.as_list() == [None, SEQ]
        batches = list(dataset)
        assert max(len(batch["input_ids"]) for batch in batches) == 1  # global batch 2 over 2 replicas
        seen.append([row["input_ids"][1] - 10 for row in _rows(batches)])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(len(instances)))


def test_original_ids_undo_the_stored_masks(folder):
    path, instances = folder
    batch = next(iter(_dataset(path, 10, is_training=False)))
    assert original_ids(batch).numpy().tolist() == [instance.original for instance in instances]


def _check_masks(batch: dict[str, tf.Tensor], originals: dict[int, tuple[int, ...]]) -> tuple[int, int]:
    """Asserts what holds for every re-masked example; (masked positions, of which now [MASK])."""
    masked = shown_as_mask = 0
    for row in _rows([batch]):
        count = sum(weight > 0 for weight in row["masked_lm_weights"])
        assert count == min(PREDICTIONS, max(1, round(sum(row["input_mask"]) * 0.15)))
        positions, targets = row["masked_lm_positions"][:count], row["masked_lm_ids"][:count]
        assert positions == sorted(set(positions))
        assert row["masked_lm_positions"][count:] == row["masked_lm_ids"][count:] == [0] * (PREDICTIONS - count)
        restored = list(row["input_ids"])
        for position, target in zip(positions, targets):
            assert row["input_mask"][position] == 1 and target not in (CLS, SEP, PAD)
            restored[position] = target
        assert tuple(restored) == originals[restored[1] - 10]  # the targets are the original tokens
        masked += count
        shown_as_mask += sum(row["input_ids"][position] == MASK for position in positions)
    return masked, shown_as_mask


def test_dynamic_masking_keeps_shapes_spares_special_tokens_and_recovers_originals(tmp_path):
    path = str(tmp_path / "data")
    instances = _write_folder(path, [60, 60])
    originals = {index: tuple(instance.original) for index, instance in enumerate(instances)}
    dataset = _dataset(path, 8, is_training=True, seed=5, dynamic_masking=MASKING)
    plain = _dataset(path, 8, is_training=True, seed=5)
    assert dataset.element_spec == plain.element_spec
    masked = shown_as_mask = 0
    for batch in dataset.take(30):
        counts = _check_masks(batch, originals)
        masked, shown_as_mask = masked + counts[0], shown_as_mask + counts[1]
    assert masked > 500
    assert 0.72 < shown_as_mask / masked < 0.88  # 80% [MASK]; the rest kept or random
    def first_masks(seed):
        dataset = _dataset(path, 8, is_training=True, seed=seed, dynamic_masking=MASKING)
        return [batch["masked_lm_positions"].numpy().tolist() for batch in dataset.take(3)]

    assert first_masks(5) == first_masks(5) != first_masks(6)


def test_each_pass_over_the_same_records_draws_new_masks(tmp_path):
    path = str(tmp_path / "data")
    _write_folder(path, [6])  # one shard, no record shuffling: every batch holds the same six records
    dataset = _dataset(path, 6, is_training=True, seed=1, dynamic_masking=MASKING, shuffle_buffer=1)
    first, second = dataset.take(2)
    np.testing.assert_array_equal(original_ids(first), original_ids(second))
    assert first["masked_lm_positions"].numpy().tolist() != second["masked_lm_positions"].numpy().tolist()


def test_remask_draws_new_masks_per_seed(folder):
    path, _ = folder
    batch = next(iter(_dataset(path, 10, is_training=False)))
    one, two = (remask(batch, tf.constant([seed, 0], tf.int64), MASKING, VOCAB) for seed in (1, 2))
    assert one["masked_lm_positions"].numpy().tolist() != two["masked_lm_positions"].numpy().tolist()
    np.testing.assert_array_equal(original_ids(one), original_ids(batch))
    np.testing.assert_array_equal(original_ids(two), original_ids(batch))
    np.testing.assert_array_equal(one["segment_ids"], batch["segment_ids"])


def test_dynamic_masking_from_vocab_and_only_for_training(folder):
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "the": 5}
    assert DynamicMasking.from_vocab(vocab) == MASKING
    with pytest.raises(PretrainingDataError, match="MASK"):
        DynamicMasking.from_vocab({"[PAD]": 0, "[CLS]": 1, "[SEP]": 2})
    with pytest.raises(ValueError, match="training"):
        _dataset(folder[0], 2, is_training=False, dynamic_masking=MASKING)
