"""Serialized `tf.train.Example`s in TFRecord framing, for whole batches at once, without TensorFlow.

Building `tf.train.Example` protos costs about 30 µs per 128-token instance
here, as much as creating the instance itself. Two encoders give the same
bytes: `Example.SerializeToString(deterministic=True)` (map keys sorted),
framed as `tf.io.TFRecordWriter` frames them, which tests check against
TensorFlow for both. The compiled one (`_tfrecord_frames.c`, a loop over the
values, under 1 µs per instance) is used wherever setup.py could build it.
The numpy one, for installs without a C compiler, treats every part of a
record (feature payloads as packed varints or floats, the headers whose
lengths follow from the payload lengths, the TFRecord length, CRCs) as a
"column" of byte strings, one per row, and assembles the rows from their
columns with one gather (about 12 µs per instance); only the CRC32C of each
record is a call per record. Not needing TensorFlow keeps Beam workers light.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import google_crc32c
import numpy as np

try:  # the same encoder compiled (formats/_tfrecord_frames.c): setup.py builds it where a C compiler is found
    from formats import _tfrecord_frames as _compiled
except ImportError:
    _compiled = None

_MAX_VARINT_BYTES = 5  # values below 2**35: token ids, positions, masks, labels
_CRC_MASK_DELTA = 0xA282EAD8


class _Part(NamedTuple):
    """One byte string per row: row i's is source[starts[i]:starts[i] + lengths[i]]."""

    source: np.ndarray  # uint8
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    np.cumsum(values[:-1], out=out[1:])
    return out


def _back_to_back(flat: np.ndarray, lengths: np.ndarray) -> _Part:
    """Rows stored one after another in `flat`."""
    return _Part(flat, _exclusive_cumsum(lengths), lengths)


def _table_part(table: Sequence[bytes], which: np.ndarray) -> _Part:
    """Row i is table[which[i]]: few distinct strings (headers, lengths and their CRCs) chosen per row."""
    lengths = np.array([len(entry) for entry in table], dtype=np.int64)
    return _Part(np.frombuffer(b"".join(table), dtype=np.uint8), _exclusive_cumsum(lengths)[which], lengths[which])


