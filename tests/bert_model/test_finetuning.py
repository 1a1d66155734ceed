"""bert_model.finetuning, the part every task shares: steps, padding, records, the loop's accumulation
and precision, checkpoints and their pruning, initialization reports."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model import finetuning as ft
from bert_model.checkpoints import CheckpointError, save_checkpoint
from bert_model.classification.model import BertClassifier, per_example_loss
from bert_model.config import BertConfig
from bert_model.modeling import BertModel

CONFIG = BertConfig.from_dict({"vocab_size": 60, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "max_position_embeddings": 16, "hidden_dropout_prob": 0.0,
                               "attention_probs_dropout_prob": 0.0})


def _features(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 60, (rows, 8)).astype(np.int32)
    # A learnable rule: the label is whether the first token is in the upper half of the vocabulary.
    return {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids),
            "label_ids": (ids[:, :1] >= 30).astype(np.int32)}


def test_steps_and_warmup_as_the_reference() -> None:
    assert ft.steps_for_epochs(3668, 32, 3.0) == int(3668 / 32 * 3.0) == 343
    assert ft.steps_for_epochs(3668, 32, 3.0, accumulation_steps=2) == 171
    assert ft.steps_for_epochs(5, 32, 1.0) == 1
    assert ft.warmup_for(343, 0.1) == 34
    with pytest.raises(ValueError, match="warmup_proportion"):
        ft.warmup_for(10, 1.5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        ft.FinetuningOptions("out", train_steps=5, batch_size=2, optimizer="sgd")


def test_padded_records_round_trip(tmp_path: Path) -> None:
    features = _features(13)
    padded = ft.pad_to_batches(features, 4)
    assert len(padded["input_ids"]) == 16 and padded[ft.IS_REAL_EXAMPLE][:, 0].tolist() == [1] * 13 + [0] * 3
    assert not padded["input_ids"][13:].any()
    assert ft.write_records(str(tmp_path / "eval.tf_record"), padded) == 16
    path, spec = str(tmp_path / "eval.tf_record"), ft.record_parsing_spec(padded)
    batches = list(ft.record_dataset(path, spec, 4, is_training=False))
    assert len(batches) == 4 and batches[0]["label_ids"].shape == [4] and batches[0]["input_ids"].dtype == tf.int32
    np.testing.assert_array_equal(np.concatenate([b["input_ids"] for b in batches]), padded["input_ids"])
    # Training: repeated, shuffled with the seed, the same order for the same seed.
    first = [b["input_ids"].numpy() for b in ft.record_dataset(path, spec, 4, is_training=True).take(6)]
    again = [b["input_ids"].numpy() for b in ft.record_dataset(path, spec, 4, is_training=True).take(6)]
    np.testing.assert_array_equal(first, again)


def _tuner(output_dir: Path, **overrides) -> ft.Finetuner:
    values = {"train_steps": 30, "batch_size": 8, "learning_rate": 5e-3, "warmup_steps": 3, "steps_per_loop": 10,
              "save_checkpoints_steps": 10, "keep_checkpoints": 2, "progress_seconds": 3600, **overrides}
    options = ft.FinetuningOptions(str(output_dir), **values)
    return ft.Finetuner(lambda: BertClassifier(CONFIG, 2), per_example_loss(False), options)


@pytest.mark.parametrize("overrides", [{}, {"accumulation_steps": 2, "precision": "mixed_bfloat16"}])
def test_training_learns_saves_and_prunes(tmp_path: Path, overrides: dict) -> None:
    train = _features(160)
    ft.write_records(str(tmp_path / "train.tf_record"), train)
    spec = ft.record_parsing_spec(train)
    tuner = _tuner(tmp_path / "out", **overrides)
    results = tuner.train(lambda context: ft.record_dataset(str(tmp_path / "train.tf_record"), spec, 8,
                                                            is_training=True, input_context=context))
    assert tuner.step == 30 and results["loss"] < 0.6  # ln 2 = 0.69 at chance
    # Checkpoints at 10, 20, 30; two kept; the state file names the latest.
    assert sorted(p.name for p in (tmp_path / "out").glob("*.index")) == ["model.ckpt-20.index", "model.ckpt-30.index"]
    assert tf.train.latest_checkpoint(str(tmp_path / "out")).endswith("model.ckpt-30")
    dev = ft.pad_to_batches(_features(21, seed=1), 8)
    ft.write_records(str(tmp_path / "dev.tf_record"), dev)
    logits = tuner.predict(ft.record_dataset(str(tmp_path / "dev.tf_record"), ft.record_parsing_spec(dev), 8,
                                             is_training=False))["logits"]
    assert logits.shape == (21, 2)  # the 3 fakes are gone
    assert np.mean(logits.argmax(-1) == dev["label_ids"][:21, 0]) > 0.7
    # A fresh run restores weights and step from OUTPUT_DIR and predicts the same.
    restored = _tuner(tmp_path / "other", **overrides)
    report = restored.checkpoints.restore(str(tmp_path / "out"))
    assert restored.step == 30 and report.global_step == 30 and report.head_loaded
    again = restored.predict(ft.record_dataset(str(tmp_path / "dev.tf_record"), ft.record_parsing_spec(dev), 8,
                                               is_training=False))["logits"]
    np.testing.assert_allclose(again, logits, atol=1e-6)


def test_initialization_report_and_head_mismatch(tmp_path: Path) -> None:
    encoder = BertModel(CONFIG)
    encoder.build()
    prefix = save_checkpoint(encoder, str(tmp_path / "pretrained" / "bert_model.ckpt"))
    model = BertClassifier(CONFIG, 3)
    model.build()
    head_before = model.head.output_weights.numpy()
    report = ft.initialize_from_checkpoint(model, str(tmp_path / "pretrained"))
    assert report.head_initialized == ("output_weights", "output_bias") and not report.head_loaded
    assert report.global_step is None and "head newly initialized" in report.summary()
    np.testing.assert_array_equal(model.bert.embeddings.word_embeddings.numpy(),
                                  encoder.embeddings.word_embeddings.numpy())
    np.testing.assert_array_equal(model.head.output_weights.numpy(), head_before)
    # A checkpoint fine-tuned with 2 labels does not load into a 3-label head, and nothing is assigned.
    two = BertClassifier(CONFIG, 2)
    two.build()
    save_checkpoint(two.bert, prefix, extra=two.head_variables())
    before = model.bert.embeddings.word_embeddings.numpy()
    with pytest.raises(CheckpointError, match=r"output_weights has shape \[2, 16\].*\[3, 16\]"):
        ft.initialize_from_checkpoint(model, prefix)
    np.testing.assert_array_equal(model.bert.embeddings.word_embeddings.numpy(), before)
