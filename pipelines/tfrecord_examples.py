"""Serialized `tf.train.Example`s and TFRecord framing, without TensorFlow.

Building `tf.train.Example` protos costs about 30 µs per 128-token instance
here, as much as creating the instance itself; encoding a batch of instances
with numpy costs a few µs each (benchmarks/pretraining_data.py). The bytes
equal `Example.SerializeToString(deterministic=True)` (map keys sorted), which
tests check against TensorFlow's own protos. Not needing TensorFlow in the
Beam workers also keeps them light.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

import google_crc32c
import numpy as np

_MAX_VARINT_BYTES = 5  # values below 2**35: token ids, positions, masks, labels
_CRC_MASK_DELTA = 0xA282EAD8


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(field_tag: int, payload: bytes) -> bytes:
    return bytes((field_tag,)) + _varint(len(payload)) + payload


def _packed_varint_rows(values: np.ndarray) -> list[bytes]:
    """Each row's values as packed varints (protobuf's encoding of repeated int64)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() >= 1 << (7 * _MAX_VARINT_BYTES)):
        raise ValueError("feature values must be in [0, 2**35)")
    if values.size and values.max() < 0x80:  # masks, segment ids, labels: one byte per value
        return _fixed_width_rows(values.astype(np.uint8))
    widths = np.ones(values.shape, dtype=np.int64)
    for k in range(1, _MAX_VARINT_BYTES):
        widths += values >= (1 << (7 * k))
    groups = np.arange(int(widths.max(initial=1)))
    septets = (values[..., None] >> (7 * groups)) & 0x7F
    continued = groups < (widths[..., None] - 1)
    encoded = (septets | (continued << 7)).astype(np.uint8)[groups < widths[..., None]]
    flat = encoded.tobytes()
    ends = np.cumsum(widths.sum(axis=1)).tolist()
    return [flat[start:end] for start, end in zip([0, *ends[:-1]], ends)]


def _fixed_width_rows(values: np.ndarray) -> list[bytes]:
    data = np.ascontiguousarray(values).tobytes()
    row_bytes = len(data) // len(values) if len(values) else 0
    return [data[start:start + row_bytes] for start in range(0, len(data), row_bytes or 1)]


def _packed_float_rows(values: np.ndarray) -> list[bytes]:
    return _fixed_width_rows(np.asarray(values, dtype="<f4"))


class _EntryHeaders(dict):
    """Bytes of a feature's map entry before its packed payload, by payload length.

    Entry = {key: 1, value: 2 = Feature{int64_list: 3 | float_list: 2 = List{value: 1 (packed)}}};
    every length in it follows from the payload length, and few lengths occur.
    """

    def __init__(self, name: str, list_tag: int) -> None:
        super().__init__()
        self.key = _length_delimited(0x0A, name.encode("utf-8"))
        self.list_tag = list_tag

    def __missing__(self, payload_length: int) -> bytes:
        # An empty repeated field is omitted, so an empty list is an empty message.
        packed_header = b"\x0a" + _varint(payload_length) if payload_length else b""
        list_length = len(packed_header) + payload_length
        feature_header = bytes((self.list_tag,)) + _varint(list_length)
        feature_length = len(feature_header) + list_length
        value_header = b"\x12" + _varint(feature_length)
        body_length = len(self.key) + len(value_header) + feature_length
        header = b"\x0a" + _varint(body_length) + self.key + value_header + feature_header + packed_header
        self[payload_length] = header
        return header


def encode_examples(features: Mapping[str, np.ndarray]) -> list[bytes]:
    """One serialized `tf.train.Example` per row of the 2-D arrays in `features`.

    Integer arrays become Int64List features, floating arrays FloatList.
    """
    names = sorted(features)
    counts = {len(features[name]) for name in names}
    if len(counts) != 1:
        raise ValueError(f"all features need the same number of rows, got {sorted(counts)}")
    columns = []
    for name in names:
        values = np.asarray(features[name])
        is_float = np.issubdtype(values.dtype, np.floating)
        payloads = _packed_float_rows(values) if is_float else _packed_varint_rows(values)
        headers = _EntryHeaders(name, 0x12 if is_float else 0x1A)
        columns.append([headers[len(payload)] + payload for payload in payloads])
    return [_length_delimited(0x0A, b"".join(entries)) for entries in zip(*columns)]


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF)


def frame_records(records: Iterable[bytes]) -> bytes:
    """TFRecord file bytes: length, masked CRC32C of the length, data, masked CRC32C of the data."""
    parts = []
    for record in records:
        length = struct.pack("<Q", len(record))
        parts += (length, _masked_crc(length), record, _masked_crc(record))
    return b"".join(parts)