def _assemble(parts: Sequence[_Part]) -> tuple[np.ndarray, np.ndarray]:
    """Row i is row i of every part, in part order. Returns (all rows back to back as uint8, each row's
    length); one gather over the output bytes."""
    source = np.concatenate([part.source for part in parts])
    bases = _exclusive_cumsum(np.array([len(part.source) for part in parts], dtype=np.int64))
    starts = np.stack([base + part.starts for base, part in zip(bases, parts)], axis=1).ravel()
    lengths = np.stack([part.lengths for part in parts], axis=1)
    spans = lengths.ravel()
    total = int(spans.sum())
    index_type = np.int32 if total < 2**31 and len(source) < 2**31 else np.int64
    # Each output byte's source position: consecutive within a span, jumping at span starts.
    index = np.ones(total, dtype=index_type)
    out_starts = _exclusive_cumsum(spans)
    used = spans > 0
    jumps = starts[used] - np.concatenate([[0], (starts[used] + spans[used])[:-1]]) + 1
    index[out_starts[used]] = jumps.astype(index_type)
    if total:
        index[0] -= 1
    return source[np.cumsum(index, dtype=index_type)], lengths.sum(axis=1)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_rows(values: np.ndarray) -> _Part:
    """Each row's values (int64, in [0, 2**35)) as packed varints (protobuf's encoding of repeated int64)."""
    largest = int(values.max()) if values.size else 0
    if largest < 0x80:  # masks, segment ids, labels: one byte per value
        return _back_to_back(values.astype(np.uint8).ravel(), np.full(len(values), values.shape[1], dtype=np.int64))
    most = max(1, (largest.bit_length() + 6) // 7)  # bytes of the widest varint
    values = values.astype(np.uint32 if largest < 2**32 else np.uint64)
    kind = values.dtype.type
    widths = np.ones(values.shape, dtype=np.uint8)
    for k in range(1, most):
        widths += values >= kind(1 << (7 * k))
    septets = np.empty(values.shape + (most,), dtype=np.uint8)
    for k in range(most):
        septet = ((values >> kind(7 * k)) & kind(0x7F)).astype(np.uint8)
        septets[..., k] = septet | ((widths > k + 1).view(np.uint8) << 7) if k + 1 < most else septet
    return _back_to_back(septets[np.arange(most) < widths[..., None]], widths.sum(axis=1, dtype=np.int64))


def _float_rows(values: np.ndarray) -> _Part:
    values = values.astype("<f4", copy=False)  # protobuf floats are little-endian
    return _back_to_back(values.view(np.uint8).ravel(), np.full(len(values), 4 * values.shape[1], dtype=np.int64))


def _entry_header(name: bytes, list_tag: int, payload_length: int) -> bytes:
    """The bytes of a feature's map entry before its packed payload of `payload_length` bytes.

    Entry = {key: 1, value: 2 = Feature{int64_list: 3 | float_list: 2 = List{value: 1 (packed)}}};
    an empty repeated field is omitted, so an empty list is an empty message.
    """
    key = b"\x0a" + _varint(len(name)) + name
    packed_header = b"\x0a" + _varint(payload_length) if payload_length else b""
    list_length = len(packed_header) + payload_length
    feature_header = bytes((list_tag,)) + _varint(list_length)
    feature_length = len(feature_header) + list_length
    value_header = b"\x12" + _varint(feature_length)
    body_length = len(key) + len(value_header) + feature_length
    return b"\x0a" + _varint(body_length) + key + value_header + feature_header + packed_header


class _Feature(NamedTuple):
    name: bytes
    is_float: bool
    values: np.ndarray  # 2-D, C-contiguous, native byte order: float32, or int64 in [0, 2**35)


def _checked(features: Mapping[str, np.ndarray]) -> tuple[int, list[_Feature]]:
    """(rows, the features in name order, as the encoders take them); ValueError for what they cannot encode."""
    counts = {len(features[name]) for name in features}
    if len(counts) != 1:
        raise ValueError(f"all features need the same number of rows, got {sorted(counts)}")
    checked = []
    for name in sorted(features):
        values = np.asarray(features[name])
        if values.ndim != 2:
            raise ValueError(f"feature {name!r} must be 2-D [rows, values], got shape {values.shape}")
        is_float = bool(np.issubdtype(values.dtype, np.floating))
        values = np.ascontiguousarray(values, dtype=np.float32 if is_float else np.int64)  # native byte order
        if not is_float and values.size and (values.min() < 0 or values.max() >= 1 << (7 * _MAX_VARINT_BYTES)):
            raise ValueError("feature values must be in [0, 2**35)")
        checked.append(_Feature(name.encode("utf-8"), is_float, values))
    return counts.pop(), checked


def _framed_rows(rows: int, features: list[_Feature]) -> tuple[np.ndarray, np.ndarray]:
    """Every row's serialized Example (its features' map entries in name order) framed as a TFRecord
    (length, masked CRC of the length, Example, masked CRC of the Example); (bytes, lengths) as _assemble."""
    entries = []
    for name, is_float, values in features:
        payloads = _float_rows(values) if is_float else _varint_rows(values)
        sizes, which = np.unique(payloads.lengths, return_inverse=True)
        headers = [_entry_header(name, 0x12 if is_float else 0x1A, int(size)) for size in sizes]
        entries += [_table_part(headers, which), payloads]
    body_lengths = sum(part.lengths for part in entries)
    bodies, which = np.unique(body_lengths, return_inverse=True)
    heads = [b"\x0a" + _varint(int(length)) for length in bodies]  # the Example's field 1
    record_lengths = [len(head) + int(length) for head, length in zip(heads, bodies)]
    length_bytes = [length.to_bytes(8, "little") for length in record_lengths]
    no_crc = _Part(np.zeros(4, dtype=np.uint8), np.zeros(rows, dtype=np.int64), np.full(rows, 4, dtype=np.int64))
    data, lengths = _assemble([_table_part(length_bytes, which),
                               _table_part([masked_crc(b) for b in length_bytes], which),
                               _table_part(heads, which), *entries, no_crc])
    # The records' CRCs, written over the zeros left for them.
    ends = np.cumsum(lengths)
    record_starts, crc_starts = ends - lengths + 12, ends - 4
    raw = data.tobytes()
    crcs = b"".join(masked_crc(raw[start:end]) for start, end in zip(record_starts.tolist(), crc_starts.tolist()))
    data[(crc_starts[:, None] + np.arange(4)).ravel()] = np.frombuffer(crcs, dtype=np.uint8)
    return data, lengths


def masked_crc(data: bytes) -> bytes:
    """TFRecord's masked CRC32C of `data`, as the 4 little-endian bytes a frame stores."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF).to_bytes(4, "little")


def record_starts(ends: np.ndarray) -> np.ndarray:
    """Where each record begins, from where each ends (records back to back from 0)."""
    return np.concatenate([np.zeros(min(1, len(ends)), dtype=np.int64), ends[:-1]])


class RecordBlock(NamedTuple):
    """TFRecord-framed records back to back, as a .tfrecord file holds them."""

    data: bytes
    ends: np.ndarray  # int64: where each record's frame ends in `data`

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def starts(self) -> np.ndarray:
        return record_starts(self.ends)

    def take(self, rows: np.ndarray) -> RecordBlock:
        """The records at `rows`, in that order."""
        # Slicing the bytes costs a fraction of a microsecond a record; a numpy gather would need an
        # 8-byte index per byte moved (hundreds of MB for a shard).
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends, data = self.starts[rows], self.ends[rows], self.data
        return RecordBlock(b"".join([data[start:end] for start, end in zip(starts.tolist(), ends.tolist())]),
                           np.cumsum(ends - starts, dtype=np.int64))

    @staticmethod
    def concat(blocks: Sequence[RecordBlock]) -> RecordBlock:
        offsets = np.cumsum([0] + [len(block.data) for block in blocks], dtype=np.int64)
        ends = [block.ends + offset for block, offset in zip(blocks, offsets)]
        return RecordBlock(b"".join(block.data for block in blocks),
                           np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64))

    def records(self) -> list[bytes]:
        """Each record's frame (length, its CRC, data, its CRC)."""
        return [self.data[start:end] for start, end in zip(self.starts.tolist(), self.ends.tolist())]


def encode_examples(features: Mapping[str, np.ndarray]) -> list[bytes]:
    """One serialized `tf.train.Example` per row of the 2-D arrays in `features`.

    Integer arrays become Int64List features, floating arrays FloatList.
    """
    return [record[12:-4] for record in framed_examples(features).records()]


def framed_examples(features: Mapping[str, np.ndarray]) -> RecordBlock:
    """`encode_examples(features)` framed as TFRecords: length (uint64 LE), masked CRC32C of the length,
    the Example, masked CRC32C of the Example."""
    rows, checked = _checked(features)
    if _compiled is not None:
        data, ends = _compiled.frame_examples(rows, [(f.name, f.is_float, f.values.shape[1], f.values)
                                                     for f in checked])
        return RecordBlock(data, np.frombuffer(ends, dtype="<i8").astype(np.int64))
    data, lengths = _framed_rows(rows, checked)
    return RecordBlock(data.tobytes(), np.cumsum(lengths, dtype=np.int64))
