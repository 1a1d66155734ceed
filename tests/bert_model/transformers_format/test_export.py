"""Our checkpoints exported as transformers folders and loaded back by the real transformers: every class's
outputs equal ours within 1e-4 (tanh and exact GELU), a classifier's labels and problem type, the tokenizer's
ids equal FullTokenizer's on a book, and a folder written whole or not at all."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model.checkpoints import save_checkpoint
from bert_model.classification.labels import TaskLabels, write_labels
from bert_model.classification.model import BertClassifier
from bert_model.config import BertConfig
from bert_model.modeling import BertModel, BertPretrainer
from bert_model.squad.model import BertSquad
from bert_model.transformers_format.export import ExportError, export_transformers
from bert_model.transformers_format.folder import read_transformers_folder
from tests.support.paths import DATA, UNCASED_VOCAB
from vocab.tokenization import FullTokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

BATCH, SEQ = 2, 12
BOOK = DATA / "gutenberg" / "pg1661-adventures-of-sherlock-holmes-2012-excerpt.txt"


def _randomized(model: tf.keras.Model, seed: int = 0) -> tf.keras.Model:
    """`model` built, every weight drawn at random (biases and LayerNorm too, so that each is checked)."""
    model.build()
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.2, variable.shape).astype(np.float32))
    return model


def _inputs(vocab_size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    mask = np.ones((BATCH, SEQ), np.int32)
    mask[1, 8:] = 0  # padding in the second sequence
    segments = np.zeros((BATCH, SEQ), np.int32)
    segments[:, 6:] = 1
    return {"input_ids": rng.integers(0, vocab_size, (BATCH, SEQ)).astype(np.int32), "input_mask": mask,
            "segment_ids": segments}


def _theirs(model_class: type, folder: Path, inputs: dict[str, np.ndarray]):
    model = model_class.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
                     attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                     token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long))


def _close(theirs, ours, real: np.ndarray | None = None) -> None:
    theirs, ours = theirs.numpy(), np.asarray(ours)
    if real is not None:  # per-position outputs: the padding positions are nobody's answer
        theirs, ours = theirs[real], ours[real]
    np.testing.assert_allclose(theirs, ours, atol=1e-4, rtol=0)


def _folder(tiny_bert: Callable, hidden_act: str = "gelu") -> tuple[Path, BertConfig]:
    """A tiny BERT's folder (bert_config.json, vocab.txt) without weights."""
    tiny = tiny_bert(64, checkpoint=False)
    config = BertConfig.from_dict({**tiny.config.to_dict(), "hidden_act": hidden_act})
    config.to_json_file(tiny.config_file)
    return tiny.folder, config


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_exact"])
def test_pretraining_checkpoint_is_bert_for_pretraining(tiny_bert, tmp_path: Path, hidden_act: str) -> None:
    folder, config = _folder(tiny_bert, hidden_act)
    pretrainer = _randomized(BertPretrainer(config))
    save_checkpoint(pretrainer, str(folder / "bert_model.ckpt"), global_step=3)
    out = tmp_path / "hf"

    report = export_transformers(str(folder), str(out), do_lower_case=True)

    assert report.architecture == "BertForPreTraining" and report.do_lower_case
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json"])
    assert json.loads((out / "config.json").read_text())["hidden_act"] == {"gelu": "gelu_new",
                                                                           "gelu_exact": "gelu"}[hidden_act]
    inputs = _inputs(config.vocab_size)
    ours = pretrainer({**inputs, "masked_lm_positions": np.tile(np.arange(SEQ), (BATCH, 1))})
    real = inputs["input_mask"].astype(bool)
    theirs = _theirs(transformers.BertForPreTraining, out, inputs)
    _close(theirs.prediction_logits, ours["masked_lm_logits"], real)
    _close(theirs.seq_relationship_logits, ours["next_sentence_logits"])
    encoder = _theirs(transformers.AutoModel, out, inputs)
    _close(encoder.last_hidden_state, ours["sequence_output"], real)
    _close(encoder.pooler_output, ours["pooled_output"])
    # And our own reader takes the folder back: the same config and weights.
    back = read_transformers_folder(str(out))
    assert back.config == config and back.do_lower_case is True
    np.testing.assert_array_equal(back.arrays["cls/predictions/output_bias"], pretrainer.masked_lm.output_bias.numpy())


