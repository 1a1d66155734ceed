"""The contract between `bertprep pretraining-data` and its readers (`inspect`, `bert_model`).

Each `OUT/seqL/` folder holds `part-SSSSS-of-NNNNN.tfrecord[.gz]` shards and a
`metadata.json` describing how they were made. The feature names, dtypes and
shapes are those the reference `run_pretraining.py` parses. This module has no
Beam or TensorFlow import so that every consumer can use it cheaply.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

METADATA_FILE = "metadata.json"
FORMAT = "bertprep.pretraining_data"
FORMAT_VERSION = 1
SHARD_STEM = "part"


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
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def features(self) -> dict[str, dict]:
        return feature_spec(self.max_seq_length, self.max_predictions_per_seq)

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
