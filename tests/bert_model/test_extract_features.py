"""`bertprep extract-features` end to end against the reference: its
extract_features.py converts the lines, its model (run in a TF1 graph) writes
the checkpoint and computes the layers our JSONL must hold."""
from __future__ import annotations

import argparse
import json
import uuid

import numpy as np
import pytest
import tensorflow as tf

from bert_model.extract_features import (
    InputExample,
    convert_example,
    parse_layers,
    read_examples,
)
from pipelines.cli import extract_features as extract_features_command
from pipelines.cli.flags import FlagParser
from pipelines.errors import UsageError
from vocab.tokenization import FullTokenizer

pytest.importorskip("bert")
from tests.support.paths import UNCASED_VOCAB
from tests.support.reference_modeling import (
    TINY_CONFIG,
    import_reference_modules,
    run_reference,
)

VOCAB = str(UNCASED_VOCAB)
CONFIG = {**TINY_CONFIG, "vocab_size": 30522}
MAX_SEQ_LENGTH = 12
LINES = [
    "Hello, world!",
    "Is this Jacksonville? ||| No, it is not.",
    "",
    "The quick brown fox jumps over the lazy dog, then runs far away into the forest.",
    "Ça va? Naïve café ||| a very long second sentence that needs truncating to fit the sequence",
]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = FlagParser()
    extract_features_command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict:
    """Input lines, a reference-layout checkpoint, the reference's features and layer outputs."""
    reference = import_reference_modules()
    folder = tmp_path_factory.mktemp("extract")
    memory = f"ram://bertprep-extract-{uuid.uuid4().hex}"  # TF's in-memory filesystem, like gs:// for gfile
    tf.io.gfile.makedirs(memory)
    input_file = f"{memory}/input.txt"
    with tf.io.gfile.GFile(input_file, "w") as handle:
        handle.write("\n".join(LINES) + "\n")
    config_file = folder / "bert_config.json"
    config_file.write_text(json.dumps(CONFIG))
    tokenizer = reference.extract_features.tokenization.FullTokenizer(VOCAB, do_lower_case=True)
    features = reference.extract_features.convert_examples_to_features(
        reference.extract_features.read_examples(input_file), MAX_SEQ_LENGTH, tokenizer)
    inputs = {
        "input_ids": np.array([f.input_ids for f in features], np.int32),
        "input_mask": np.array([f.input_mask for f in features], np.int32),
        "segment_ids": np.array([f.input_type_ids for f in features], np.int32),
    }
    checkpoint = f"{folder}/bert_model.ckpt"
    outputs = run_reference(CONFIG, inputs, seed=3, checkpoint_prefix=checkpoint, heads=False)
    return {"input_file": input_file, "output_file": f"{memory}/features.jsonl", "config_file": str(config_file),
            "checkpoint": checkpoint, "features": features, "layers": outputs["encoder_outputs"]}


def test_conversion_matches_the_reference(case):
    tokenizer = FullTokenizer(VOCAB, do_lower_case=True)
    examples = list(read_examples(case["input_file"]))
    assert [example.text_b for example in examples] == [None, "No, it is not.", None, None,
                                                        LINES[4].split(" ||| ")[1]]
    for example, expected in zip(examples, case["features"], strict=True):
        feature = convert_example(example, MAX_SEQ_LENGTH, tokenizer)
        assert (feature.unique_id, feature.tokens, feature.input_ids, feature.input_mask, feature.segment_ids) == (
            expected.unique_id, expected.tokens, expected.input_ids, expected.input_mask, expected.input_type_ids)


def test_pair_truncation_trims_the_longer_text_first():
    tokenizer = FullTokenizer(VOCAB, do_lower_case=True)
    feature = convert_example(InputExample(0, "one two three four five", "six"), 7, tokenizer)
    assert feature.tokens == ["[CLS]", "one", "two", "three", "[SEP]", "six", "[SEP]"]
    assert feature.segment_ids == [0, 0, 0, 0, 0, 1, 1]


