"""bertprep finetune classify: processors and features against the reference run_classifier.py, metrics,
bad input, a tiny model fine-tuned end to end (files, metrics, probabilities, padding) and the raw-text
SavedModel."""
from __future__ import annotations

import json
import logging
import math
import posixpath
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_model.classification import metrics
from bert_model.classification.data import ClassifierDataError, convert_examples, get_task
from bert_model.classification.export import pair_lengths
from bert_model.classification.model import BertClassifier
from bert_model.config import BertConfig, named_config
from bert_model.finetuning import initialize_from_checkpoint
from bert_model.graph_tokenizer import GraphTokenizer
from pipelines.cli import main as cli
from tests.support import paths
from vocab.tokenization import FullTokenizer

DATA = paths.DATA / "finetune" / "glue"
VOCAB = str(paths.UNCASED_VOCAB)


@pytest.fixture(scope="module")
def tokenizer() -> FullTokenizer:
    return FullTokenizer(VOCAB, do_lower_case=True)


@pytest.fixture(scope="module")
def reference():
    from tests.support.reference_bert import import_reference
    from tests.support.reference_modeling import import_reference_modules

    import_reference_modules()  # bert.modeling with its stand-ins first, as the other oracle tests need it
    return import_reference("run_classifier")


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _synthetic_mrpc_and_xnli(root: Path) -> None:
    # MRPC and XNLI may not be copied into the repository (non-commercial): a few lines in their formats.
    _write(root / "mrpc" / "train.tsv", ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                                         "1\t11\t12\tThe cat sat on the mat.\tA cat was sitting on the mat.",
                                         "0\t13\t14\tShares rose 5% on Monday.\tThe company hired a new chief."])
    _write(root / "mrpc" / "test.tsv", ["index\t#1 ID\t#2 ID\t#1 String\t#2 String",
                                        "0\t15\t16\tIt rained all day.\tThe day was wet."])
    _write(root / "xnli" / "multinli" / "multinli.train.zh.tsv",
           ["premise\thypo\tlabel", "他说\t他没说\tcontradictory", "你好\t你好啊\tentailment"])
    header = "\t".join(["language", "gold_label", "s1bp", "s2bp", "s1p", "s2p", "sentence1", "sentence2"])
    _write(root / "xnli" / "xnli.dev.tsv", [header, "en\tneutral\t-\t-\t-\t-\tHe came.\tHe left.",
                                            "zh\tneutral\t-\t-\t-\t-\t他来了\t他走了",
                                            "zh\tentailment\t-\t-\t-\t-\t他来了。\t有人来了"])


def _as_tuples(examples) -> list[tuple]:
    return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]


def test_processors_match_the_reference(reference, tmp_path: Path) -> None:
    _synthetic_mrpc_and_xnli(tmp_path)
    cases = [
        ("cola", reference.ColaProcessor(), str(DATA / "CoLA"), ("train", "dev")),
        ("mnli", reference.MnliProcessor(), str(DATA / "MNLI"), ("train", "dev", "test")),
        ("mrpc", reference.MrpcProcessor(), str(tmp_path / "mrpc"), ("train", "test")),
        ("xnli", reference.XnliProcessor(), str(tmp_path / "xnli"), ("train", "dev")),
    ]
    for name, processor, data_dir, splits in cases:
        task = get_task(name)
        assert list(task.labels) == processor.get_labels(), name
        for split in splits:
            expected = getattr(processor, f"get_{split}_examples")(data_dir)
            ours, report = task.examples(data_dir, split)
            assert _as_tuples(ours) == _as_tuples(expected), (name, split)
            assert report.examples == len(expected) and not report.skipped
    # GLUE tasks the reference has no processor for: the columns of their files.
    rte, _ = get_task("RTE").examples(str(DATA / "RTE"), "train")
    assert len(rte) == 32 and rte[0].label == "not_entailment" and rte[0].text_b.startswith("Weapons of Mass")
    sts, _ = get_task("STS-B").examples(str(DATA / "STS-B"), "dev")
    assert len(sts) == 40 and all(0 <= float(e.label) <= 5 for e in sts)
    assert get_task("sst2").examples(str(DATA / "SST-2"), "train")[0][0].label == "0"


