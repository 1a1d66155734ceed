"""bertprep finetune squad: reading, features and answer decoding against the reference run_squad.py, the
official metrics from their definition, bad input, a tiny model fine-tuned end to end (files, metrics,
null odds) and the raw-text SavedModel."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model.finetuning import initialize_from_checkpoint
from bert_model.squad.data import (
    SquadFormatError,
    convert_examples_to_features,
    doc_spans,
    feature_arrays,
    read_squad_examples,
)
from bert_model.squad.metrics import evaluate, f1_score, gold_answers, normalize_answer
from bert_model.squad.model import BertSquad
from bert_model.squad.postprocess import DecodingOptions, RawResult, final_text, predict_answers, write_predictions
from pipelines.cli import main as cli
from tests.support.paths import DATA, UNCASED_VOCAB
from vocab.tokenization import FullTokenizer

SQUAD = DATA / "finetune" / "squad" / "train-v2.0-chopin-twilight-princess.json"
VOCAB = str(UNCASED_VOCAB)


@pytest.fixture(scope="module")
def reference():
    from tests.support.reference_bert import import_reference_squad

    module = import_reference_squad()
    yield module
    module.FLAGS.version_2_with_negative = False


@pytest.fixture(scope="module")
def tokenizer() -> FullTokenizer:
    return FullTokenizer(VOCAB, do_lower_case=True)


def _squad11(path: Path, source: Path = SQUAD) -> Path:
    """The answerable questions of the sample (or of `source`) as a SQuAD 1.1 file (no is_impossible, no
    plausible answers)."""
    data = json.loads(source.read_text(encoding="utf-8"))
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = [{key: qa[key] for key in ("id", "question", "answers")}
                                for qa in paragraph["qas"] if not qa.get("is_impossible")]
    path.write_text(json.dumps({"version": "1.1", "data": data["data"]}), encoding="utf-8")
    return path


def _subset(path: Path, paragraphs: int, with_answers: bool = True) -> Path:
    """The first `paragraphs` paragraphs of each article (SQuAD 2.0); dev-style answer lists when asked."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    for article in data["data"]:
        article["paragraphs"] = article["paragraphs"][:paragraphs]
        if not with_answers:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    qa["answers"] = []
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _example_fields(example) -> tuple:
    return (example.qas_id, example.question_text, list(example.doc_tokens), example.orig_answer_text,
            example.start_position, example.end_position, example.is_impossible)


@pytest.mark.parametrize("version_2", [True, False])
def test_examples_match_the_reference(reference, tmp_path: Path, version_2: bool) -> None:
    path = SQUAD if version_2 else _squad11(tmp_path / "v1.json")
    reference.FLAGS.version_2_with_negative = version_2
    for is_training in (True, False):
        expected = reference.read_squad_examples(str(path), is_training=is_training)
        ours, stats = read_squad_examples(str(path), is_training, version_2)
        assert [_example_fields(e) for e in ours] == [_example_fields(e) for e in expected]
        assert stats.questions == (1071 if version_2 else 911)
        assert stats.examples + stats.skipped_answer_mismatch == stats.questions
        if is_training and version_2:
            assert stats.impossible == 160


def test_features_match_the_reference(reference, tokenizer: FullTokenizer) -> None:
    from tests.support.reference_bert import import_reference_tokenization

    reference.FLAGS.version_2_with_negative = True
    reference_tokenizer = import_reference_tokenization().FullTokenizer(VOCAB, do_lower_case=True)
    examples = reference.read_squad_examples(str(SQUAD), is_training=True)
    # Every 5th question, from both articles, impossible ones included; short windows so contexts split.
    sample = examples[::5]
    for is_training in (True, False):
        expected = []
        reference.convert_examples_to_features(sample, reference_tokenizer, 96, 32, 20, is_training, expected.append)
        ours = list(convert_examples_to_features(read_squad_examples(str(SQUAD), True, True)[0][::5], tokenizer,
                                                 96, 32, 20, is_training))
        assert len(ours) == len(expected) > len(sample)  # several windows per context
        for mine, theirs in zip(ours, expected):
            for name in ("unique_id", "example_index", "doc_span_index", "tokens", "token_to_orig_map",
                         "token_is_max_context", "input_ids", "input_mask", "segment_ids"):
                assert getattr(mine, name) == getattr(theirs, name), name
            if is_training:
                assert (mine.start_position, mine.end_position, mine.is_impossible) == (
                    theirs.start_position, theirs.end_position, theirs.is_impossible)


