"""What `bertprep pretrain` reads: a `bertprep pretraining-data` folder, or TFRecord files as the reference
run_pretraining.py's --input_file names them (comma-separated files and globs).

A folder is described by its metadata.json, and so are files that `pretraining-data --output_file` wrote
(metadata.json beside them); the run is checked against it (`input_pipeline.check_metadata`).
Files without one, such as the reference create_pretraining_data.py's output, are read with the lengths the
run's flags give (the reference's defaults 128 and 20), and the first record of every file is checked against
them before training, so a mismatch names the file and both lengths instead of failing inside TensorFlow.

A file cut short is the one damage TensorFlow does not report: TFRecordDataset ends a file quietly at a
partial last record. Files a metadata.json lists are checked against the sizes it records; the others must
end with a whole record (`unframed_tail`, which reads only their last megabyte). Damage inside a file (a
corrupted record, a record of another shape) surfaces as a TensorFlow error while training or evaluating;
`damaged_file` then finds the file and says what is wrong.
"""
from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from bert_model.input_pipeline import (
    _COMPRESSION_TYPES,
    DynamicMasking,
    PretrainingDataError,
    check_metadata,
    read_metadata,
    records_dataset,
    shard_paths,
)
from bert_model.reference_defaults import REFERENCE_MAX_PREDICTIONS_PER_SEQ, REFERENCE_MAX_SEQ_LENGTH
from formats.pretraining_data import METADATA_FILE, DatasetMetadata, feature_spec, file_problems
from formats.tfrecord import masked_crc

_log = logging.getLogger(__name__)
_GZIP_MAGIC = b"\x1f\x8b"
_ID_FEATURES = ("input_ids", "masked_lm_ids")
_SCAN_BATCH = 1024
# How far back from a file's end its last record is looked for: records of pretraining data are a few KB.
_TAIL_BYTES = 1 << 20
_HEADER_BYTES = 12  # length (8) and its CRC (4)


@dataclass(frozen=True)
class PretrainingFiles:
    """The TFRecord files of one dataset, how they are compressed, and their metadata when they have one."""

    location: str  # as the user gave it: a folder, or --input_file's list
    paths: tuple[str, ...]
    compression: str  # TFRecordDataset's compression_type
    metadata: DatasetMetadata | None
    metadata_folder: str = ""  # the folder of the metadata.json, where there is one

    def lengths(self, max_seq_length: int | None, max_predictions_per_seq: int | None) -> tuple[int, int]:
        """The run's (max_seq_length, max_predictions_per_seq): the given ones, else the metadata's, else the
        reference's defaults."""
        if self.metadata is not None:
            defaults = (self.metadata.max_seq_length, self.metadata.max_predictions_per_seq)
        else:
            defaults = (REFERENCE_MAX_SEQ_LENGTH, REFERENCE_MAX_PREDICTIONS_PER_SEQ)
        return max_seq_length or defaults[0], max_predictions_per_seq or defaults[1]


def open_files(location: str) -> PretrainingFiles:
    """A pretraining-data folder, or comma-separated TFRecord files and globs; PretrainingDataError when
    nothing usable is there."""
    if tf.io.gfile.isdir(location):
        return _open_folder(location)
    paths = _expand(location)
    metadata = _metadata_of(paths)
    if metadata is not None:
        compression = _COMPRESSION_TYPES.get(metadata.compression, "")
    else:
        compression = _detect_compression(paths)
    return PretrainingFiles(location, tuple(paths), compression, metadata,
                            posixpath.dirname(paths[0]) if metadata else "")


def _open_folder(folder: str) -> PretrainingFiles:
    try:
        metadata = read_metadata(folder)
    except PretrainingDataError as error:
        if tf.io.gfile.glob(posixpath.join(folder, "*.tfrecord*")):
            raise PretrainingDataError(f"{error}; TFRecords without a {METADATA_FILE} (such as the reference "
                                       f"create_pretraining_data.py writes) are read with --input_file "
                                       f"'{folder.rstrip('/')}/*.tfrecord*'") from None
        raise
    return PretrainingFiles(folder, tuple(shard_paths(folder, metadata)),
                            _COMPRESSION_TYPES.get(metadata.compression, ""), metadata, folder)