def test_features_match_convert_single_example(reference, tokenizer: FullTokenizer) -> None:
    for name, folder in (("sst-2", "SST-2"), ("rte", "RTE"), ("cola", "CoLA"), ("mnli", "MNLI")):
        task = get_task(name)
        examples, _ = task.examples(str(DATA / folder), "train")
        examples = examples[:24]
        for max_seq_length in (16, 64):  # 16 truncates most pairs, on both sides
            ours = convert_examples(examples, task, max_seq_length, tokenizer)
            for row, example in enumerate(examples):
                expected = reference.convert_single_example(
                    9, reference.InputExample(example.guid, example.text_a, example.text_b, example.label),
                    list(task.labels), max_seq_length, tokenizer)
                assert ours["input_ids"][row].tolist() == expected.input_ids, (name, row)
                assert ours["input_mask"][row].tolist() == expected.input_mask
                assert ours["segment_ids"][row].tolist() == expected.segment_ids
                assert ours["label_ids"][row, 0] == expected.label_id


def test_metrics_from_their_definitions() -> None:
    from scipy import stats

    labels = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1])
    predicted = np.array([1, 0, 0, 1, 1, 1, 0, 1, 1, 0])
    tp, tn, fp, fn = 4, 2, 2, 2
    assert metrics.accuracy(labels, predicted) == 0.6
    assert metrics.f1(labels, predicted) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert metrics.matthews_corrcoef(labels, predicted) == pytest.approx(
        (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    assert metrics.matthews_corrcoef(labels, np.ones_like(labels)) == 0.0  # one predicted class: undefined -> 0
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    y = np.round(x + rng.normal(size=50), 1)  # ties
    y[:5] = y[5]
    assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    assert set(metrics.task_metrics("cola", labels, predicted, False)) == {"eval_accuracy", "eval_matthews_corrcoef"}
    assert set(metrics.task_metrics("qqp", labels, predicted, False)) == {"eval_accuracy", "eval_f1"}
    assert set(metrics.task_metrics("sts-b", x, y, True)) == {"eval_pearson", "eval_spearman"}


def test_bad_input_names_file_and_line(tmp_path: Path) -> None:
    rte = get_task("rte")
    header = "index\tsentence1\tsentence2\tlabel"
    _write(tmp_path / "train.tsv", [header, "0\tA man runs.\tA person moves.\tentailment", "1\tonly two columns",
                                    "2\tA.\tB.\tmaybe", "3\tC.\tD.\tnot_entailment"])
    with pytest.raises(ClassifierDataError, match=r"train\.tsv:3: 2 columns"):
        rte.examples(str(tmp_path), "train")
    examples, report = rte.examples(str(tmp_path), "train", skip_bad_rows=True)
    assert [e.guid for e in examples] == ["train-1", "train-4"]
    assert report.skipped == {"missing column": 1, "unknown label": 1}
    _write(tmp_path / "dev.tsv", [header, "0\tA.\tB.\tmaybe"])
    with pytest.raises(ClassifierDataError, match=r"dev\.tsv:2: unknown label 'maybe'.*entailment, not_entailment"):
        rte.examples(str(tmp_path), "dev")
    _write(tmp_path / "test.tsv", [])
    with pytest.raises(ClassifierDataError, match=r"test\.tsv: no examples"):
        rte.examples(str(tmp_path), "test")
    with pytest.raises(ClassifierDataError, match="does not exist"):
        get_task("cola").examples(str(tmp_path / "nowhere"), "train")
    with pytest.raises(ClassifierDataError, match="unknown task 'glue'"):
        get_task("glue")


def test_column_task_reads_jsonl_and_csv(tmp_path: Path) -> None:
    from bert_model.classification.data import column_task

    _write(tmp_path / "train.jsonl", ['{"text": "good film", "stars": "pos"}', '{"text": "dull", "stars": "neg"}',
                                      '{"text": "ok", "score": 1}'])
    task = column_task(str(tmp_path), {"train": "train.jsonl"}, "text", None, "stars", None)
    assert task.labels == ("neg", "pos")
    with pytest.raises(ClassifierDataError, match=r"train\.jsonl:3: no column 'stars'"):
        task.examples(str(tmp_path), "train")
    _write(tmp_path / "dev.csv", ['question,answer,label', '"Is it, really?",yes,pos'])
    pair = column_task(str(tmp_path), {"dev": "dev.csv"}, "question", "answer", "label", ["neg", "pos"])
    examples, _ = pair.examples(str(tmp_path), "dev")
    assert _as_tuples(examples) == [("dev-1", "Is it, really?", "yes", "pos")]


def test_pair_truncation_closed_form() -> None:
    from bert_model.classification.data import _truncate_pair

    cases = [(a, b, budget) for a in range(0, 12) for b in range(0, 12) for budget in (3, 6, 7, 13)]
    got_a, got_b = pair_lengths(tf.constant([c[0] for c in cases]), tf.constant([c[1] for c in cases]),
                                tf.constant([c[2] for c in cases]))
    for (a, b, budget), length_a, length_b in zip(cases, got_a.numpy(), got_b.numpy()):
        tokens_a, tokens_b = ["x"] * a, ["y"] * b
        _truncate_pair(tokens_a, tokens_b, budget)
        assert (length_a, length_b) == (len(tokens_a), len(tokens_b)), (a, b, budget)


def test_graph_tokenizer_matches_full_tokenizer(tokenizer: FullTokenizer) -> None:
    texts = [e.text_a for e in get_task("cola").examples(str(DATA / "CoLA"), "train")[0]]
    texts += ["Héllo, WORLD! 中文字 naïve CAFÉ", "", "x" * 210 + " ok", "unaffable jumped", "tab\there\u0000\u200b",
              "İstanbul", "\u00e9\u0301", "emoji 🙂 and (punct)!?"]
    graph = GraphTokenizer(tokenizer.vocab, do_lower_case=True)
    ids = graph.tokenize(tf.constant(texts)).to_list()
    assert ids == [tokenizer.encode(text) for text in texts]


def test_fine_tune_evaluate_predict_export(tmp_path: Path, tokenizer: FullTokenizer, tiny_bert,
                                           finetune) -> None:
    # A `bertprep pretrain`-style start: a pretrainer's weights in the reference layout.
    pretrained = tiny_bert(64, global_step=7)
    config = pretrained.config
    data = tmp_path / "sst"
    data.mkdir()
    (data / "train.tsv").write_bytes((DATA / "SST-2" / "train.tsv").read_bytes())
    (data / "dev.tsv").write_bytes((DATA / "SST-2" / "dev.tsv").read_bytes())
    dev_rows = (DATA / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    test_rows = [row.split("\t")[0] for row in dev_rows[:13]]
    _write(data / "test.tsv", ["index\tsentence"] + [f"{i}\t{text}" for i, text in enumerate(test_rows)])
    out = tmp_path / "out"
    common = ["--task_name", "SST-2", "--data_dir", str(data), "--vocab_file", VOCAB, "--bert_config_file",
              pretrained.config_file, "--max_seq_length", "32", "--output_dir", str(out)]
    finetune("classify", *common, "--init_checkpoint", str(pretrained.folder), "--do_train", "--do_eval",
             "--do_predict",
             "--train_batch_size", "16", "--num_train_epochs", "1", "--learning_rate", "1e-3",
             "--eval_batch_size", "10", "--predict_batch_size", "8", "--accumulation_steps", "2",
             "--export_dir", str(tmp_path / "export"))

    # 96 examples / (16 x 2) = 3 steps; the checkpoint holds the encoder and the reference head names.
    checkpoint = tf.train.latest_checkpoint(str(out))
    assert checkpoint.endswith("model.ckpt-3")
    names = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    assert names["output_weights"] == [2, 32] and "bert/encoder/layer_1/output/dense/kernel" in names

    # The model as it was saved, run directly on the reference features of dev and test.
    model = BertClassifier(config, 2)
    model.build()
    report = initialize_from_checkpoint(model, str(out))
    assert report.head_loaded == ("output_weights", "output_bias") and not report.head_initialized
    task = get_task("sst-2")
    dev, _ = task.examples(str(data), "dev")
    dev_features = convert_examples(dev, task, 32, tokenizer)
    logits = model(dev_features, training=False)["logits"].numpy()
    labels = dev_features["label_ids"][:, 0]
    results = json.loads((out / "eval_results.json").read_text())
    # 64 dev examples in batches of 10: 6 fake ones pad the last batch and are not counted.
    assert results["num_examples"] == 64 and results["global_step"] == 3
    assert results["eval_accuracy"] == pytest.approx(metrics.accuracy(labels, logits.argmax(-1)))
    log_probs = tf.nn.log_softmax(logits).numpy()
    assert results["eval_loss"] == pytest.approx(-log_probs[np.arange(64), labels].mean(), rel=1e-4)

    test, _ = task.examples(str(data), "test")
    probabilities = tf.nn.softmax(model(convert_examples(test, task, 32, tokenizer))["logits"]).numpy()
    lines = (out / "test_results.tsv").read_text().splitlines()
    assert len(lines) == 13  # 16 predicted in batches of 8, the 3 fakes dropped
    written = np.array([[float(value) for value in line.split("\t")] for line in lines])
    np.testing.assert_allclose(written, probabilities, atol=1e-6)
    np.testing.assert_allclose(written.sum(axis=1), 1.0, atol=1e-6)

    # Evaluating the output_dir again (no --do_train) restores the fine-tuned weights: the same results.
    (out / "eval_results.json").unlink()
    finetune("classify", *common, "--do_eval", "--eval_batch_size", "64")
    assert json.loads((out / "eval_results.json").read_text()) == pytest.approx(results)

    # The SavedModel takes raw text and gives the same probabilities.
    served = tf.saved_model.load(str(tmp_path / "export"))
    outputs = served.signatures["serving_default"](text_a=tf.constant(test_rows), text_b=tf.constant([""] * 13))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), probabilities, atol=1e-5)
    assert [label.decode() for label in outputs["label"].numpy()] == [str(i) for i in probabilities.argmax(-1)]
    features = convert_examples(test, task, 32, tokenizer)
    by_ids = served.signatures["serve_features"](**{name: tf.constant(features[name])
                                                     for name in ("input_ids", "input_mask", "segment_ids")})
    np.testing.assert_allclose(by_ids["probabilities"].numpy(), probabilities, atol=1e-5)


def test_regression_and_pair_export(tmp_path: Path, tokenizer: FullTokenizer, tiny_bert, finetune) -> None:
    from bert_model.classification.export import _ClassifierServing

    tiny = tiny_bert(64, checkpoint=False)
    out = tmp_path / "out"
    finetune("classify", "--task_name", "sts-b", "--data_dir", str(DATA / "STS-B"), "--vocab_file", VOCAB,
             "--bert_config_file", tiny.config_file, "--max_seq_length", "24", "--output_dir", str(out), "--do_train",
             "--do_eval", "--train_batch_size", "16", "--num_train_epochs", "1", "--eval_batch_size", "16")
    results = json.loads((out / "eval_results.json").read_text())
    assert set(results) == {"eval_pearson", "eval_spearman", "eval_loss", "num_examples", "global_step"}
    assert results["num_examples"] == 40 and -1 <= results["eval_pearson"] <= 1
    # The in-graph features of pairs (truncation on both sides) are convert_examples'.
    task = get_task("sts-b")
    dev, _ = task.examples(str(DATA / "STS-B"), "dev")
    model = BertClassifier(tiny.config, 1)
    model.build()
    serving = _ClassifierServing(model, VOCAB, True, 24, ())
    graph = serving.features(tf.constant([e.text_a for e in dev]), tf.constant([e.text_b for e in dev]))
    expected = convert_examples(dev, task, 24, tokenizer)
    for name in ("input_ids", "input_mask", "segment_ids"):
        np.testing.assert_array_equal(graph[name].numpy(), expected[name], err_msg=name)


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture, tiny_bert) -> None:
    tiny = tiny_bert(64, checkpoint=False)
    common = ["--data_dir", str(DATA / "RTE"), "--vocab_file", VOCAB, "--bert_config_file", tiny.config_file,
              "--output_dir", str(tmp_path / "out"), "--max_seq_length", "32"]
    for args, message in (([], "at least one of --do_train"),
                          (["--do_eval", "--max_seq_length", "65"], "exceeds the model's max_position_embeddings"),
                          (["--do_eval"], "no checkpoint at"),
                          (["--do_predict"], "test.tsv does not exist")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["finetune", "classify", "--task_name", "rte", *common, *args])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not posixpath.exists(str(tmp_path / "out" / "eval_results.json"))