def test_encoder_checkpoint_is_bert_model(tiny_bert, tmp_path: Path) -> None:
    folder, config = _folder(tiny_bert)
    bert = _randomized(BertModel(config))
    save_checkpoint(bert, str(folder / "bert_model.ckpt"))
    report = export_transformers(str(folder / "bert_model.ckpt"), str(tmp_path / "hf"), do_lower_case=True)
    assert report.architecture == "BertModel"
    inputs = _inputs(config.vocab_size)
    ours = bert(inputs)
    theirs = _theirs(transformers.AutoModel, tmp_path / "hf", inputs)
    _close(theirs.last_hidden_state, ours["sequence_output"], inputs["input_mask"].astype(bool))
    _close(theirs.pooler_output, ours["pooled_output"])


@pytest.mark.parametrize("labels", [("contradiction", "entailment", "neutral"), ()], ids=["labels", "regression"])
def test_classifier_checkpoint_carries_its_labels(tiny_bert, tmp_path: Path, labels: tuple[str, ...]) -> None:
    folder, config = _folder(tiny_bert)
    classifier = _randomized(BertClassifier(config, len(labels) or 1))
    save_checkpoint(classifier.bert, str(folder / "model.ckpt-5"), global_step=5,
                    extra=classifier.head_variables())
    write_labels(TaskLabels("mnli" if labels else "sts-b", labels, do_lower_case=False), str(folder))

    report = export_transformers(str(folder), str(tmp_path / "hf"))

    assert report.architecture == "BertForSequenceClassification" and report.do_lower_case is False
    hf_config = transformers.AutoConfig.from_pretrained(str(tmp_path / "hf"))
    if labels:
        assert hf_config.id2label == dict(enumerate(labels))
        assert hf_config.label2id == {label: index for index, label in enumerate(labels)}
        assert hf_config.problem_type == "single_label_classification"
    else:
        assert hf_config.num_labels == 1 and hf_config.problem_type == "regression"
    assert transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf")).do_lower_case is False
    inputs = _inputs(config.vocab_size)
    _close(_theirs(transformers.BertForSequenceClassification, tmp_path / "hf", inputs).logits,
           classifier(inputs)["logits"])


def test_squad_checkpoint_is_bert_for_question_answering(tiny_bert, tmp_path: Path) -> None:
    folder, config = _folder(tiny_bert)
    squad = _randomized(BertSquad(config))
    save_checkpoint(squad.bert, str(folder / "model.ckpt-2"), extra=squad.head_variables())
    assert export_transformers(str(folder), str(tmp_path / "hf"), do_lower_case=True).architecture == "BertForQuestionAnswering"
    inputs = _inputs(config.vocab_size)
    ours = squad(inputs)
    theirs = _theirs(transformers.BertForQuestionAnswering, tmp_path / "hf", inputs)
    real = inputs["input_mask"].astype(bool)
    _close(theirs.start_logits, ours["start_logits"], real)
    _close(theirs.end_logits, ours["end_logits"], real)