def test_command_writes_the_reference_jsonl(case, capsys):
    args = _parse([
        f"--input_file={case['input_file']}", f"--output_file={case['output_file']}", f"--vocab_file={VOCAB}",
        f"--bert_config_file={case['config_file']}", f"--init_checkpoint={case['checkpoint']}",
        "--layers=-1,-2", f"--max_seq_length={MAX_SEQ_LENGTH}", "--batch_size=2", "--do_lower_case",
    ])
    assert extract_features_command.run(args, []) == 0
    assert "5 lines" in capsys.readouterr().out
    with tf.io.gfile.GFile(case["output_file"]) as handle:
        lines = [json.loads(line) for line in handle]
    assert [line["linex_index"] for line in lines] == list(range(len(LINES)))
    for line, feature in zip(lines, case["features"], strict=True):
        assert list(line) == ["linex_index", "features"]
        assert [token["token"] for token in line["features"]] == feature.tokens
        for position, token in enumerate(line["features"]):
            assert list(token) == ["token", "layers"]
            assert [layer["index"] for layer in token["layers"]] == [-1, -2]
            for layer in token["layers"]:
                values = layer["values"]
                assert all(value == round(value, 6) for value in values)
                expected = case["layers"][layer["index"]][line["linex_index"], position]
                np.testing.assert_allclose(values, expected, atol=2e-6)


def test_layers_outside_the_model_are_refused_before_running(case):
    assert parse_layers("-1,0", 2) == [-1, 0]
    args = _parse([
        f"--input_file={case['input_file']}", f"--output_file={case['output_file']}", f"--vocab_file={VOCAB}",
        f"--bert_config_file={case['config_file']}", f"--init_checkpoint={case['checkpoint']}", "--layers=-1,-3",
    ])
    with pytest.raises(UsageError, match="-3 is not a layer of this 2-layer model"):
        extract_features_command.run(args, [])
    with pytest.raises(UsageError, match="unrecognized arguments: --max_seq_len=64"):
        extract_features_command.run(args, ["--max_seq_len=64"])


def test_a_config_smaller_than_the_vocab_is_refused(case, tmp_path):
    config_file = tmp_path / "bert_config.json"
    config_file.write_text(json.dumps(TINY_CONFIG))
    args = _parse([
        f"--input_file={case['input_file']}", f"--output_file={case['output_file']}", f"--vocab_file={VOCAB}",
        f"--bert_config_file={config_file}", f"--init_checkpoint={case['checkpoint']}", "--layers=-1",
    ])
    with pytest.raises(UsageError, match="has 30522 tokens but .* says vocab_size 120"):
        extract_features_command.run(args, [])


@pytest.mark.parametrize("flags, lower", [
    ([], None), (["--do_lower_case"], True), (["--do_lower_case=false"], False), (["--nodo_lower_case"], False),
])
def test_do_lower_case_accepts_the_reference_spellings(flags, lower):
    required = ["--input_file=i", "--output_file=o", "--vocab_file=v", "--bert_config_file=c", "--init_checkpoint=k"]
    assert _parse(required + flags).do_lower_case is lower


def test_a_model_name_and_the_reference_tpu_flags(case, tmp_path, capsys):
    from bert_model.checkpoints import save_checkpoint
    from bert_model.config import named_config
    from bert_model.modeling import BertModel
    from pipelines.cli.main import main

    model = BertModel(named_config("L-2_H-128", 30522))
    model.build()
    checkpoint = save_checkpoint(model, str(tmp_path / "bert_model.ckpt"))
    output = tmp_path / "features.jsonl"
    command = ["extract-features", f"--input_file={case['input_file']}", f"--output_file={output}",
               f"--vocab_file={VOCAB}", "--bert_config_file=bert-tiny", f"--init_checkpoint={checkpoint}",
               "--layers=-1", "--max_seq_length=32", "--batch_size=8", "--use_tpu=False", "--master=",
               "--num_tpu_cores=8", "--use_one_hot_embeddings=true"]
    assert main(command) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == len(LINES) and len(lines[0]["features"][0]["layers"][0]["values"]) == 128
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--use_tpu"])
    assert exit_info.value.code == 2 and "not on a TPU: drop --use_tpu" in capsys.readouterr().err