def _expand(location: str) -> list[str]:
    """Every file of a comma-separated list of files and globs, in the order given (each glob sorted)."""
    paths: list[str] = []
    for pattern in filter(None, (part.strip() for part in location.split(","))):
        matched = sorted(path for path in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(path))
        if not matched:
            raise PretrainingDataError(f"--input_file {pattern} matches no file")
        paths += [path for path in matched if path not in paths]
    if not paths:
        raise PretrainingDataError(f"--input_file {location!r} names no file")
    return paths


def _metadata_of(paths: list[str]) -> DatasetMetadata | None:
    """The metadata that lists every one of `paths`: the metadata.json of their folder (a pretraining-data
    folder, or the files of its --output_file), or FILE.metadata.json beside the first; None when there is
    none."""
    folder = posixpath.dirname(paths[0])
    for candidate in (posixpath.join(folder, METADATA_FILE), f"{paths[0]}.{METADATA_FILE}"):
        if not tf.io.gfile.exists(candidate):
            continue
        with tf.io.gfile.GFile(candidate, "r") as handle:
            try:
                metadata = DatasetMetadata.from_json(handle.read())
            except (ValueError, TypeError) as error:
                raise PretrainingDataError(f"{candidate} is not usable: {error}") from None
        listed = {posixpath.join(folder, name) for name in metadata.files}
        if set(paths) <= listed:
            sizes = {path: tf.io.gfile.stat(path).length for path in paths}
            problems = file_problems({path: metadata.file_bytes.get(posixpath.basename(path)) for path in paths},
                                     sizes)
            if problems:
                raise PretrainingDataError(f"{candidate} describes --input_file, but {problems[0]}")
            return metadata
        _log.warning("%s does not list all of the files given; reading them without it", candidate)
    return None


def _detect_compression(paths: list[str]) -> str:
    """"GZIP" when every file starts as gzip does, "" when none does; mixed is refused."""
    gzipped = set()
    for path in paths:
        with tf.io.gfile.GFile(path, "rb") as handle:
            gzipped.add(handle.read(2) == _GZIP_MAGIC)
    if len(gzipped) > 1:
        raise PretrainingDataError("some of the --input_file files are gzip-compressed and some are not; "
                                   "give files of one kind")
    return "GZIP" if gzipped.pop() else ""


def check_files(files: PretrainingFiles, max_seq_length: int, max_predictions_per_seq: int, vocab_size: int,
                next_sentence: bool = True) -> None:
    """Raises PretrainingDataError, naming the file and both values, when the data does not fit the run: its
    metadata, else the first record of every file."""
    if files.metadata is not None:
        check_metadata(files.metadata, files.metadata_folder, max_seq_length, max_predictions_per_seq, vocab_size,
                       next_sentence)
        return
    for path in files.paths:
        record = _first_record(path, files.compression)
        if record is None:
            raise PretrainingDataError(f"{path} holds no records")
        problem = record_problem(record, max_seq_length, max_predictions_per_seq, vocab_size)
        if problem:
            raise PretrainingDataError(f"{path}: {problem}")
        problem = unframed_tail(path) if not files.compression else None
        if problem:
            raise PretrainingDataError(f"{problem}; remove or regenerate that file")


def _first_record(path: str, compression: str) -> bytes | None:
    try:
        for record in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
            return record.numpy()
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        raise PretrainingDataError(f"{path} is not a readable TFRecord file ({_first_line(error)})") from None
    return None


def record_problem(record: bytes, max_seq_length: int, max_predictions_per_seq: int, vocab_size: int) -> str | None:
    """What keeps one serialized record from this run (None when it fits)."""
    try:
        features = tf.train.Example.FromString(record).features.feature
    except DecodeError:
        return "its records are not tf.train.Example protos"
    spec = feature_spec(max_seq_length, max_predictions_per_seq)
    missing = [name for name in spec if name not in features]
    if missing:
        return f"its records lack {', '.join(missing)}: not masked-LM pretraining data"
    length = len(features["input_ids"].int64_list.value)
    predictions = len(features["masked_lm_positions"].int64_list.value)
    if (length, predictions) != (max_seq_length, max_predictions_per_seq):
        return (f"its records have max_seq_length {length} and max_predictions_per_seq {predictions}, but this "
                f"run reads {max_seq_length} and {max_predictions_per_seq}: give --max_seq_length={length} "
                f"--max_predictions_per_seq={predictions} (without a {METADATA_FILE} they default to the "
                f"reference's {REFERENCE_MAX_SEQ_LENGTH} and {REFERENCE_MAX_PREDICTIONS_PER_SEQ})")
    largest = max(max(features[name].int64_list.value, default=0) for name in _ID_FEATURES)
    if largest >= vocab_size:
        return f"its token ids reach {largest} but the model's vocab_size is {vocab_size}"
    return None


