"""The flags that name SQuAD's files, windows and answer decoding, shared by `finetune squad` and `distill squad`,
and the inputs they make."""
from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import TYPE_CHECKING

from pipelines.cli.flags import add_bool_flag
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from bert_model.squad.data import ReadStats, SquadExample
    from bert_model.squad.model import BertSquad
    from bert_model.squad.postprocess import DecodingOptions
    from bert_model.squad.run import WindowOptions
    from pipelines.cli.training_flags import TaskModel


def add_squad_arguments(parser: argparse.ArgumentParser) -> None:
    """--train_file, --predict_file, --do_train/--do_predict, windows, decoding and --export_dir (run_squad.py's
    names and defaults, --max_seq_length 384 among them)."""
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
    parser.set_defaults(max_seq_length=384)  # run_squad.py's default


@dataclasses.dataclass(frozen=True)
class SquadInputs:
    """What the flags name, read and checked: windows, decoding, the training questions (with what reading
    skipped) and the questions to predict, with the file's articles (its answers score the predictions)."""

    windows: WindowOptions
    decoding: DecodingOptions
    train_examples: list[SquadExample]
    read_stats: ReadStats | None
    predict_examples: list[SquadExample]
    predict_articles: list


def read_squad_inputs(args: argparse.Namespace, do_lower_case: bool) -> SquadInputs:
    """The inputs of --do_train and --do_predict; UsageError for a missing file flag, SquadFormatError and
    ValueError (lengths) from reading."""
    from bert_model.squad.data import load_squad_json, read_squad_examples
    from bert_model.squad.postprocess import DecodingOptions
    from bert_model.squad.run import WindowOptions

    if args.verbose_logging:
        logging.getLogger("bert_model.squad.postprocess").setLevel(logging.DEBUG)
    for wanted, flag, file in ((args.do_train, "--do_train", args.train_file),
                               (args.do_predict, "--do_predict", args.predict_file)):
        if wanted and not file:
            raise UsageError(f"{flag} needs --{flag[5:]}_file")
    windows = WindowOptions(args.max_seq_length, args.doc_stride, args.max_query_length)
    decoding = DecodingOptions(args.n_best_size, args.max_answer_length, do_lower_case, args.version_2_with_negative,
                               args.null_score_diff_threshold)
    train_examples, read_stats = (read_squad_examples(args.train_file, True, args.version_2_with_negative)
                                  if args.do_train else ([], None))
    # The predict file is parsed once: its questions, and its answers (a dev file) to score against.
    predict_articles = load_squad_json(args.predict_file) if args.do_predict else []
    predict_examples = (read_squad_examples(args.predict_file, False, args.version_2_with_negative,
                                            predict_articles)[0] if args.do_predict else [])
    return SquadInputs(windows, decoding, train_examples, read_stats, predict_examples, predict_articles)


def export_squad_model(args: argparse.Namespace, squad: BertSquad, model: TaskModel) -> list[str]:
    """--export_dir (a SavedModel taking a raw question and context) and --export_transformers of a trained SQuAD
    model; the summary's words for what was written."""
    from pipelines.cli.training_flags import export_to_transformers, finetuned_checkpoint

    written = []
    if args.export_dir:
        from bert_model.squad.export import export_squad

        export_squad(squad, args.export_dir, model.vocab_file, model.do_lower_case, args.max_seq_length,
                     args.max_query_length, args.max_answer_length, args.version_2_with_negative,
                     args.null_score_diff_threshold)
        written.append(f"exported {args.export_dir}")
    if args.export_transformers:
        written.append(export_to_transformers(args, finetuned_checkpoint(args), model.config, model.vocab_file,
                                              model.do_lower_case))
    return written