@pytest.mark.parametrize("do_lower_case", [True, False], ids=["uncased", "cased"])
def test_tokenizer_ids_equal_ours_on_a_book(tiny_bert, tmp_path: Path, do_lower_case: bool) -> None:
    tiny = tiny_bert(64)
    export_transformers(str(tiny.folder), str(tmp_path / "hf"), do_lower_case=do_lower_case)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    ours = FullTokenizer(str(UNCASED_VOCAB), do_lower_case=do_lower_case)
    assert theirs.is_fast and theirs.model_max_length == 64
    lines = [line for line in BOOK.read_text(encoding="utf-8").splitlines()[:200] if line.strip()]
    lines += ["Él está aquí — naïve café", "中文字符 and 日本語", "don't stop", "x" * 100, "x" * 201]
    for line in lines:
        assert theirs(line, add_special_tokens=False)["input_ids"] == ours.encode(line), line
    # tokenizer.json itself keeps our limit of 200 characters a word (transformers' BertTokenizer takes 100).
    pipeline = tokenizers.Tokenizer.from_file(str(tmp_path / "hf" / "tokenizer.json"))
    for line in ("x" * 150, "x" * 200, "x" * 201):
        assert pipeline.encode(line, add_special_tokens=False).ids == ours.encode(line), line
    cls, sep = ours.vocab["[CLS]"], ours.vocab["[SEP]"]
    assert theirs("Hello there", "second one")["input_ids"] == [
        cls, *ours.encode("Hello there"), sep, *ours.encode("second one"), sep]


def test_the_folder_is_whole_or_absent(tiny_bert, tmp_path: Path) -> None:
    tiny = tiny_bert(64)
    out = tmp_path / "hf"
    export_transformers(tiny.checkpoint, str(out), do_lower_case=True)
    written = (out / "model.safetensors").read_bytes()
    # An earlier export is replaced; nothing else is left beside it.
    export_transformers(tiny.checkpoint, str(out), do_lower_case=True)
    assert (out / "model.safetensors").read_bytes() == written
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf", tiny.folder.name]

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="holds other files than an export's"):
        export_transformers(tiny.checkpoint, str(foreign), do_lower_case=True)
    assert [path.name for path in foreign.iterdir()] == ["notes.txt"]

    (tiny.folder / "vocab.txt").unlink()
    with pytest.raises(ExportError, match="give the model's vocab as --vocab_file"):
        export_transformers(tiny.checkpoint, str(tmp_path / "other"), do_lower_case=True)
    assert not (tmp_path / "other").exists()


def test_labels_that_do_not_fit_the_head_are_refused(tiny_bert, tmp_path: Path) -> None:
    folder, config = _folder(tiny_bert)
    classifier = _randomized(BertClassifier(config, 2))
    save_checkpoint(classifier.bert, str(folder / "model.ckpt-1"), extra=classifier.head_variables())
    write_labels(TaskLabels("mnli", ("a", "b", "c"), do_lower_case=True), str(folder))
    with pytest.raises(ExportError, match="lists 3 labels of task mnli but the checkpoint's classifier has 2"):
        export_transformers(str(folder), str(tmp_path / "hf"), do_lower_case=True)


def test_a_config_that_does_not_fit_the_checkpoint_is_refused(tiny_bert, tmp_path: Path) -> None:
    tiny = tiny_bert(64)
    longer = BertConfig.from_dict({**tiny.config.to_dict(), "max_position_embeddings": 128})
    with pytest.raises(ExportError, match=r"position_embeddings has shape \[64, 32\] where the config gives \[128"):
        export_transformers(tiny.checkpoint, str(tmp_path / "hf"), config=longer, do_lower_case=True)
    fewer = BertConfig.from_dict({**tiny.config.to_dict(), "num_hidden_layers": 1})
    with pytest.raises(ExportError, match="more than the config's 1 layers"):
        export_transformers(tiny.checkpoint, str(tmp_path / "hf"), config=fewer, do_lower_case=True)
    assert not (tmp_path / "hf").exists()


def test_a_checkpoint_that_records_no_casing_needs_it_said(tiny_bert, tmp_path):
    tiny = tiny_bert(64)
    with pytest.raises(ExportError, match="records whether the model's tokenizer lower-cases: give --do_lower_case"):
        export_transformers(tiny.checkpoint, str(tmp_path / "hf"))
    assert not (tmp_path / "hf").exists()