def unframed_tail(path: str) -> str | None:
    """Why the TFRecord file `path` does not end with a whole record (None when it does).

    A record is [length: 8][masked CRC of length: 4][data][masked CRC of data: 4]; the last one is found
    among the last _TAIL_BYTES as the offset whose length reaches exactly the end of the file and whose two
    CRCs hold.
    """
    size = tf.io.gfile.stat(path).length
    start = max(0, size - _TAIL_BYTES)
    with tf.io.gfile.GFile(path, "rb") as handle:
        handle.seek(start)
        tail = np.frombuffer(handle.read(), dtype=np.uint8)
    offsets = np.arange(max(0, len(tail) - _HEADER_BYTES - 4 + 1))
    lengths = np.zeros(len(offsets), dtype=np.uint64)
    for byte in range(8):  # little-endian uint64 at every offset
        lengths |= tail[offsets + byte].astype(np.uint64) << np.uint64(8 * byte)
    reaching_end = lengths == (len(tail) - offsets - _HEADER_BYTES - 4).astype(np.uint64)
    for offset in offsets[reaching_end].tolist():
        header = tail[offset:offset + 8].tobytes()
        if (masked_crc(header) == tail[offset + 8:offset + _HEADER_BYTES].tobytes()
                and masked_crc(tail[offset + _HEADER_BYTES:-4].tobytes()) == tail[-4:].tobytes()):
            return None
    return (f"{path} does not end with a whole record: it was cut short (truncated), and TensorFlow would "
            "silently stop reading it there")


def files_dataset(files: PretrainingFiles, batch_size: int, max_seq_length: int, max_predictions_per_seq: int,
                  vocab_size: int, is_training: bool, *, seed: int | None = None,
                  input_context: tf.distribute.InputContext | None = None,
                  dynamic_masking: DynamicMasking | None = None) -> tf.data.Dataset:
    """`input_pipeline.records_dataset` over `files` (check them first with `check_files`)."""
    return records_dataset(list(files.paths), files.compression, batch_size, max_seq_length,
                           max_predictions_per_seq, vocab_size, is_training, seed=seed, input_context=input_context,
                           dynamic_masking=dynamic_masking)


def damaged_file(files: PretrainingFiles, max_seq_length: int, max_predictions_per_seq: int,
                 vocab_size: int) -> str | None:
    """"FILE: what is wrong" for the first file that cannot be read whole, parsed with the run's lengths or
    whose ids exceed the vocabulary; None when every file is sound. Reads every record: for after a failure."""
    _log.info("reading the %d files of %s to find the one that failed", len(files.paths), files.location)
    spec = {name: tf.io.FixedLenFeature(entry["shape"], tf.as_dtype(entry["dtype"]))
            for name, entry in feature_spec(max_seq_length, max_predictions_per_seq).items()}
    for path in files.paths:
        problem = unframed_tail(path) if not files.compression and files.metadata is None else None
        if problem:
            return problem
        batches = tf.data.TFRecordDataset(path, compression_type=files.compression).batch(_SCAN_BATCH)
        try:
            for serialized in batches:
                parsed = tf.io.parse_example(serialized, spec)
                largest = max(int(tf.reduce_max(parsed[name])) for name in _ID_FEATURES)
                if largest >= vocab_size:
                    return f"{path}: its token ids reach {largest} but the model's vocab_size is {vocab_size}"
        except tf.errors.DataLossError as error:
            return f"{path} is damaged (truncated or corrupted): {_first_line(error)}"
        except tf.errors.InvalidArgumentError as error:
            return (f"{path} holds records that do not parse as max_seq_length {max_seq_length}, "
                    f"max_predictions_per_seq {max_predictions_per_seq}: {_first_line(error)}")
    return None


def _first_line(error: tf.errors.OpError) -> str:
    """TensorFlow's reason without the function and op names around it: "corrupted record at 49604"."""
    text = (error.message or str(error)).strip().splitlines()[0]
    return re.sub(r"\s*\[Op:.*$", "", re.sub(r"\{\{[^}]*\}\}\s*", "", text)).strip()
