"""What the pretraining-data tests share: the books sample and its vocab, a reader of a dataset folder, and
small tokenized documents."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from formats.pretraining_data import DatasetMetadata, feature_spec
from pipelines.pretraining.instances import SpecialIds, TokenizedDocument
from pipelines.pretraining.layout import bucket_of, count_in_bucket, rank_key
from tests.support.paths import DATA, UNCASED_VOCAB

VOCAB = str(UNCASED_VOCAB)
BOOKS = str(DATA / "bert_text" / "books-en.txt")
SPECIAL = SpecialIds(cls=101, sep=102, mask=103, vocab_size=30522)  # those of VOCAB


def read_dataset(folder: Path) -> tuple[DatasetMetadata, dict[str, np.ndarray]]:
    """metadata.json and every instance, parsed with the feature spec of the reference run_pretraining.py."""
    import tensorflow as tf

    metadata = DatasetMetadata.from_json((folder / "metadata.json").read_text())
    spec = {name: tf.io.FixedLenFeature(f["shape"], tf.float32 if f["dtype"] == "float32" else tf.int64)
            for name, f in feature_spec(metadata.max_seq_length, metadata.max_predictions_per_seq).items()}
    files = [str(folder / name) for name in metadata.files]
    records = tf.data.TFRecordDataset(files, compression_type="GZIP" if metadata.compression else None)
    parsed = [tf.io.parse_single_example(record, spec) for record in records]
    return metadata, {name: np.stack([p[name].numpy() for p in parsed]) for name in spec}


def tokenized_document(lengths: list[int], first_id: int = 1000, doc_id: str = "d") -> TokenizedDocument:
    """A document of sentences of these lengths, its token ids counting up from first_id."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenizedDocument(doc_id, np.arange(first_id, first_id + offsets[-1], dtype=np.int32), offsets, None)


def bucket_totals(documents: dict[str, int], seed: int) -> dict[int, tuple[int, int]]:
    """What the pipeline counts for the layout, {bucket: (documents, tokens)}, of documents given as {id: tokens}."""
    totals: dict[int, tuple[int, int]] = {}
    for doc_id, tokens in documents.items():
        count_in_bucket(totals, bucket_of(rank_key(seed, doc_id)), 1, tokens)
    return totals