def _mrpc_from_sts_b(folder: Path) -> Path:
    """MRPC's files (which may not be copied here) in MRPC's format, made of the real STS-B sample's pairs:
    paraphrase when their similarity is 3 or more."""
    for split in ("train", "dev"):
        lines = (DATA / "STS-B" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]
        rows = [line.split("\t") for line in lines]
        _write(folder / f"{split}.tsv", ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"] + [
            f"{int(float(row[9]) >= 3)}\t{2 * i}\t{2 * i + 1}\t{row[7]}\t{row[8]}" for i, row in enumerate(rows)])
        if split == "dev":
            _write(folder / "test.tsv", ["index\t#1 ID\t#2 ID\t#1 String\t#2 String"] + [
                f"{i}\t{2 * i}\t{2 * i + 1}\t{row[7]}\t{row[8]}" for i, row in enumerate(rows)])
    return folder


def test_the_reference_mrpc_command_lines_run_unchanged(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                        tiny_bert) -> None:
    """run_classifier.py's README command lines (train and evaluate, then predict), absl booleans included."""
    release = tiny_bert(128)
    base, config = release.folder, release.config
    glue = _mrpc_from_sts_b(tmp_path / "glue_data" / "MRPC")
    output = f"{tmp_path}/mrpc_output/"
    caplog.set_level(logging.INFO)
    assert cli.main(["finetune", "classify", "--task_name=MRPC", "--do_train=true", "--do_eval=true",
                     f"--data_dir={glue}", f"--vocab_file={base}/vocab.txt",
                     f"--bert_config_file={base}/bert_config.json", f"--init_checkpoint={base}/bert_model.ckpt",
                     "--max_seq_length=128", "--train_batch_size=32", "--learning_rate=2e-5",
                     "--num_train_epochs=3.0", f"--output_dir={output}"]) == 0
    results = json.loads(Path(output, "eval_results.json").read_text())
    # 64 training pairs, 3 epochs of batches of 32: 6 steps, as the reference counts them.
    assert results["global_step"] == 6 and results["num_examples"] == 40
    assert {"eval_accuracy", "eval_f1", "eval_loss"} <= set(results)
    assert json.loads(Path(output, "bert_config.json").read_text()) == config.to_dict()
    assert "step 0/6: tracing the training loop and running one step" in caplog.text
    progress = [message for message in caplog.messages if re.match(r"step \d+/6 \(", message)]
    assert progress[0].startswith("step 1/6 (17%): loss ") and progress[-1].startswith("step 6/6 (100%): loss ")
    assert all("examples/s" in line and "elapsed" in line and "ETA" in line for line in progress)

    assert cli.main(["finetune", "classify", "--task_name=MRPC", "--do_predict=true", f"--data_dir={glue}",
                     f"--vocab_file={base}/vocab.txt", f"--bert_config_file={base}/bert_config.json",
                     f"--init_checkpoint={output}model.ckpt-6", "--max_seq_length=128",
                     f"--output_dir={output}"]) == 0
    lines = Path(output, "test_results.tsv").read_text().splitlines()
    assert len(lines) == 40 and all(len(line.split("\t")) == 2 for line in lines)


def test_a_model_name_and_the_reference_tpu_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["finetune", "classify", "--task_name=sst-2", f"--data_dir={DATA / 'SST-2'}", f"--vocab_file={VOCAB}",
              "--max_seq_length=16", f"--output_dir={tmp_path / 'out'}", "--num_train_epochs=0.1",
              "--do_train=true", "--do_lower_case=True"]
    for flags, message in ((["--bert_config_file=L-2_H-96"], "L-2_H-96 does not exist; give a bert_config.json or"),
                           (["--bert_config_file=bert-tiny", "--use_tpu=true"], "needs the TPU's name")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*common, *flags])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert cli.main([*common, "--bert_config_file=L-2_H-128", "--use_tpu=False", "--num_tpu_cores=8",
                     "--tpu_zone=us-central1-b", "--iterations_per_loop=2"]) == 0
    assert BertConfig.from_json_file(str(tmp_path / "out" / "bert_config.json")) == named_config("bert-tiny", 30522)
