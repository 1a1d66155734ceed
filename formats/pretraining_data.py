"""The contract between `bertprep pretraining-data` and its readers (`inspect`, `bert_model`).

Each `OUT/seqL/` folder holds `part-SSSSS-of-NNNNN.tfrecord[.gz]` shards and a
`metadata.json` describing how they were made. The feature names, dtypes and
shapes are those the reference `run_pretraining.py` parses. This module has no
Beam or TensorFlow import so that every consumer can use it cheaply.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

METADATA_FILE = "metadata.json"
FORMAT = "bertprep.pretraining_data"
FORMAT_VERSION = 1
SHARD_STEM = "part"
SHARD_PATTERN = f"{SHARD_STEM}-*-of-*.tfrecord*"
# Every stage's completion record (corpus stats.json, vocab_stats.json, metadata.json) holds these two keys:
# the files the stage wrote, relative to the record's folder, with their sizes, and what identifies the run
# (stage, parameters, input files with sizes; see pipelines.output_folder).
FILE_BYTES = "file_bytes"
RUN = "run"


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> dict[str, dict]:
    """Name -> {"dtype", "shape"} of every feature, as `run_pretraining.py` parses them."""
    ints, floats = "int64", "float32"
    return {
        "input_ids": {"dtype": ints, "shape": [max_seq_length]},
        "input_mask": {"dtype": ints, "shape": [max_seq_length]},
        "segment_ids": {"dtype": ints, "shape": [max_seq_length]},
        "masked_lm_positions": {"dtype": ints, "shape": [max_predictions_per_seq]},
        "masked_lm_ids": {"dtype": ints, "shape": [max_predictions_per_seq]},
        "masked_lm_weights": {"dtype": floats, "shape": [max_predictions_per_seq]},
        "next_sentence_labels": {"dtype": ints, "shape": [1]},
    }


def shard_name(shard: int, num_shards: int, compression: str | None) -> str:
    return f"{SHARD_STEM}-{shard:05d}-of-{num_shards:05d}.tfrecord" + (".gz" if compression == "gzip" else "")


def length_folder(max_seq_length: int) -> str:
    return f"seq{max_seq_length}"


def file_problems(listed: Mapping[str, int | None], found: Mapping[str, int]) -> list[str]:
    """What differs between the files a completion record lists (name -> bytes, None: size not recorded) and
    those found (name -> bytes), e.g. ["part-00001-of-00004.tfrecord is missing"]."""
    problems = []
    for name, size in listed.items():
        if name not in found:
            problems.append(f"{name} is missing")
        elif size is not None and found[name] != size:
            problems.append(f"{name} has {found[name]} bytes, not the {size} its record lists")
    return problems


@dataclass
class DatasetMetadata:
    """What `metadata.json` holds; readers refuse data whose values differ from their configuration."""

    max_seq_length: int
    max_predictions_per_seq: int
    masked_lm_prob: float
    short_seq_prob: float
    dupe_factor: int
    whole_word_mask: bool
    do_lower_case: bool
    seed: int
    nsp: bool
    compression: str | None  # None or "gzip" (TFRecordDataset's compression_type "GZIP")
    vocab_file: str
    vocab_sha256: str
    vocab_size: int
    num_instances: int
    num_shards: int
    files: list[str]
    counters: dict[str, int] = field(default_factory=dict)  # this stage's counts, drops by reason
    input_stats: dict = field(default_factory=dict)  # the corpus stage's stats.json when there is one
    # Named as FILE_BYTES and RUN: the size of every file in `files` (empty in data made before sizes were
    # recorded: then only their presence is checked), and what identifies the run that made them.
    file_bytes: dict[str, int] = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def features(self) -> dict[str, dict]:
        return feature_spec(self.max_seq_length, self.max_predictions_per_seq)

    def listed_sizes(self) -> dict[str, int | None]:
        """Each shard's name -> its recorded size (None where the metadata records none)."""
        return {name: self.file_bytes.get(name) for name in self.files}

    def to_json(self) -> str:
        record = asdict(self)
        record["feature_spec"] = self.features
        return json.dumps(record, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DatasetMetadata:
        record = json.loads(text)
        if record.get("format") != FORMAT:
            raise ValueError(f"not a bertprep pretraining-data metadata file (format={record.get('format')!r})")
        if record.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"metadata format_version {record['format_version']} is newer than this bertprep "
                             f"understands ({FORMAT_VERSION}); upgrade bertprep")
        record.pop("feature_spec", None)
        return cls(**record)
