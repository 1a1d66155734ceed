"""The labelling pipeline: the teacher's logits and the student's features for every transfer example, the
same bytes on one worker and two, counted per source in metadata.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model.classification.data import convert_examples, get_task
from bert_model.distillation.teacher import describe_teacher, load_teacher
from formats.distillation_labels import LabelsMetadata
from pipelines.cli import main as cli
from pipelines.distillation.transfer import transfer_examples
from tests.pipelines.distillation.test_transfer import write_documents
from tests.support.distillation import GLUE, distill_flags, tiny_config, train_teacher
from tests.support.paths import DATA, UNCASED_VOCAB
from vocab.tokenization import FullTokenizer


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_teacher(tmp_path_factory.mktemp("teacher"), "SST-2", GLUE / "SST-2")


def _transfer_files(folder: Path) -> list[Path]:
    """Unlabeled text of two kinds: movie-review lines and a corpus documents file of book sentences."""
    folder.mkdir()
    reviews = [row.split("\t")[0] for row in (GLUE / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    text = folder / "reviews.txt"
    text.write_text("\n".join(reviews[:45]) + "\n\n")
    book = (DATA / "gutenberg" / "pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt").read_text()
    sentences = [line.strip() for line in book.splitlines()[300:400] if len(line.strip()) > 20]
    documents = write_documents(folder / "documents-00000-of-00001.parquet", [sentences[:30], sentences[30:50]])
    return [text, documents]


def _records(folder: Path, metadata: LabelsMetadata) -> dict[str, np.ndarray]:
    spec = {name: tf.io.FixedLenFeature(feature["shape"], {"int64": tf.int64, "float32": tf.float32}[feature["dtype"]])
            for name, feature in metadata.feature_spec.items()}
    files = [str(folder / name) for name in sorted(metadata.file_bytes)]
    batch = next(iter(tf.data.TFRecordDataset(files).batch(10_000).map(lambda x: tf.io.parse_example(x, spec))))
    return {name: value.numpy() for name, value in batch.items()}


def test_labels_are_the_teachers_logits_on_the_students_features_on_any_worker_count(teacher: Path,
                                                                                     tmp_path: Path) -> None:
    transfer = _transfer_files(tmp_path / "transfer")
    # The student reads another, smaller vocab than the teacher: the first 8,000 tokens of the uncased one.
    student_vocab = tmp_path / "student-vocab.txt"
    student_vocab.write_text("".join(UNCASED_VOCAB.read_text().splitlines(keepends=True)[:8000]))
    config = tiny_config(tmp_path / "student-config", vocab_size=8000)
    outputs = {}
    for workers, beam_flags in (("1", []), ("2", ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])):
        out = tmp_path / f"student-{workers}"
        flags = distill_flags("SST-2", GLUE / "SST-2", teacher, config, out, student_vocab)
        assert cli.main([*flags, "--do_train", "--teacher_batch_size", "7", *[f"--transfer_file={p}" for p in transfer],
                         *beam_flags]) == 0
        outputs[workers] = out / "teacher_labels"
    one, two = outputs["1"], outputs["2"]
    names = sorted(path.name for path in one.iterdir())
    assert names == sorted(path.name for path in two.iterdir())
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name

    metadata = LabelsMetadata.from_dict(json.loads((one / "metadata.json").read_text()))
    task = get_task("sst-2")
    train, _ = task.examples(str(GLUE / "SST-2"), "train")
    sources = [train, *(list(transfer_examples(str(path), i, task, {})) for i, path in enumerate(transfer, 1))]
    assert [(s.examples, s.gold) for s in metadata.sources] == [(96, 96), (45, 0), (50, 0)]
    assert metadata.sources[1].skipped == {"empty line": 1} and metadata.num_examples == 191
    assert metadata.student["vocab_file"] == str(student_vocab) and metadata.teacher["max_seq_length"] == 32
    # One file per source here (batches_per_file batches of 7 hold them all), in source order.
    assert sorted(metadata.file_bytes) == ["labels-00000-00000.tfrecord", "labels-00001-00000.tfrecord",
                                           "labels-00002-00000.tfrecord"]

    records = _records(one, metadata)
    examples = [example for source in sources for example in source]
    expected = convert_examples(examples, task, 24, FullTokenizer(str(student_vocab)))
    for name in ("input_ids", "input_mask", "segment_ids"):
        np.testing.assert_array_equal(records[name], expected[name])
    np.testing.assert_array_equal(records["label_ids"][:96], expected["label_ids"][:96])
    np.testing.assert_array_equal(records["label_ids"][96:], 0)
    np.testing.assert_array_equal(records["has_label"][:, 0], [1] * 96 + [0] * 95)
    logits = load_teacher(describe_teacher(str(teacher), 32), batch_size=7).logits(examples)
    np.testing.assert_array_equal(records["teacher_logits"], logits)
    accuracy = np.mean(np.argmax(logits[:96], axis=-1) == expected["label_ids"][:96, 0])
    assert metadata.teacher_gold_metrics == {"accuracy": pytest.approx(accuracy)}
