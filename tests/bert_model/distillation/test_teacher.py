"""Teachers: a fine-tuning folder and its SavedModel read as the same classifier of raw text, and folders that
cannot teach refused with what to change."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model.classification.data import convert_examples, get_task
from bert_model.classification.model import BertClassifier
from bert_model.config import BertConfig
from bert_model.distillation.teacher import CHECKPOINT, SAVED_MODEL, TeacherError, describe_teacher, load_teacher
from bert_model.finetuning import initialize_from_checkpoint
from tests.support.distillation import GLUE, train_teacher
from vocab.tokenization import FullTokenizer


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint folder, SavedModel folder) of one tiny SST-2 teacher."""
    root = tmp_path_factory.mktemp("teacher")
    folder = train_teacher(root, "SST-2", GLUE / "SST-2", "--export_dir", str(root / "export"))
    return folder, root / "export"


def test_a_folder_and_its_export_describe_and_classify_alike(teacher: tuple[Path, Path]) -> None:
    folder, export = teacher
    info = describe_teacher(str(folder), default_max_seq_length=99)
    assert info.kind == CHECKPOINT and info.weights.endswith("model.ckpt-12")
    # labels.json records the length the teacher was fine-tuned at; the default is not used.
    assert (info.labels.task, info.labels.labels, info.labels.do_lower_case, info.labels.max_seq_length) == \
        ("sst-2", ("0", "1"), True, 32)
    exported = describe_teacher(str(export), 99)
    assert exported.kind == SAVED_MODEL and exported.labels == info.labels
    assert Path(exported.vocab_file).read_bytes() == (folder / "vocab.txt").read_bytes()

    task = get_task("sst-2")
    examples, _ = task.examples(str(GLUE / "SST-2"), "dev")
    examples = examples[:11]
    model = BertClassifier(BertConfig.from_json_file(str(folder / "bert_config.json")), 2)
    model.build()
    initialize_from_checkpoint(model, str(folder))
    direct = model(convert_examples(examples, task, 32, FullTokenizer(str(folder / "vocab.txt"))))["logits"].numpy()
    # Batches of 4: the last of three is padded; the padding rows never show.
    from_folder = load_teacher(info, batch_size=4).logits(examples)
    from_export = load_teacher(exported, batch_size=4).logits(examples)
    assert from_folder.shape == (11, 2) and from_folder.dtype == np.float32
    np.testing.assert_allclose(from_folder, direct, atol=1e-5)
    np.testing.assert_allclose(from_export, direct, atol=1e-5)


def test_folders_that_cannot_teach_are_refused(teacher: tuple[Path, Path], tmp_path: Path) -> None:
    folder, export = teacher
    with pytest.raises(TeacherError, match="is not a folder"):
        describe_teacher(str(tmp_path / "missing"), 32)
    for name, message in (("labels.json", "no labels.json, so its outputs' labels are unknown"),
                          ("vocab.txt", "has no vocab.txt"), ("checkpoint", "holds no checkpoint")):
        copy = tmp_path / f"without-{name}"
        shutil.copytree(folder, copy)
        (copy / name).unlink()
        with pytest.raises(TeacherError, match=message):
            describe_teacher(str(copy), 32)
    copy = tmp_path / "export-without-labels"
    shutil.copytree(export, copy)
    (copy / "labels.json").unlink()
    with pytest.raises(TeacherError, match="no labels.json"):
        describe_teacher(str(copy), 32)


def test_an_older_folder_without_a_recorded_length_takes_the_default(teacher: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    copy = tmp_path / "older"
    shutil.copytree(teacher[0], copy)
    labels = tf.io.gfile.GFile(str(copy / "labels.json")).read().replace('"max_seq_length": 32', '"other": 0')
    (copy / "labels.json").write_text(labels)
    assert describe_teacher(str(copy), 48).labels.max_seq_length == 48
