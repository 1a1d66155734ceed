"""`bertprep distill squad` (also `bertprep distill --task=squad ...`): a fine-tuned SQuAD model distilled into
a smaller BERT on the teacher's start and end logits per window. Labelling is a Beam pipeline
(`pipelines.distillation`); the student trains and predicts as `finetune squad` does
(`bert_model.distillation.squad_student`)."""
from __future__ import annotations

import argparse
import time

from pipelines.cli.distill_labels import (
    add_distillation_arguments,
    check_distillation_settings,
    checkpoint_fingerprint,
    make_labels,
    sha256_of,
    transfer_paths,
)
from pipelines.cli.squad_task import add_squad_arguments, export_squad_model, read_squad_inputs
from pipelines.cli.training_flags import finetuning_options, make_strategy, task_model
from pipelines.errors import UsageError

HELP = "a fine-tuned SQuAD model into a smaller BERT (the teacher's start/end logits per window)"
DESCRIPTION = (
    "The teacher (a `bertprep finetune squad` OUTPUT_DIR: checkpoint, bert_config.json, vocab.txt, squad.json) "
    "scores every window of the --train_file questions and of any --transfer_file SQuAD JSON (answers not read) in "
    "a Beam pipeline, writing --labels_dir (default OUTPUT_DIR/teacher_labels); the student trains on the average "
    "of the start and end terms of alpha * CE(gold) + (1 - alpha) * T^2 * KL(teacher_T || student_T). Teacher and "
    "student read the same vocab and casing (the teacher scores the student's windows). --do_predict writes the "
    "files of `finetune squad`; eval_results.json adds the teacher's scores on the same questions and both models' "
    "speed.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_squad_arguments(parser)
    add_distillation_arguments(
        parser, teacher_help="the fine-tuned SQuAD model that labels: a `bertprep finetune squad` --output_dir",
        transfer_help="SQuAD JSON files (1.1 or 2.0 layout) whose questions the teacher answers")


def _squad_json(path: str) -> None:
    if not path.lower().endswith(".json"):
        raise ValueError(f"{path}: give SQuAD JSON files (.json) as transfer data for SQuAD")


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    if not (args.do_train or args.do_predict):
        raise UsageError("give at least one of --do_train, --do_predict")
    check_distillation_settings(args)
    from bert_model.tf_env import import_tensorflow

    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.config import ConfigError
    from bert_model.distillation.span_teacher import describe_span_teacher, load_span_teacher
    from bert_model.distillation.squad_student import SquadStudentRun
    from bert_model.distillation.teacher import TeacherError
    from bert_model.progress import format_duration
    from bert_model.squad.data import SquadFormatError
    from bert_model.squad.metrics import gold_answers
    from vocab.tokenization import VocabError, case_mismatch

    try:
        model = task_model(args)
        problem = case_mismatch(model.tokenizer.vocab, model.do_lower_case, model.vocab_file)
        if problem:
            raise UsageError(f"the student's vocab and casing disagree: {problem}")
        student_sha256 = sha256_of(model.vocab_file)
        teacher_vocab = f"{args.teacher.rstrip('/')}/vocab.txt"
        teacher = describe_span_teacher(args.teacher, student_sha256, model.do_lower_case,
                                        sha256_of(teacher_vocab) if tf.io.gfile.exists(teacher_vocab) else "",
                                        args.max_seq_length)
        # All input is read and checked before any labelling or training starts.
        inputs = read_squad_inputs(args, model.do_lower_case)
    except (ConfigError, SquadFormatError, TeacherError, VocabError, tf.errors.NotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    tf.io.gfile.makedirs(args.output_dir)
    metadata = None
    if args.do_train:
        from pipelines.distillation.classification import StudentVocab
        from pipelines.distillation.squad import SquadLabelling

        paths = transfer_paths(args, _squad_json)
        windows = inputs.windows
        labelling = SquadLabelling(teacher, StudentVocab(model.tokenizer, model.vocab_file, student_sha256),
                                   windows.max_seq_length, windows.doc_stride, windows.max_query_length,
                                   args.version_2_with_negative, args.teacher_batch_size)
        parameters = {"task": "squad", "teacher": teacher.describe(),
                      "teacher_weights_sha256": checkpoint_fingerprint(teacher.weights),
                      "student_vocab_sha256": student_sha256, "student_do_lower_case": model.do_lower_case,
                      **{name: getattr(windows, name) for name in ("max_seq_length", "doc_stride", "max_query_length")},
                      "version_2_with_negative": args.version_2_with_negative}
        mismatched = inputs.read_stats.skipped_answer_mismatch
        skipped = {"answer text not at answer_start": mismatched} if mismatched else {}
        labels_dir, metadata = make_labels(args, beam_args, labelling, parameters,
                                           (inputs.train_examples, args.train_file, skipped), paths, teacher.location)
    try:
        strategy = make_strategy(args)
        # The steps follow the windows labelled: each is a training record.
        options = finetuning_options(args, strategy, metadata.num_examples if metadata else 0)
        student = SquadStudentRun(model.config, model.tokenizer, inputs.windows, options, strategy,
                                  vocab_file=model.vocab_file, version_2_with_negative=args.version_2_with_negative,
                                  temperature=args.temperature, alpha=args.alpha)
        student.tuner.start(args.init_checkpoint, training=args.do_train)
    except (ConfigError, CheckpointError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    summary = [f"{args.output_dir}: SQuAD {'2.0' if args.version_2_with_negative else '1.1'}, student distilled "
               f"from {teacher.location}"]
    if metadata is not None:
        results = student.train(labels_dir, metadata)
        summary.append(f"trained {student.tuner.step} steps, loss {results['loss']:.4f} at "
                       f"{results['overall_examples_per_second']:.1f} windows/s")
    if args.do_predict:
        scores = student.predict(inputs.predict_examples, gold_answers(inputs.predict_articles), inputs.decoding,
                                 args.predict_batch_size, load_span_teacher(teacher, args.predict_batch_size))
        summary.append(f"predicted {len(inputs.predict_examples)} questions")
        if scores:
            summary.append(f"exact {scores['exact']:.2f}, f1 {scores['f1']:.2f} (teacher "
                           f"{scores['teacher_exact']:.2f}, {scores['teacher_f1']:.2f}), student "
                           f"{scores['student_speedup']:.1f}x the teacher's speed")
    summary += export_squad_model(args, student.tuner.model, model)
    summary.append(f"wall time {format_duration(time.perf_counter() - begin)}")
    print("; ".join(summary))
    return 0
