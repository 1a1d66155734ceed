"""The batch Example encoder and TFRecord framing against TensorFlow's own protos and writer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from formats import tfrecord
from formats.tfrecord import RecordBlock, encode_examples, framed_examples


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def encoder(request, monkeypatch) -> str:
    """Every test runs with both encoders; they must give the same bytes."""
    if request.param == "numpy":
        monkeypatch.setattr(tfrecord, "_compiled", None)
    else:  # setup.py builds it where a C compiler is found, as here and in CI: numpy is only the fallback
        assert tfrecord._compiled is not None
    return request.param


def _features(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Every varint width from 1 to 5 bytes, zeros, one-byte columns and floats; names out of order.
    widths = rng.integers(0, 35, (rows, 9))
    return {
        "z_ids": (rng.integers(0, 2**62, (rows, 9)) % (1 << widths)).astype(np.int64),
        "a_mask": rng.integers(0, 2, (rows, 16)),
        "weights": rng.normal(size=(rows, 3)).astype(np.float32),
        "label": rng.integers(0, 2, (rows, 1)),
        "empty": np.zeros((rows, 0), dtype=np.int64),
    }


def _tf_example(features: dict[str, np.ndarray], row: int) -> bytes:
    feature = {}
    for name, values in features.items():
        if np.issubdtype(values.dtype, np.floating):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values[row].tolist()))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values[row].tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def test_examples_are_tensorflows_bytes() -> None:
    features = _features(300, seed=1)
    assert encode_examples(features) == [_tf_example(features, row) for row in range(300)]


def test_framing_is_tfrecordwriters(tmp_path: Path) -> None:
    features = _features(120, seed=2)
    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for row in range(120):
            writer.write(_tf_example(features, row))
    block = framed_examples(features)
    assert block.data == Path(path).read_bytes()
    assert len(block) == 120 and block.ends[-1] == len(block.data)
    assert [bytes(r.numpy()) for r in tf.data.TFRecordDataset(path)] == encode_examples(features)


def test_no_rows_and_empty_features() -> None:
    nothing = framed_examples(_features(0, seed=1))
    assert nothing.data == b"" and len(nothing) == 0
    block = framed_examples({"empty": np.zeros((3, 0), dtype=np.int64), "none": np.zeros((3, 0), dtype=np.float32)})
    assert block.records()[0][12:-4] == _tf_example({"empty": np.zeros((1, 0), dtype=np.int64),
                                                     "none": np.zeros((1, 0), dtype=np.float32)}, 0)


def test_blocks_take_and_concat() -> None:
    first, second = framed_examples(_features(7, seed=3)), framed_examples(_features(5, seed=4))
    joined = RecordBlock.concat([first, second])
    assert joined.data == first.data + second.data and joined.records() == first.records() + second.records()
    rows = np.array([11, 0, 3, 3, 7])
    assert joined.take(rows).records() == [joined.records()[row] for row in rows]
    assert RecordBlock.concat([]).data == b"" and len(joined.take(np.zeros(0, dtype=np.int64))) == 0


def test_refuses_values_protobuf_varints_here_do_not_cover() -> None:
    with pytest.raises(ValueError, match=r"\[0, 2\*\*35\)"):
        encode_examples({"ids": np.array([[1, -1]])})
    with pytest.raises(ValueError, match="same number of rows"):
        encode_examples({"a": np.zeros((2, 1), dtype=np.int64), "b": np.zeros((3, 1), dtype=np.int64)})
