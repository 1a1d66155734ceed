"""Small random transformers BERTs of each class, saved with save_pretrained and imported here: our models
compute what transformers computes (eval mode) within 1e-4, with the exact and the tanh GELU; what cannot be
imported is refused with what differs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bert_model.checkpoints import CheckpointError
from bert_model.classification.model import BertClassifier
from bert_model.config import BertConfig, ConfigError
from bert_model.extract_features import ExtractionOptions, extract_from_checkpoint
from bert_model.finetuning.checkpoints import initialize_from_checkpoint
from bert_model.init_checkpoint import init_folder, load_init_checkpoint
from bert_model.modeling import BertModel, BertPretrainer
from bert_model.squad.model import BertSquad

SHAPE = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 37, "max_position_embeddings": 64, "type_vocab_size": 2}
ACTIVATIONS = ["gelu", "gelu_new"]
BATCH, LENGTH = 3, 10


def save_transformers(folder: Path, architecture: str, hidden_act: str, **extra) -> torch.nn.Module:
    """A randomly initialized transformers `architecture` saved to `folder`; returned in eval mode. Biases and
    LayerNorm weights are drawn too, so that a swapped or untransposed weight shows."""
    torch.manual_seed(7)
    config = transformers.BertConfig(**SHAPE, hidden_act=hidden_act, **extra)
    model = getattr(transformers, architecture)(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not name.endswith("decoder.weight"):
                parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(folder, max_shard_size=extra.pop("max_shard_size", "5GB"))
    return model


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    mask = np.ones((BATCH, LENGTH), np.int32)
    mask[1, 6:] = 0
    segments = np.zeros((BATCH, LENGTH), np.int32)
    segments[:, 5:] = 1
    return {"input_ids": rng.integers(0, SHAPE["vocab_size"], (BATCH, LENGTH)).astype(np.int32),
            "input_mask": mask, "segment_ids": segments}


def theirs(model: torch.nn.Module, features: dict[str, np.ndarray]):
    with torch.no_grad():
        return model(input_ids=torch.tensor(features["input_ids"], dtype=torch.long),
                     attention_mask=torch.tensor(features["input_mask"], dtype=torch.long),
                     token_type_ids=torch.tensor(features["segment_ids"], dtype=torch.long),
                     output_hidden_states=True)


def close(ours, reference) -> None:
    np.testing.assert_allclose(np.asarray(ours), reference.numpy(), atol=1e-4, rtol=0)


def imported_config(folder: Path) -> BertConfig:
    return init_folder(str(folder)).config


@pytest.mark.parametrize("hidden_act", ACTIVATIONS)
@pytest.mark.parametrize("sharded", [False, True])
def test_bert_model_hidden_states_and_pooled_output(tmp_path, hidden_act, sharded):
    model = save_transformers(tmp_path, "BertModel", hidden_act, **({"max_shard_size": "20KB"} if sharded else {}))
    assert (tmp_path / "model.safetensors.index.json").exists() is sharded
    config = imported_config(tmp_path)
    assert config.hidden_act == {"gelu": "gelu_exact", "gelu_new": "gelu"}[hidden_act]
    ours = BertModel(config)
    report = load_init_checkpoint(ours, str(tmp_path))
    assert report.missing_heads == () and report.unused == ()
    features = inputs()
    outputs, expected = ours(features), theirs(model, features)
    for layer, hidden in zip(outputs["encoder_outputs"], expected.hidden_states[1:], strict=True):
        close(layer, hidden)
    close(outputs["sequence_output"], expected.last_hidden_state)
    close(outputs["pooled_output"], expected.pooler_output)


@pytest.mark.parametrize("hidden_act", ACTIVATIONS)
def test_pretraining_heads(tmp_path, hidden_act):
    model = save_transformers(tmp_path, "BertForPreTraining", hidden_act)
    ours = BertPretrainer(imported_config(tmp_path))
    report = load_init_checkpoint(ours, str(tmp_path))
    assert report.missing_heads == () and report.unused == ()
    positions = np.array([[1, 4, 8]] * BATCH, np.int32)
    features = {**inputs(), "masked_lm_positions": positions}
    outputs, expected = ours(features), theirs(model, features)
    close(outputs["masked_lm_logits"], torch.gather(
        expected.prediction_logits, 1, torch.tensor(positions, dtype=torch.long)[..., None].expand(-1, -1, 99)))
    close(outputs["next_sentence_logits"], expected.seq_relationship_logits)


def test_masked_lm_leaves_pooler_and_next_sentence_initialized(tmp_path):
    model = save_transformers(tmp_path, "BertForMaskedLM", "gelu")
    ours = BertPretrainer(imported_config(tmp_path))
    report = load_init_checkpoint(ours, str(tmp_path))
    assert set(report.missing_heads) == {"bert/pooler/dense/kernel", "bert/pooler/dense/bias",
                                         "cls/seq_relationship/output_weights", "cls/seq_relationship/output_bias"}
    positions = np.array([[0, 2, 9]] * BATCH, np.int32)
    features = {**inputs(), "masked_lm_positions": positions}
    expected = theirs(model, features).logits
    close(ours(features)["masked_lm_logits"], torch.gather(
        expected, 1, torch.tensor(positions, dtype=torch.long)[..., None].expand(-1, -1, 99)))


@pytest.mark.parametrize("hidden_act", ACTIVATIONS)
def test_sequence_classification_logits(tmp_path, hidden_act):
    model = save_transformers(tmp_path, "BertForSequenceClassification", hidden_act, num_labels=3)
    ours = BertClassifier(imported_config(tmp_path), num_labels=3)
    ours.build()
    report = initialize_from_checkpoint(ours, str(tmp_path))
    assert report.head_loaded == ("output_weights", "output_bias") and report.head_initialized == ()
    features = inputs()
    close(ours(features)["logits"], theirs(model, features).logits)


@pytest.mark.parametrize("hidden_act", ACTIVATIONS)
def test_question_answering_span_logits(tmp_path, hidden_act):
    model = save_transformers(tmp_path, "BertForQuestionAnswering", hidden_act)
    ours = BertSquad(imported_config(tmp_path))
    ours.build()
    report = initialize_from_checkpoint(ours, str(tmp_path))
    assert report.head_initialized == () and set(report.encoder.missing_heads) == {
        "bert/pooler/dense/kernel", "bert/pooler/dense/bias"}
    features = inputs()
    outputs, expected = ours(features), theirs(model, features)
    close(outputs["start_logits"], expected.start_logits)
    close(outputs["end_logits"], expected.end_logits)


def test_a_pretrained_model_gets_a_new_classifier_head(tmp_path):
    save_transformers(tmp_path, "BertModel", "gelu")
    ours = BertClassifier(imported_config(tmp_path), num_labels=2)
    ours.build()
    report = initialize_from_checkpoint(ours, str(tmp_path))
    assert report.head_loaded == () and report.head_initialized == ("output_weights", "output_bias")


def test_another_model_type_is_refused(tmp_path):
    save_transformers(tmp_path, "BertModel", "gelu")
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ConfigError, match="config.json: model_type 'roberta': only transformers BERT configs"):
        init_folder(str(tmp_path))


@pytest.mark.parametrize("change, message", [
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"is_decoder": True}, "is_decoder True"),
    ({"layer_norm_eps": 1e-5}, "layer_norm_eps 1e-05"),
    ({"hidden_act": "quick_gelu"}, "hidden_act 'quick_gelu' has no counterpart"),
])
def test_settings_this_model_lacks_are_refused(tmp_path, change, message):
    from bert_model.transformers_format.config import bert_config_from_transformers

    with pytest.raises(ConfigError, match=message):
        bert_config_from_transformers({"model_type": "bert", **SHAPE, **change})


def test_an_unknown_tensor_is_refused_before_anything_is_assigned(tmp_path):
    from safetensors.numpy import load_file, save_file

    save_transformers(tmp_path, "BertModel", "gelu")
    tensors = load_file(tmp_path / "model.safetensors")
    save_file({**tensors, "encoder.layer.1.attention.self.distance_embedding.weight": np.zeros((3, 4), np.float32)},
              tmp_path / "model.safetensors")
    ours = BertModel(imported_config(tmp_path))
    ours.build()
    before = ours.embeddings.word_embeddings.numpy().copy()
    with pytest.raises(CheckpointError, match=r"encoder\.layer\.1\.attention\.self\.distance_embedding\.weight is not"):
        load_init_checkpoint(ours, str(tmp_path))
    np.testing.assert_array_equal(ours.embeddings.word_embeddings.numpy(), before)


def test_a_bert_config_that_differs_from_the_folder_is_refused(tmp_path):
    save_transformers(tmp_path / "model", "BertModel", "gelu")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"t{index}" for index in range(94))]
    (tmp_path / "model" / "vocab.txt").write_text("".join(f"{token}\n" for token in tokens))
    config_file = tmp_path / "bert_config.json"
    BertConfig(**{**SHAPE, "hidden_act": "gelu"}).to_json_file(str(config_file))
    (tmp_path / "input.txt").write_text("t1 t2\n")
    options = ExtractionOptions(input_file=str(tmp_path / "input.txt"), output_file=str(tmp_path / "out.jsonl"),
                                vocab_file=None, bert_config_file=str(config_file),
                                init_checkpoint=str(tmp_path / "model"))
    with pytest.raises(ConfigError, match="differs from the --init_checkpoint folder's config.json "
                       r"\(hidden_act gelu vs gelu_exact\)"):
        extract_from_checkpoint(options)


def test_a_model_built_with_another_activation_is_refused(tmp_path):
    save_transformers(tmp_path, "BertModel", "gelu")
    with pytest.raises(CheckpointError, match=r"another config \(hidden_act gelu vs gelu_exact"):
        load_init_checkpoint(BertModel(BertConfig(**{**SHAPE, "hidden_act": "gelu"})), str(tmp_path))
