"""`bertprep pretrain` and bert_model.pretraining on data that `bertprep pretraining-data` made from a real book sample.

Run as a script (DATA_DIR OUTPUT_DIR), this file trains under MirroredStrategy on
two logical CPUs and prints the results as JSON: logical devices must be
configured before TensorFlow initializes, so that test runs in a subprocess and
cannot depend on which tests ran first in this process.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from bert_model.checkpoints import load_checkpoint, reference_variables
from bert_model.config import BertConfig, named_config
from bert_model.input_pipeline import DynamicMasking, pretraining_dataset
from bert_model.loss_scale import DynamicLossScale
from bert_model.modeling import BertPretrainer
from bert_model.optimization import AdamW
from bert_model.pretraining import PretrainingOptions, PretrainingRun
from pipelines.cli import pretrain as pretrain_command
from pipelines.cli.flags import FlagParser
from pipelines.cli.main import main
from pipelines.errors import UsageError
from tests.support.paths import REPO
from vocab.tokenization import load_vocab

VOCAB = str(REPO / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt")
BOOKS = str(REPO / "tests" / "data" / "bert_text" / "books-en.txt")
CONFIG = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64)
NO_DROPOUT = dataclasses.replace(CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
REFERENCE_METRICS = {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss",
                     "global_step"}
TRAIN_STEPS = 30


def _make_data(output: Path, *flags: str) -> Path:
    argv = ["pretraining-data", "--input", f"bert-text:{BOOKS}", "--vocab", VOCAB, "--output", str(output),
            "--dupe_factor", "1", *flags]
    assert main(argv) == 0
    return output


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """seq128 (20 predictions) and seq512 (80) folders."""
    return _make_data(tmp_path_factory.mktemp("data"), "--lengths", "128:20,512:80")


def _options(data_dir: Path, output_dir: Path, **overrides) -> PretrainingOptions:
    # A long progress interval: calls end at loop boundaries whatever the machine's speed.
    values = {"data_dir": str(data_dir), "output_dir": str(output_dir), "train_steps": 4, "batch_size": 8,
              "learning_rate": 1e-3, "warmup_steps": 1, "steps_per_loop": 2, "save_checkpoints_steps": 2,
              "progress_seconds": 3600}
    return PretrainingOptions(**{**values, **overrides})


def _pretrain(*argv: str) -> int:
    parser = FlagParser()
    pretrain_command.add_arguments(parser)
    args, unknown = parser.parse_known_args(argv)
    return pretrain_command.run(args, unknown)


def _config_file(folder: Path, config: BertConfig = CONFIG) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(folder / "bert_config.json"))
    return str(folder / "bert_config.json")


def _scalars(folder: Path) -> dict[str, list[float]]:
    """TensorBoard scalars by tag, in step order, read back from the event files."""
    values: dict[str, list[float]] = {}
    for record in tf.data.TFRecordDataset(sorted(str(path) for path in folder.glob("events.out.tfevents.*"))):
        for value in event_pb2.Event.FromString(record.numpy()).summary.value:
            if value.metadata.plugin_data.plugin_name:
                assert value.metadata.plugin_data.plugin_name == "scalars"
            values.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return values


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    """Phase 1: TRAIN_STEPS steps at seq128 through the command, with evaluation."""
    output = tmp_path_factory.mktemp("phase1")
    assert _pretrain("--data", str(data / "seq128"), "--bert_config_file", _config_file(output / "config"),
                     "--output_dir", str(output), "--train_steps", str(TRAIN_STEPS), "--batch_size", "8",
                     "--learning_rate", "5e-3", "--steps_per_loop", "5", "--progress_seconds", "3600",
                     "--save_checkpoints_steps", "10",
                     "--do_eval", "--eval_batch_size", "8", "--max_eval_steps", "4") == 0
    return output


def test_training_lowers_the_loss_and_writes_reference_metrics(trained):
    scalars = _scalars(trained / "train")
    assert {"loss", "masked_lm_loss", "next_sentence_loss", "learning_rate", "examples_per_second"} <= set(scalars)
    losses = scalars["loss"]
    assert len(losses) == 1 + TRAIN_STEPS // 5  # a first call of one step, then calls up to each multiple of 5
    assert losses[0] > math.log(CONFIG.vocab_size)  # untrained: about uniform over the vocabulary
    assert losses[-1] < losses[0] - 1.5
    np.testing.assert_allclose(scalars["loss"], np.add(scalars["masked_lm_loss"], scalars["next_sentence_loss"]),
                               rtol=1e-5)
    assert scalars["learning_rate"][-1] == 0.0  # linear decay to 0 at train_steps
    results = json.loads((trained / "eval_results.json").read_text())
    assert set(results) == REFERENCE_METRICS
    assert results["global_step"] == TRAIN_STEPS
    assert 0 < results["masked_lm_accuracy"] < 1 and 0 < results["next_sentence_accuracy"] < 1
    assert results["masked_lm_loss"] < losses[0] - 1.5
    assert 0.3 < results["next_sentence_loss"] < 1.5
    assert sorted(path.name for path in (trained / "training").glob("ckpt-*.index")) == [
        "ckpt-10.index", "ckpt-20.index", "ckpt-30.index"]


def test_eval_metrics_are_weighted_as_run_pretraining(data, trained, tmp_path):
    shutil.copytree(trained / "training", tmp_path / "training")
    run = PretrainingRun(CONFIG, _options(data / "seq128", tmp_path, train_steps=TRAIN_STEPS))
    assert run.step == TRAIN_STEPS  # resumed, so it evaluates the trained weights
    results = run.evaluate(str(data / "seq128"), batch_size=8, max_steps=3)
    batches = pretraining_dataset(str(data / "seq128"), 8, 128, 20, CONFIG.vocab_size, is_training=False).take(3)
    correct = loss = weight = nsp_correct = nsp_loss = sequences = 0.0
    for features in batches:
        outputs = run.model(features, training=False)
        log_probs = tf.nn.log_softmax(outputs["masked_lm_logits"]).numpy()
        ids, weights = features["masked_lm_ids"].numpy(), features["masked_lm_weights"].numpy()
        assert (weights == 0).any()  # padded predictions, which must not count
        correct += (weights * (log_probs.argmax(-1) == ids)).sum()
        loss -= (weights * np.take_along_axis(log_probs, ids[..., None], -1)[..., 0]).sum()
        weight += weights.sum()
        nsp = tf.nn.log_softmax(outputs["next_sentence_logits"]).numpy()
        labels = features["next_sentence_labels"].numpy()[:, 0]
        nsp_correct += (nsp.argmax(-1) == labels).sum()
        nsp_loss -= nsp[np.arange(len(labels)), labels].sum()
        sequences += len(labels)
    assert sequences == 24
    expected = {"masked_lm_accuracy": correct / weight, "masked_lm_loss": loss / weight,
                "next_sentence_accuracy": nsp_correct / sequences, "next_sentence_loss": nsp_loss / sequences}
    for name, value in expected.items():
        assert results[name] == pytest.approx(value, rel=1e-5), name


@pytest.mark.parametrize("accumulation_steps", [1, 2])
def test_resume_after_a_kill_is_exact(data, tmp_path, accumulation_steps):
    masking = DynamicMasking.from_vocab(load_vocab(VOCAB))
    options = {"accumulation_steps": accumulation_steps, "dynamic_masking": masking, "steps_per_loop": 4}
    straight = PretrainingRun(CONFIG, _options(data / "seq128", tmp_path / "straight", **options))
    straight.train()
    # A run killed after step 2 leaves what the straight run had written by then.
    killed = tmp_path / "killed" / "training"
    killed.mkdir(parents=True)
    for path in (tmp_path / "straight" / "training").glob("ckpt-2.*"):
        shutil.copy(path, killed)
    (killed / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    resumed = PretrainingRun(CONFIG, _options(data / "seq128", tmp_path / "killed", **options))
    assert (resumed.step, int(resumed.batches_consumed.numpy())) == (2, 2 * accumulation_steps)
    resumed.train()
    assert resumed.step == straight.step == 4
    # Dropout seed states included: every model variable, every optimizer variable, bit for bit.
    pairs = [*zip(straight.model.variables, resumed.model.variables, strict=True),
             *zip(straight.optimizer.variables, resumed.optimizer.variables, strict=True)]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert int(straight.optimizer.iterations.numpy()) == 4


def test_loss_scale_skips_non_finite_gradients_and_adapts_the_scale():
    weights, twin = tf.Variable([1.0, -2.0]), tf.Variable([1.0, -2.0])
    optimizer, plain = AdamW(0.1), AdamW(0.1)
    optimizer.build([weights])
    plain.build([twin])
    scaled = DynamicLossScale(optimizer, initial_scale=8.0, growth_interval=2)
    for bad in (np.inf, np.nan):
        scaled.apply_gradients([(tf.constant([bad, 1.0]), weights)])
        np.testing.assert_array_equal(weights.numpy(), [1.0, -2.0])
        assert not any(np.asarray(variable).any() for variable in optimizer.variables)  # iterations, moments
    assert float(scaled.scale.numpy()) == 2.0  # halved twice
    for gradient in ([0.5, 1.0], [1.0, -0.25]):
        scaled.apply_gradients([(tf.constant(gradient) * scaled.scale, weights)])
        plain.apply_gradients([(tf.constant(gradient), twin)])
        np.testing.assert_allclose(weights.numpy(), twin.numpy(), rtol=1e-6)
    assert int(optimizer.iterations.numpy()) == 2
    assert float(scaled.scale.numpy()) == 4.0  # doubled after growth_interval finite steps


def test_float16_training_skips_overflowing_steps_until_the_scale_fits(data, tmp_path):
    initial = 2.0 ** 24  # overflows float16 gradients (max 65504) for several halvings
    run = PretrainingRun(CONFIG, _options(data / "seq128", tmp_path, precision="mixed_float16", train_steps=12,
                                          steps_per_loop=12, save_checkpoints_steps=12, initial_loss_scale=initial))
    assert run.model.bert.embeddings.compute_dtype == "float16"
    results = run.train()
    applied, scale = int(run.optimizer.iterations.numpy()), float(run.loss_scale.scale.numpy())
    skipped = round(math.log2(initial / scale))
    assert skipped >= 3 and applied > 0 and applied + skipped == run.step == 12
    assert all(np.isfinite(np.asarray(variable)).all() for variable in run.model.trainable_variables)
    assert np.isfinite(results["loss"])


def test_mirrored_strategy_on_two_cpus_with_xla_matches_one_device(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, __file__, str(data / "seq128"), str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["replicas"] == 2
    mirrored, single = results["mirrored"], results["single"]
    assert mirrored["losses"] == pytest.approx(single["losses"], rel=1e-5)
    assert results["max_weight_difference"] < 1e-5 < results["max_weight_change"]
    float16 = results["float16"]
    assert float16["applied"] > 0 and float16["applied"] + float16["skipped"] == float16["steps"]


def test_reference_checkpoint_loads_back_and_phase_two_continues_at_512(data, trained, tmp_path, capsys):
    model = BertPretrainer(CONFIG)
    report = load_checkpoint(model, str(trained))  # the folder: its bert_model.ckpt
    assert not report.missing_heads and not report.unused
    assert tf.train.load_checkpoint(report.checkpoint).get_tensor("global_step") == TRAIN_STEPS
    shutil.copytree(trained / "training", tmp_path / "phase1" / "training")
    phase1 = PretrainingRun(CONFIG, _options(data / "seq128", tmp_path / "phase1", train_steps=TRAIN_STEPS))
    trained_weights = reference_variables(phase1.model)
    for name, variable in reference_variables(model).items():
        np.testing.assert_array_equal(np.asarray(variable), np.asarray(trained_weights[name]), err_msg=name)

    phase2 = tmp_path / "phase2"
    assert _pretrain("--data", str(data / "seq512"), "--bert_config_file", str(trained / "bert_config.json"),
                     "--init_checkpoint", str(trained), "--output_dir", str(phase2), "--train_steps", "4",
                     "--batch_size", "4", "--learning_rate", "1e-3", "--steps_per_loop", "2") == 0
    assert "step 4 of 4" in capsys.readouterr().out
    losses = _scalars(phase2 / "train")["masked_lm_loss"]
    first_phase1_loss = _scalars(trained / "train")["masked_lm_loss"][0]
    assert losses[0] < first_phase1_loss - 1.0  # starts from phase 1's weights, not from scratch
    assert tf.train.load_checkpoint(str(phase2 / "bert_model.ckpt")).get_tensor("global_step") == 4


def test_data_that_does_not_fit_the_config_is_refused(data, tmp_path):
    small_vocab = _config_file(tmp_path, dataclasses.replace(CONFIG, vocab_size=1000))
    common = ["--data", str(data / "seq128"), "--output_dir", str(tmp_path / "out"), "--train_steps", "2"]
    with pytest.raises(UsageError, match=r"vocab_size is 30522 in the data but 1000"):
        _pretrain(*common, "--bert_config_file", small_vocab)
    config = _config_file(tmp_path / "tiny")
    with pytest.raises(UsageError, match=r"max_seq_length is 128 in the data but 256"):
        _pretrain(*common, "--bert_config_file", config, "--max_seq_length", "256")
    short_positions = _config_file(tmp_path / "short", dataclasses.replace(CONFIG, max_position_embeddings=64))
    with pytest.raises(UsageError, match=r"max_seq_length is 128 .* max_position_embeddings is 64"):
        _pretrain(*common, "--bert_config_file", short_positions)
    with pytest.raises(UsageError, match=r"max_seq_length is 512 in the data but 128"):
        _pretrain(*common, "--bert_config_file", config, "--do_eval", "--eval_data", str(data / "seq512"))
    assert not (tmp_path / "out" / "training").exists()  # refused before training


def test_its_shards_as_input_file_are_read_with_its_metadata(data, tmp_path):
    """run_pretraining.py's --input_file over a pretraining-data folder's shards: its metadata.json still
    describes them (lengths checked, vocab_size for a model name)."""
    common = ["--input_file", f"{data / 'seq128'}/part-*", "--bert_config_file", "bert-tiny",
              "--output_dir", str(tmp_path / "out"), "--num_train_steps", "2", "--train_batch_size", "8"]
    with pytest.raises(UsageError, match=r"max_seq_length is 128 in the data but 256"):
        _pretrain(*common, "--max_seq_length", "256")
    assert _pretrain(*common) == 0
    assert BertConfig.from_json_file(str(tmp_path / "out" / "bert_config.json")) == named_config("bert-tiny", 30522)


def test_data_without_next_sentence_pairs_trains_the_masked_lm_only(tmp_path):
    data = _make_data(tmp_path / "data", "--lengths", "128:20", "--no_nsp")
    common = ["--data", str(data / "seq128"), "--bert_config_file", _config_file(tmp_path),
              "--output_dir", str(tmp_path / "out"), "--train_steps", "2", "--batch_size", "8"]
    with pytest.raises(UsageError, match="without next-sentence pairs"):
        _pretrain(*common)
    assert _pretrain(*common, "--no_nsp", "--do_eval", "--max_eval_steps", "1") == 0
    scalars = _scalars(tmp_path / "out" / "train")
    assert "next_sentence_loss" not in scalars and scalars["loss"] == scalars["masked_lm_loss"]
    results = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert set(results) == {"masked_lm_accuracy", "masked_lm_loss", "global_step"}


def test_arguments_that_cannot_work_are_refused(data, tmp_path):
    common = ["--data", str(data / "seq128"), "--bert_config_file", _config_file(tmp_path),
              "--output_dir", str(tmp_path / "out"), "--train_steps", "2"]
    with pytest.raises(UsageError, match="unrecognized arguments: --runner"):
        _pretrain(*common, "--runner", "DataflowRunner")
    with pytest.raises(UsageError, match="needs --do_eval"):
        _pretrain(*common, "--eval_data", str(data / "seq128"))
    with pytest.raises(UsageError, match="nothing to do"):
        _pretrain(*common, "--do_train=false")
    for tpu in (["--strategy", "tpu"], ["--use_tpu=True"]):
        with pytest.raises(UsageError, match="TPU's name"):
            _pretrain(*common, *tpu)
    with pytest.raises(UsageError, match="accumulation_steps must be at least 1"):
        _pretrain(*common, "--accumulation_steps", "0")
    with pytest.raises(UsageError, match="SHA-256"):
        _pretrain(*common, "--dynamic_masking", "--vocab_file", BOOKS)


def _train_on_two_cpus(data_dir: str, output_dir: str) -> dict:
    """The same steps under MirroredStrategy (2 replicas, XLA-compiled gradients) and on one device."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    output = Path(output_dir)
    # No dropout: replicas draw their own masks by design. Two micro-batches per step, one
    # per replica's half of each batch, checks the weighting of replicas and of micro-batches.
    options = {"accumulation_steps": 2, "train_steps": 3, "steps_per_loop": 3}
    runs = {
        "mirrored": PretrainingRun(NO_DROPOUT, _options(data_dir, output / "mirrored", jit_compile=True, **options),
                                   strategy),
        "single": PretrainingRun(NO_DROPOUT, _options(data_dir, output / "single", **options)),
    }
    initial = [np.asarray(variable) for variable in runs["single"].model.trainable_variables]
    results: dict = {"replicas": strategy.num_replicas_in_sync}
    for name, run in runs.items():
        losses = run.train()
        results[name] = {"losses": [losses[key] for key in run.loss_names]}
    pairs = list(zip(runs["mirrored"].model.trainable_variables, runs["single"].model.trainable_variables,
                     initial, strict=True))
    results["max_weight_difference"] = max(float(np.abs(np.asarray(m) - np.asarray(s)).max()) for m, s, _ in pairs)
    results["max_weight_change"] = max(float(np.abs(np.asarray(s) - start).max()) for _, s, start in pairs)
    initial_scale = 2.0 ** 22
    float16 = PretrainingRun(CONFIG, _options(data_dir, output / "float16", precision="mixed_float16", train_steps=8,
                                              steps_per_loop=8, initial_loss_scale=initial_scale), strategy)
    float16.train()
    results["float16"] = {
        "steps": float16.step, "applied": int(float16.optimizer.iterations.numpy()),
        "skipped": round(math.log2(initial_scale / float(float16.loss_scale.scale.numpy())))}
    return results


if __name__ == "__main__":
    print(json.dumps(_train_on_two_cpus(*sys.argv[1:3])))
