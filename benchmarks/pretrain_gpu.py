"""Pretraining throughput on one GPU: sequences/s and model FLOPs utilization (MFU) of `bertprep pretrain`'s
training step for BERT-Base at 128 and 512 tokens, bf16 and XLA.

    python benchmarks/pretrain_gpu.py [--model bert-base] [--lengths 128:256,512:64] [--steps 60]
        [--precision mixed_bfloat16] [--nojit_compile] [--peak_tflops 989]

Runs from a clone with nothing to download: the data is `bertprep pretraining-data` on the eight English
books of benchmarks/data/gutenberg (`make_bert_text.py`'s input) with the BERT uncased vocab, dupe factor 1,
at each length (128 tokens with 20 predictions, 512 with 80), made once in --work. The step is
`bert_model.pretraining.PretrainingRun`'s, built as `bertprep pretrain --mixed_precision --jit_compile`
builds it (AdamW, default strategy), driven through its training loop function: --warmup_steps steps first
(tracing and compiling), then --windows timed windows of --steps steps; the median window counts.

MFU = sequences/s x training FLOPs per sequence / the GPU's peak dense bf16 FLOP/s (--peak_tflops, else the
datasheet figure for the GPU's name: H100 SXM and H200 989 TFLOP/s, A100 312). Training FLOPs per sequence are
3 x the forward pass's matmuls (forward once, backward twice): per layer 2 x 12 x hidden^2 per token for the
projections and the feed-forward (intermediate 4 x hidden), 2 x 2 x seq x hidden per token for the attention
scores and their weighted sum; the pooler and next-sentence head; the masked-LM head's transform and its
vocab projection on the predicted positions only. Embedding lookups, softmax, layer norm and the optimizer
update are not counted (the usual convention), so MFU understates the work done.

On a machine without a GPU it runs on the CPU (slowly; `--model bert-tiny --steps 2 --windows 1` checks
the script itself) and reports no MFU unless --peak_tflops is given.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "tests" / "data" / "vocab" / "bert-base-uncased-vocab.txt"
PREDICTIONS = {128: 20, 512: 80}
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}  # dense bf16, datasheet


def training_flops_per_sequence(layers: int, hidden: int, intermediate: int, vocab: int, seq: int,
                                predictions: int) -> float:
    """3 x the forward matmul FLOPs of one sequence (see the module docstring)."""
    per_token_layer = 2 * (4 * hidden * hidden + 2 * hidden * intermediate) + 2 * 2 * seq * hidden
    encoder = layers * seq * per_token_layer
    heads = 2 * hidden * hidden + 2 * hidden * 2 + predictions * 2 * (hidden * hidden + hidden * vocab)
    return 3.0 * (encoder + heads)


def _gpu_name() -> str | None:
    try:
        found = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, check=True).stdout.strip().splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None
    return found[0] if found else None


def _data(work: Path, length: int) -> Path:
    """The pretraining-data folder of `length` tokens, made once."""
    folder = work / "data" / f"seq{length}"
    if (folder / "metadata.json").exists():
        return folder
    text = work / "books.txt"
    if not text.exists():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from make_bert_text import BENCHMARK_BOOKS

        books = [str(ROOT / "benchmarks" / "data" / "gutenberg" / name) for name in BENCHMARK_BOOKS]
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_bert_text.py"), str(text), *books], check=True)
    from pipelines.cli import main as cli

    if cli.main(["pretraining-data", "--input", f"bert-text:{text}", "--vocab_file", str(VOCAB), "--output",
                 str(work / "data"), "--lengths", f"{length}:{PREDICTIONS[length]}", "--dupe_factor", "1"]) != 0:
        raise SystemExit("pretraining-data failed")
    return folder


def _measure(args: argparse.Namespace, length: int, batch_size: int, data: Path) -> dict:
    import tensorflow as tf

    from bert_model.config import named_config
    from bert_model.pretraining import PretrainingOptions, PretrainingRun

    config = named_config(args.model, 30522)
    total_steps = args.warmup_steps + args.windows * args.steps + 1
    with tempfile.TemporaryDirectory(prefix="pretrain-gpu-") as output_dir:
        options = PretrainingOptions(
            data_dir=str(data), output_dir=output_dir, train_steps=total_steps, batch_size=batch_size,
            learning_rate=1e-4, warmup_steps=args.warmup_steps, optimizer="adamw", steps_per_loop=args.steps,
            precision=args.precision, jit_compile=args.jit_compile)
        run = PretrainingRun(config, options)
        iterator = iter(run.strategy.distribute_datasets_from_function(run.train_dataset))

        def window(steps: int) -> float:
            return float(run.train_step.loop(iterator, tf.constant(steps))["loss"])

        start = time.perf_counter()
        window(args.warmup_steps)
        warmup_seconds = time.perf_counter() - start
        rates = []
        for _ in range(args.windows):
            start = time.perf_counter()
            loss = window(args.steps)
            rates.append(args.steps * batch_size / (time.perf_counter() - start))
    flops = training_flops_per_sequence(config.num_hidden_layers, config.hidden_size, config.intermediate_size,
                                        config.vocab_size, length, PREDICTIONS[length])
    return {"length": length, "batch_size": batch_size, "sequences_per_second": statistics.median(rates),
            "windows": rates, "tflops_per_sequence": flops / 1e12, "warmup_seconds": warmup_seconds, "loss": loss,
            "parameters": run.model.count_params()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bert-base", help="a model name of `bertprep pretrain` (bert-tiny … bert-large)")
    parser.add_argument("--lengths", default="128:256,512:64", help="LENGTH:BATCH,... (lengths 128 and 512)")
    parser.add_argument("--steps", type=int, default=60, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--warmup_steps", type=int, default=20)
    parser.add_argument("--precision", default="mixed_bfloat16", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--jit_compile", default=True, action=argparse.BooleanOptionalAction)
    parser.add_argument("--peak_tflops", type=float, help="the GPU's peak dense FLOP/s at --precision, in TFLOP/s")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "pretrain-gpu"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    lengths = [tuple(int(part) for part in item.split(":")) for item in args.lengths.split(",")]
    if any(length not in PREDICTIONS for length, _ in lengths):
        parser.error(f"lengths are {sorted(PREDICTIONS)}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    gpu = _gpu_name()
    peak = args.peak_tflops or next((value for name, value in PEAK_TFLOPS.items() if gpu and name in gpu), None)
    folders = {length: _data(work, length) for length, _ in lengths}
    rows = [_measure(args, length, batch, folders[length]) for length, batch in lengths]
    print(f"\n{args.model}, {args.precision}, XLA {'on' if args.jit_compile else 'off'}, device: {gpu or 'CPU'}, "
          f"peak {peak or '?'} TFLOP/s\n")
    print("| seq | batch | sequences/s | TFLOP/s achieved | MFU |\n|---:|---:|---:|---:|---:|")
    for row in rows:
        achieved = row["sequences_per_second"] * row["tflops_per_sequence"]
        row["mfu"] = achieved / peak if peak else None
        print(f"| {row['length']} | {row['batch_size']} | {row['sequences_per_second']:.1f} | {achieved:.3g} | "
              + (f"{100 * row['mfu']:.1f}%" if peak else "–") + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "device": gpu, "peak_tflops": peak,
                                               "precision": args.precision, "jit_compile": args.jit_compile,
                                               "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
