"""`bertprep finetune squad`: run_squad.py's flags, features, decoding and files on TensorFlow 2."""
from __future__ import annotations

import argparse
import logging
import time

from pipelines.cli.flags import add_bool_flag
from pipelines.cli.training_flags import (
    add_finetuning_arguments,
    export_to_transformers,
    finetuned_checkpoint,
    finetuning_options,
    make_strategy,
    task_model,
)
from pipelines.errors import UsageError

HELP = "extractive question answering: SQuAD 1.1 and 2.0 JSON"
DESCRIPTION = (
    "Fine-tunes BERT as run_squad.py does (same flags, features, span head and answer decoding). --do_train "
    "trains on --train_file and saves OUTPUT_DIR/model.ckpt-N; --do_predict writes OUTPUT_DIR/predictions.json, "
    "nbest_predictions.json and (--version_2_with_negative) null_odds.json for --predict_file, and, when that "
    "file has answers (a dev file), OUTPUT_DIR/eval_results.json with the official exact match and F1. "
    "--export_dir writes a SavedModel that takes a raw question and context.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data and decoding")
    data.add_argument("--train_file", help="SQuAD JSON to train on (local or gs://)")
    data.add_argument("--predict_file", help="SQuAD JSON to predict (e.g. dev-v1.1.json, dev-v2.0.json)")
    add_bool_flag(data, "--do_train", help="train on --train_file")
    add_bool_flag(data, "--do_predict", help="predict --predict_file (and score it when it has answers)")
    add_bool_flag(data, "--version_2_with_negative", help="SQuAD 2.0: questions may have no answer (is_impossible)")
    add_bool_flag(data, "--verbose_logging",
                  help="log each predicted answer that could not be mapped back onto its original words")
    data.add_argument("--doc_stride", type=int, default=128, help="pieces between the starts of a context's windows")
    data.add_argument("--max_query_length", type=int, default=64, help="question pieces kept")
    data.add_argument("--predict_batch_size", type=int, default=8)
    data.add_argument("--n_best_size", type=int, default=20, help="answers kept per question in nbest_predictions")
    data.add_argument("--max_answer_length", type=int, default=30, help="longest answer, in pieces")
    data.add_argument("--null_score_diff_threshold", type=float, default=0.0,
                      help="SQuAD 2.0: answer null when its score exceeds the best span's by more than this")
    data.add_argument("--export_dir", help="write a SavedModel taking a raw question and context here")
    add_finetuning_arguments(parser)
    parser.set_defaults(max_seq_length=384)  # run_squad.py's default


def run(args: argparse.Namespace) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other commands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.config import ConfigError
    from bert_model.progress import format_duration
    from bert_model.squad.data import SquadFormatError, load_squad_json, read_squad_examples
    from bert_model.squad.metrics import gold_answers
    from bert_model.squad.postprocess import DecodingOptions
    from bert_model.squad.run import SquadRun, WindowOptions
    from vocab.tokenization import VocabError

    if args.verbose_logging:
        logging.getLogger("bert_model.squad.postprocess").setLevel(logging.DEBUG)
    if not (args.do_train or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_predict")
    for wanted, flag, file in ((args.do_train, "--do_train", args.train_file),
                               (args.do_predict, "--do_predict", args.predict_file)):
        if wanted and not file:
            raise UsageError(f"{flag} needs --{flag[5:]}_file")
    try:
        windows = WindowOptions(args.max_seq_length, args.doc_stride, args.max_query_length)
        model = task_model(args)
        decoding = DecodingOptions(args.n_best_size, args.max_answer_length, model.do_lower_case,
                                   args.version_2_with_negative, args.null_score_diff_threshold)
        # Both files are read and checked before any training starts.
        train_examples, read_stats = (read_squad_examples(args.train_file, True, args.version_2_with_negative)
                                      if args.do_train else ([], None))
        # The predict file is parsed once: its questions, and its answers (a dev file) to score against.
        predict_articles = load_squad_json(args.predict_file) if args.do_predict else []
        predict_examples = (read_squad_examples(args.predict_file, False, args.version_2_with_negative,
                                                predict_articles)[0] if args.do_predict else [])
        strategy = make_strategy(args)
        # As the reference, the step count follows the examples (a long context makes several features).
        options = finetuning_options(args, strategy, len(train_examples))
        squad = SquadRun(model.config, model.tokenizer, windows, options, strategy)
        squad.tuner.start(args.init_checkpoint, training=args.do_train)
    except (ConfigError, SquadFormatError, CheckpointError, VocabError, tf.errors.NotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    tf.io.gfile.makedirs(args.output_dir)
    summary = [f"{args.output_dir}: SQuAD {'2.0' if args.version_2_with_negative else '1.1'}"]
    if args.do_train:
        results = squad.train(train_examples)
        summary.append(f"trained {squad.tuner.step} steps, loss {results['loss']:.4f} at "
                       f"{results['overall_examples_per_second']:.1f} examples/s")
        if read_stats.skipped_answer_mismatch:
            summary.append(f"skipped {read_stats.skipped_answer_mismatch} of {read_stats.questions} training "
                           "questions whose answer text is not at its answer_start")
    if args.do_predict:
        scores = squad.predict(predict_examples, gold_answers(predict_articles), decoding, args.predict_batch_size)
        summary.append(f"predicted {len(predict_examples)} questions")
        if scores:
            summary.append(f"exact {scores['exact']:.2f}, f1 {scores['f1']:.2f}")
    if args.export_dir:
        from bert_model.squad.export import export_squad

        export_squad(squad.tuner.model, args.export_dir, model.vocab_file, model.do_lower_case, args.max_seq_length,
                     args.max_query_length, args.max_answer_length, args.version_2_with_negative,
                     args.null_score_diff_threshold)
        summary.append(f"exported {args.export_dir}")
    if args.export_transformers:
        summary.append(export_to_transformers(args, finetuned_checkpoint(args), model.config, model.vocab_file,
                                              model.do_lower_case))
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0