def test_windows_cover_the_context() -> None:
    assert doc_spans(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert doc_spans(3, 8, 2) == [(0, 3)]
    for tokens, window, stride in ((500, 61, 17), (64, 64, 10), (65, 64, 64)):
        spans = doc_spans(tokens, window, stride)
        covered = set().union(*(range(start, start + length) for start, length in spans))
        assert covered == set(range(tokens)) and all(length <= window for _, length in spans)


@pytest.mark.parametrize("version_2", [True, False])
def test_prediction_files_are_the_reference_bytes(reference, tmp_path: Path, tokenizer: FullTokenizer,
                                                  version_2: bool) -> None:
    path = SQUAD if version_2 else _squad11(tmp_path / "v1.json")
    reference.FLAGS.version_2_with_negative = version_2
    reference.FLAGS.null_score_diff_threshold = -5.0
    examples = read_squad_examples(str(path), False, version_2)[0][:120]
    rng = np.random.default_rng(3)
    logits = {}  # (question, window) -> start and end logits, float32 as the model gives them

    def decode(chosen):
        features = list(convert_examples_to_features(chosen, tokenizer, 80, 24, 16, False))
        results = []
        for f in features:
            key = (chosen[f.example_index].qas_id, f.doc_span_index)
            if key not in logits:
                logits[key] = rng.normal(size=(2, 80)).astype(np.float32).tolist()
            results.append(RawResult(f.unique_id, *logits[key]))
        return features, results, predict_answers(chosen, features, results, DecodingOptions(10, 12, True,
                                                                                              version_2, -5.0))

    _, _, first = decode(examples)
    # The reference fails on a SQuAD 2.0 question none of whose n-best spans is valid; ours answers null.
    answerable = [e for e in examples if any(entry["text"] for entry in first.nbest[e.qas_id])]
    assert len(answerable) > 100
    assert all(first.predictions[e.qas_id] == "" for e in examples if e not in answerable)
    examples = answerable
    features, results, ours = decode(examples)
    write_predictions(ours, str(tmp_path / "ours"), version_2)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    reference.write_predictions(examples, features, results, 10, 12, True, str(theirs / "predictions.json"),
                                str(theirs / "nbest_predictions.json"), str(theirs / "null_odds.json"))
    names = ["predictions.json", "nbest_predictions.json"] + (["null_odds.json"] if version_2 else [])
    for name in names:
        assert (tmp_path / "ours" / name).read_bytes() == (theirs / name).read_bytes(), name
    assert not version_2 or "" in ours.predictions.values()  # some null answers win at this threshold


def test_final_text_maps_back_to_the_original_words() -> None:
    assert final_text("steve smith", "Steve Smith's", True) == "Steve Smith"
    assert final_text("1895", "(1895-1943).", True) == "1895"
    assert final_text("zurich", "Zürich,", True) == "Zürich"
    assert final_text("not there", "Steve Smith's", True) == "Steve Smith's"


def test_metrics_from_their_definition() -> None:
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert f1_score("the cat sat on the mat", "a cat on a mat") == pytest.approx(2 * (3 / 4) * (3 / 3) / (3 / 4 + 1))
    gold = {"q1": ["Paris", "the city of Paris"], "q2": [], "q3": ["1848"], "q4": ["blue whale"]}
    predictions = {"q1": "city of Paris", "q2": "", "q3": "in 1849", "q4": "whale"}
    scores = evaluate(gold, predictions)
    assert scores["exact"] == pytest.approx(100 * 2 / 4)  # q1 (second answer), q2 (null)
    assert scores["f1"] == pytest.approx(100 * (1 + 1 + 0 + 2 / 3) / 4)
    assert (scores["HasAns_total"], scores["NoAns_total"]) == (3, 1) and scores["NoAns_exact"] == 100
    # Best thresholds with q2 answered wrongly: null wherever the odds exceed the threshold. For exact match
    # answering q1 only (threshold -2) is best: 1 + q2's null; for F1 also q4's partial 2/3 (threshold -1).
    odds = {"q1": -2.0, "q2": 3.0, "q3": 1.0, "q4": -1.0}
    with_odds = evaluate(gold, {**predictions, "q2": "Lyon"}, odds)
    assert (with_odds["best_exact"], with_odds["best_exact_thresh"]) == (pytest.approx(100 * 2 / 4), -2.0)
    assert (with_odds["best_f1"], with_odds["best_f1_thresh"]) == (pytest.approx(100 * (2 + 2 / 3) / 4), -1.0)
    assert evaluate(gold, {"q1": "Paris"})["missing"] == 3
    with pytest.raises(ValueError, match="no gold"):
        evaluate({}, {})


def test_bad_input_names_the_file_and_place(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(SquadFormatError, match="empty.json is empty"):
        read_squad_examples(str(empty), True)
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [\n{"title": "x",,}]}')
    with pytest.raises(SquadFormatError, match=r"broken.json:2:\d+: not valid JSON"):
        read_squad_examples(str(broken), True)
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    del data["data"][1]["paragraphs"][3]["qas"][2]["question"]
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps(data))
    with pytest.raises(SquadFormatError, match=r"article 1 \('The_Legend.*paragraph 3, question 2.*missing \"question\""):
        read_squad_examples(str(missing), True, True)
    # An answer that is not where its offset says is skipped and counted, not trained on.
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    qa = data["data"][0]["paragraphs"][0]["qas"][0]
    qa["answers"][0]["answer_start"] += 7
    shifted = tmp_path / "shifted.json"
    shifted.write_text(json.dumps(data))
    examples, stats = read_squad_examples(str(shifted), True, True)
    assert stats.skipped_answer_mismatch == 1 and stats.skipped_ids == [qa["id"]]
    assert len(examples) == 1070 and qa["id"] not in {e.qas_id for e in examples}


