"""`bertprep pretrain`'s training step against keras-hub's BERT, side by side, in training examples/s.

    python benchmarks/pretrain_speed.py [--data output/seq128] [--sizes tiny,mini] [--batch_size 32] [--fit]

Needs keras-hub next to bertprep (keep it out of the project's environment:
`python3 -m venv /tmp/khvenv && . /tmp/khvenv/bin/activate && pip install -e . keras-hub`).
`--data` is a pretraining-data folder with 128-token sequences and 20
predictions on the BERT uncased vocabulary (30522 ids), as `bertprep run`
writes to output/seq128.

For each model size (BERT-Tiny: 2 layers, hidden 128, 2 heads, intermediate
512; BERT-Mini: 4 layers, hidden 256, 4 heads, intermediate 1024; both with
2 segment types and 512 positions) it runs, one after the other, each in its
own fresh Python process with the same TensorFlow thread settings:

- ours: `bert_model.pretraining.PretrainingRun` built as `bertprep pretrain`
  builds it (default strategy, float32, AdamW), driven through its own
  training loop function: each call runs `--window_steps` steps inside one
  tf.function, as `--steps_per_loop` does;
- keras-hub: `keras_hub.models.BertBackbone` of the same size, a
  `keras_hub.layers.MaskedLMHead` tied to its token embedding and a 2-way
  Dense on the pooled output, with the same losses (masked LM averaged with
  masked_lm_weights, plus next sentence), trained by a Keras AdamW in a
  GradientTape step; the same loop shape as ours (`--window_steps` steps per
  tf.function call, no XLA);
- keras-hub fit (with `--fit`): the same model compiled (jit_compile=False,
  steps_per_execution 1) and trained with `model.fit`; its masked-LM loss
  is Keras's weighted mean (divides by the sequences' prediction slots, not
  by the weight sum): the same work, a different scale.

Both read the same batches: `bert_model.input_pipeline.pretraining_dataset`
on `--data` with the same seed. Both use dropout 0.1 and exact (erf) GELU
(keras-hub's; our config's `hidden_act` is set to `gelu_exact` to match).
Steady state: `--warmup_steps` steps first (tracing included), then
`--windows` timed windows of `--window_steps` steps, each ending when its
loss is on the host; the median window's examples/s is reported.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZES = {  # layers, hidden, heads, intermediate
    "tiny": (2, 128, 2, 512),
    "mini": (4, 256, 4, 1024),
}
VOCAB_SIZE = 30522
SEQ_LENGTH = 128
PREDICTIONS = 20
LEARNING_RATE = 1e-4
SEED = 12345
IMPLEMENTATIONS = ("ours", "keras-hub", "keras-hub-fit")
_RESULT = "RESULT "


def _set_threads(intra: int, inter: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def _dataset(args: argparse.Namespace):
    from bert_model.input_pipeline import pretraining_dataset

    return pretraining_dataset(args.data, args.batch_size, SEQ_LENGTH, PREDICTIONS, VOCAB_SIZE, is_training=True,
                               seed=SEED)


def _measure(window, args: argparse.Namespace) -> list[float]:
    """examples/s of each timed window; `window(steps)` runs that many steps and returns a host float."""
    window(args.warmup_steps)
    rates = []
    for _ in range(args.windows):
        start = time.perf_counter()
        window(args.window_steps)
        rates.append(args.window_steps * args.batch_size / (time.perf_counter() - start))
    return rates


def _ours(args: argparse.Namespace) -> dict:
    import tensorflow as tf

    from bert_model.config import BertConfig
    from bert_model.pretraining import PretrainingOptions, PretrainingRun

    layers, hidden, heads, intermediate = SIZES[args.size]
    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=intermediate, hidden_act="gelu_exact",
                        type_vocab_size=2)
    total_steps = args.warmup_steps + args.windows * args.window_steps
    with tempfile.TemporaryDirectory(prefix="pretrain-speed-") as output_dir:
        options = PretrainingOptions(
            data_dir=args.data, output_dir=output_dir, train_steps=total_steps, batch_size=args.batch_size,
            learning_rate=LEARNING_RATE, warmup_steps=args.warmup_steps, optimizer="adamw",
            steps_per_loop=args.window_steps, seed=SEED, precision="float32")
        run = PretrainingRun(config, options)
        # What PretrainingRun.train's loop does between checkpoints, minus the summaries and checkpoints.
        iterator = iter(run.strategy.distribute_datasets_from_function(run.train_dataset))

        def window(steps: int) -> float:
            return float(run.train_step.loop(iterator, tf.constant(steps))["loss"])

        rates = _measure(window, args)
        loss = window(1)
    return {"rates": rates, "params": run.model.count_params(), "loss": loss}


def _keras_hub_model(args: argparse.Namespace):
    import keras
    import keras_hub

    layers, hidden, heads, intermediate = SIZES[args.size]
    keras.utils.set_random_seed(SEED)
    initializer = keras.initializers.TruncatedNormal(stddev=0.02)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB_SIZE, num_layers=layers, num_heads=heads, hidden_dim=hidden,
        intermediate_dim=intermediate, dropout=0.1, max_sequence_length=512, num_segments=2)
    inputs = dict(backbone.input)
    inputs["mask_positions"] = keras.Input(shape=(PREDICTIONS,), dtype="int32", name="mask_positions")
    encoded = backbone({name: inputs[name] for name in backbone.input})
    masked_lm = keras_hub.layers.MaskedLMHead(
        vocabulary_size=VOCAB_SIZE, token_embedding=backbone.token_embedding, intermediate_activation="gelu",
        kernel_initializer=initializer, name="mlm")
    next_sentence = keras.layers.Dense(2, kernel_initializer=initializer, name="nsp")
    outputs = {"mlm": masked_lm(encoded["sequence_output"], mask_positions=inputs["mask_positions"]),
               "nsp": next_sentence(encoded["pooled_output"])}
    return keras.Model(inputs, outputs), backbone


def _keras_hub_inputs(features: dict) -> dict:
    return {"token_ids": features["input_ids"], "segment_ids": features["segment_ids"],
            "padding_mask": features["input_mask"], "mask_positions": features["masked_lm_positions"]}


def _keras_hub_optimizer():
    import keras

    # As ours: decay 0.01 except LayerNorm and biases, epsilon 1e-6, global norm clipped to 1.0.
    optimizer = keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=0.01, epsilon=1e-6,
                                       global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "layer_norm", "gamma", "beta"])
    return optimizer


def _keras_hub(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf
    from keras import ops

    model, backbone = _keras_hub_model(args)
    optimizer = _keras_hub_optimizer()
    optimizer.build(model.trainable_variables)

    def losses(outputs: dict, features: dict):
        weights = ops.cast(features["masked_lm_weights"], "float32")
        per_prediction = keras.losses.sparse_categorical_crossentropy(
            features["masked_lm_ids"], outputs["mlm"], from_logits=True)
        masked_lm_loss = ops.sum(weights * per_prediction) / (ops.sum(weights) + 1e-5)
        labels = ops.reshape(features["next_sentence_labels"], (-1,))
        next_sentence_loss = ops.mean(
            keras.losses.sparse_categorical_crossentropy(labels, outputs["nsp"], from_logits=True))
        return masked_lm_loss + next_sentence_loss

    def step(features: dict):
        with tf.GradientTape() as tape:
            loss = losses(model(_keras_hub_inputs(features), training=True), features)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function
    def loop(iterator, steps):
        total = tf.constant(0.0)
        for _ in tf.range(steps):
            total += step(next(iterator))
        return total / tf.cast(steps, tf.float32)

    iterator = iter(_dataset(args))

    def window(steps: int) -> float:
        return float(loop(iterator, tf.constant(steps)))

    rates = _measure(window, args)
    return {"rates": rates, "params": model.count_params(), "backbone_params": backbone.count_params(),
            "loss": window(1)}


def _keras_hub_fit(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    model, backbone = _keras_hub_model(args)
    model.compile(
        optimizer=_keras_hub_optimizer(),
        loss={"mlm": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
        jit_compile=False)
    dataset = _dataset(args).map(lambda features: (
        _keras_hub_inputs(features),
        {"mlm": features["masked_lm_ids"], "nsp": features["next_sentence_labels"]},
        {"mlm": features["masked_lm_weights"], "nsp": tf.ones_like(features["next_sentence_labels"], tf.float32)}))
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    # Epoch 0 is the warm-up (tracing included); each later epoch is one window.
    model.fit(dataset, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0)
    history = model.fit(dataset, epochs=args.windows, steps_per_epoch=args.window_steps, verbose=0,
                        callbacks=[Clock()])
    rates = [args.window_steps * args.batch_size / seconds for seconds in times]
    return {"rates": rates, "params": model.count_params(), "backbone_params": backbone.count_params(),
            "loss": float(history.history["loss"][-1])}


def _worker(args: argparse.Namespace) -> None:
    _set_threads(args.intra_op_threads, args.inter_op_threads)
    measure = {"ours": _ours, "keras-hub": _keras_hub, "keras-hub-fit": _keras_hub_fit}[args.worker]
    print(_RESULT + json.dumps(measure(args)), flush=True)


def _run(implementation: str, size: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", implementation, "--size", size,
               "--data", args.data, "--batch_size", str(args.batch_size), "--warmup_steps", str(args.warmup_steps),
               "--window_steps", str(args.window_steps), "--windows", str(args.windows),
               "--intra_op_threads", str(args.intra_op_threads), "--inter_op_threads", str(args.inter_op_threads)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    results = [line for line in done.stdout.splitlines() if line.startswith(_RESULT)]
    if done.returncode or not results:
        sys.exit(f"{implementation} ({size}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(results[-1][len(_RESULT):])
    result["wall_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="output/seq128",
                        help="pretraining-data folder (128-token sequences, 20 predictions, 30522-id vocab)")
    parser.add_argument("--sizes", default="tiny,mini", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--warmup_steps", type=int, default=5, help="steps before timing (tracing included)")
    parser.add_argument("--window_steps", type=int, default=10, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported")
    parser.add_argument("--fit", action="store_true", help="also time keras-hub with model.fit")
    parser.add_argument("--intra_op_threads", type=int, default=0, help="0: TensorFlow's default (all cores)")
    parser.add_argument("--inter_op_threads", type=int, default=0, help="0: TensorFlow's default")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=tuple(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = [size for size in sizes if size not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; use {', '.join(SIZES)}")
    if not os.path.exists(os.path.join(args.data, "metadata.json")) and "://" not in args.data:
        sys.exit(f"no pretraining data in {args.data}: run `bertprep run` (it writes output/seq128) "
                 f"or pass --data OUT/seq128")
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        sys.exit("keras-hub is not installed here: pip install keras-hub (in a separate virtual environment)")

    implementations = IMPLEMENTATIONS if args.fit else IMPLEMENTATIONS[:2]
    print(f"data {args.data}, batch {args.batch_size}, seq {SEQ_LENGTH}, {PREDICTIONS} predictions, "
          f"vocab {VOCAB_SIZE}; warm-up {args.warmup_steps} steps, then {args.windows} windows of "
          f"{args.window_steps} steps; threads intra {args.intra_op_threads} inter {args.inter_op_threads} "
          f"(0 = TF default), {os.cpu_count()} CPUs; each run in its own process, one after the other")
    rows = []
    for size in sizes:
        results = {}
        for implementation in implementations:
            results[implementation] = result = _run(implementation, size, args)
            print(f"  {size} {implementation}: windows " + ", ".join(f"{rate:.1f}" for rate in result["rates"])
                  + f" examples/s; final loss {result['loss']:.3f}; {result['wall_s']:.0f} s", flush=True)
        for implementation, result in results.items():
            rate = statistics.median(result["rates"])
            rows.append((size, implementation, result["params"], rate,
                         statistics.median(results["ours"]["rates"]) / rate))

    print("\n| size | implementation | parameters | examples/s (median) | ours / this |")
    print("|---|---|---:|---:|---:|")
    for size, implementation, params, rate, ratio in rows:
        print(f"| {size} | {implementation} | {params:,} | {rate:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
