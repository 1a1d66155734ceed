"""`bertprep finetune squad`: run_squad.py's flags, features, decoding and files on TensorFlow 2."""
from __future__ import annotations

import argparse
import time

from pipelines.cli.squad_task import add_squad_arguments, export_squad_model, read_squad_inputs
from pipelines.cli.training_flags import add_finetuning_arguments, finetuning_options, make_strategy, task_model
from pipelines.errors import UsageError

HELP = "extractive question answering: SQuAD 1.1 and 2.0 JSON"
DESCRIPTION = (
    "Fine-tunes BERT as run_squad.py does (same flags, features, span head and answer decoding). --do_train "
    "trains on --train_file and saves OUTPUT_DIR/model.ckpt-N (with bert_config.json, vocab.txt and squad.json: "
    "casing and windows); --do_predict writes OUTPUT_DIR/predictions.json, "
    "nbest_predictions.json and (--version_2_with_negative) null_odds.json for --predict_file, and, when that "
    "file has answers (a dev file), OUTPUT_DIR/eval_results.json with the official exact match and F1. "
    "--export_dir writes a SavedModel that takes a raw question and context.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_squad_arguments(parser)
    add_finetuning_arguments(parser)


def run(args: argparse.Namespace) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other commands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.config import ConfigError
    from bert_model.progress import format_duration
    from bert_model.squad.data import SquadFormatError
    from bert_model.squad.metrics import gold_answers
    from bert_model.squad.run import SquadRun
    from vocab.tokenization import VocabError

    if not (args.do_train or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_predict")
    try:
        model = task_model(args)
        # Both files are read and checked before any training starts.
        inputs = read_squad_inputs(args, model.do_lower_case)
        strategy = make_strategy(args)
        # As the reference, the step count follows the examples (a long context makes several features).
        options = finetuning_options(args, strategy, len(inputs.train_examples))
        squad = SquadRun(model.config, model.tokenizer, inputs.windows, options, strategy, vocab_file=model.vocab_file,
                         version_2_with_negative=args.version_2_with_negative)
        squad.tuner.start(args.init_checkpoint, training=args.do_train)
    except (ConfigError, SquadFormatError, CheckpointError, VocabError, tf.errors.NotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    tf.io.gfile.makedirs(args.output_dir)
    summary = [f"{args.output_dir}: SQuAD {'2.0' if args.version_2_with_negative else '1.1'}"]
    if args.do_train:
        results = squad.train(inputs.train_examples)
        summary.append(f"trained {squad.tuner.step} steps, loss {results['loss']:.4f} at "
                       f"{results['overall_examples_per_second']:.1f} examples/s")
        stats = inputs.read_stats
        if stats.skipped_answer_mismatch:
            summary.append(f"skipped {stats.skipped_answer_mismatch} of {stats.questions} training questions whose "
                           "answer text is not at its answer_start")
    if args.do_predict:
        scores = squad.predict(inputs.predict_examples, gold_answers(inputs.predict_articles), inputs.decoding,
                               args.predict_batch_size)
        summary.append(f"predicted {len(inputs.predict_examples)} questions")
        if scores:
            summary.append(f"exact {scores['exact']:.2f}, f1 {scores['f1']:.2f}")
    summary += export_squad_model(args, squad.tuner.model, model)
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0