def test_fine_tune_predict_evaluate_export(tmp_path: Path, tokenizer: FullTokenizer, capsys: pytest.CaptureFixture,
                                          tiny_bert, finetune) -> None:
    pretrained = tiny_bert(128, global_step=7)
    config = pretrained.config
    train_file = _subset(tmp_path / "train.json", 2)
    train_data = json.loads(train_file.read_text())
    train_data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 7  # not where it says
    train_file.write_text(json.dumps(train_data))
    dev_file = _subset(tmp_path / "dev.json", 1)
    out = tmp_path / "out"
    common = ["--vocab_file", VOCAB, "--bert_config_file", pretrained.config_file, "--max_seq_length", "96",
              "--doc_stride", "48", "--max_query_length", "24", "--output_dir", str(out), "--version_2_with_negative"]
    finetune("squad", *common, "--init_checkpoint", str(pretrained.folder), "--do_train", "--do_predict",
             "--train_file", str(train_file), "--predict_file", str(dev_file), "--train_batch_size", "16",
             "--num_train_epochs", "1", "--learning_rate", "1e-3", "--predict_batch_size", "7",
             "--export_dir", str(tmp_path / "export"))

    assert "skipped 1 of 59 training questions whose answer text is not at its answer_start" in capsys.readouterr().out
    train_examples = read_squad_examples(str(train_file), True, True)[0]
    checkpoint = tf.train.latest_checkpoint(str(out))
    assert checkpoint.endswith(f"model.ckpt-{len(train_examples) // 16}")
    shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    assert shapes["cls/squad/output_weights"] == [2, 32] and shapes["cls/squad/output_bias"] == [2]

    # The saved model's logits, decoded here, give the written files.
    model = BertSquad(config)
    model.build()
    assert initialize_from_checkpoint(model, str(out)).head_loaded == ("cls/squad/output_weights",
                                                                        "cls/squad/output_bias")
    examples = read_squad_examples(str(dev_file), False, True)[0]
    features = list(convert_examples_to_features(examples, tokenizer, 96, 48, 24, False))
    arrays = feature_arrays(features, False)
    logits = model({name: arrays[name] for name in ("input_ids", "input_mask", "segment_ids")})
    results = [RawResult(f.unique_id, s, e) for f, s, e in zip(features, logits["start_logits"].numpy(),
                                                                logits["end_logits"].numpy())]
    decoded = predict_answers(examples, features, results, DecodingOptions(version_2_with_negative=True))
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions == decoded.predictions and len(predictions) == len(examples)
    null_odds = json.loads((out / "null_odds.json").read_text())
    assert null_odds == pytest.approx(decoded.null_odds, abs=1e-4)
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert all(sum(entry["probability"] for entry in entries) == pytest.approx(1.0) for entries in nbest.values())
    scores = json.loads((out / "eval_results.json").read_text())
    expected = evaluate(gold_answers(json.loads(dev_file.read_text())["data"]), predictions, null_odds)
    assert scores == pytest.approx({**expected, "global_step": len(train_examples) // 16})

    # A test file (no answers) gives predictions and no scores; predicting again restores the fine-tuned weights.
    test_file = _subset(tmp_path / "test.json", 1, with_answers=False)
    (out / "eval_results.json").unlink()
    finetune("squad", *common, "--do_predict", "--predict_file", str(test_file))
    assert json.loads((out / "predictions.json").read_text()) == predictions
    assert not (out / "eval_results.json").exists()

    # The SavedModel answers raw questions on contexts that fit one window as the decoder does: the first
    # 40 words of each paragraph.
    served = tf.saved_model.load(str(tmp_path / "export"))
    short = [dataclasses.replace(e, doc_tokens=tuple(e.doc_tokens[:40])) for e in examples[:8]]
    short_features = list(convert_examples_to_features(short, tokenizer, 96, 48, 24, False))
    assert len(short_features) == len(short)
    short_arrays = feature_arrays(short_features, False)
    inputs = {name: short_arrays[name] for name in ("input_ids", "input_mask", "segment_ids")}
    short_logits = {name: value.numpy() for name, value in model(inputs).items()}
    decoded = predict_answers(short, short_features, [
        RawResult(f.unique_id, s, e) for f, s, e in zip(short_features, short_logits["start_logits"],
                                                        short_logits["end_logits"])], DecodingOptions(
        max_answer_length=30, version_2_with_negative=True))
    outputs = served.signatures["serving_default"](question=tf.constant([e.question_text for e in short]),
                                                   context=tf.constant([" ".join(e.doc_tokens) for e in short]))
    np.testing.assert_array_equal(outputs["input_ids"].numpy(), short_arrays["input_ids"])
    np.testing.assert_allclose(outputs["start_logits"].numpy(), short_logits["start_logits"], atol=1e-5)
    np.testing.assert_allclose(outputs["null_score_diff"].numpy(), [decoded.null_odds[e.qas_id] for e in short],
                               atol=1e-4)
    for row, example in enumerate(short):
        # The served answer is the span's pieces rejoined; the decoder's is the original text they cover.
        expected_pieces = " ".join(tokenizer.tokenize(decoded.predictions[example.qas_id])).replace(" ##", "")
        assert outputs["answer"].numpy()[row].decode() == expected_pieces
    assert not outputs["context_truncated"].numpy().any()
    by_features = served.signatures["serve_features"](**{name: tf.constant(value) for name, value in inputs.items()})
    np.testing.assert_allclose(by_features["end_logits"].numpy(), short_logits["end_logits"], atol=1e-5)


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture, tiny_bert) -> None:
    tiny = tiny_bert(128, checkpoint=False)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    common = ["--vocab_file", VOCAB, "--bert_config_file", tiny.config_file, "--output_dir", str(tmp_path / "out"),
              "--max_seq_length", "96"]
    for args, message in (([], "at least one of --do_train, --do_predict"),
                          (["--do_train"], "--do_train needs --train_file"),
                          (["--do_predict", "--predict_file", str(SQUAD), "--max_query_length", "93"],
                           "must be greater than max_query_length"),
                          (["--do_train", "--train_file", str(empty)], "empty.json is empty"),
                          (["--do_predict", "--predict_file", str(SQUAD)], "no checkpoint at"),
                          (["--do_predict", "--predict_file", str(SQUAD), "--n_best_size", "0"],
                           "n_best_size and max_answer_length must be at least 1")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["finetune", "squad", *common, *args])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_the_reference_squad_command_line_runs_unchanged(tmp_path: Path, tiny_bert) -> None:
    """run_squad.py's README command line for SQuAD 1.1 (absl booleans, the reference's lengths)."""
    base = tiny_bert(512).folder
    squad_dir = tmp_path / "squad"
    squad_dir.mkdir()
    train_file = _squad11(squad_dir / "train-v1.1.json", _subset(tmp_path / "train-v2.0.json", 2))
    dev_file = _squad11(squad_dir / "dev-v1.1.json", _subset(tmp_path / "dev-v2.0.json", 1))
    output = f"{tmp_path}/squad_base/"
    assert cli.main(["finetune", "squad", f"--vocab_file={base}/vocab.txt",
                     f"--bert_config_file={base}/bert_config.json", f"--init_checkpoint={base}/bert_model.ckpt",
                     "--do_train=True", f"--train_file={train_file}", "--do_predict=True",
                     f"--predict_file={dev_file}", "--train_batch_size=12", "--learning_rate=3e-5",
                     "--num_train_epochs=2.0", "--max_seq_length=384", "--doc_stride=128",
                     f"--output_dir={output}"]) == 0
    questions = read_squad_examples(str(train_file), True, False)[0]
    predictions = json.loads(Path(output, "predictions.json").read_text())
    assert set(predictions) == {example.qas_id for example in read_squad_examples(str(dev_file), False, False)[0]}
    scores = json.loads(Path(output, "eval_results.json").read_text())
    assert scores["global_step"] == int(len(questions) / 12 * 2.0) and 0 <= scores["f1"] <= 100
    assert not Path(output, "null_odds.json").exists()  # SQuAD 1.1
