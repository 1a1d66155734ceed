"""A SQuAD student: a `SquadRun` trained on a labels folder with `span_distillation_loss`, predicting as `finetune
squad` does (predictions.json, nbest_predictions.json, null_odds.json, eval_results.json), with the teacher's
scores on the same questions and both models' speed added to eval_results.json."""
from __future__ import annotations

import logging
import posixpath

import tensorflow as tf

from bert_model.config import BertConfig
from bert_model.distillation.loss import span_distillation_loss
from bert_model.distillation.span_teacher import WindowScorer
from bert_model.distillation.student import SHUFFLE_BUFFER, items_per_second, labels_files, labels_parsing_spec
from bert_model.finetuning import FinetuningOptions
from bert_model.squad.data import SquadExample, feature_arrays
from bert_model.squad.postprocess import DecodingOptions
from bert_model.squad.run import SquadRun, WindowOptions, answer_scores, answers
from bert_model.training import EVAL_RESULTS, write_results
from formats.distillation_labels import LabelsMetadata
from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)


class SquadStudentRun:
    """A SQuAD student trained on teacher labels with `span_distillation_loss(temperature, alpha)`."""

    def __init__(self, config: BertConfig, tokenizer: FullTokenizer, windows: WindowOptions,
                 options: FinetuningOptions, strategy: tf.distribute.Strategy, *, vocab_file: str,
                 version_2_with_negative: bool, temperature: float, alpha: float) -> None:
        self.temperature, self.alpha = temperature, alpha
        self.squad = SquadRun(config, tokenizer, windows, options, strategy, vocab_file=vocab_file,
                              version_2_with_negative=version_2_with_negative,
                              loss_fn=span_distillation_loss(temperature, alpha))

    @property
    def tuner(self):
        return self.squad.tuner

    def train(self, labels_dir: str, metadata: LabelsMetadata) -> dict[str, float]:
        """Writes OUTPUT_DIR's description (`SquadRun.describe_model`), then trains on the windows that
        `metadata` lists in `labels_dir`."""
        self.squad.describe_model()
        options = self.tuner.options
        _log.info("distilling on %d windows (%d with gold spans, alpha %g, temperature %g): %d steps of %d x %d",
                  metadata.num_examples, metadata.num_gold, self.alpha, self.temperature, options.train_steps,
                  options.batch_size, options.accumulation_steps)
        return self.tuner.train_on_records(labels_files(labels_dir, metadata), labels_parsing_spec(metadata),
                                           SHUFFLE_BUFFER)

    def predict(self, examples: list[SquadExample], gold: dict[str, list[str]], decoding: DecodingOptions,
                batch_size: int, teacher: WindowScorer) -> dict[str, float] | None:
        """`SquadRun.predict`'s files; where `gold` has answers, eval_results.json adds the teacher's scores on the
        same windows (`teacher_` + name), both models' windows/s at the teacher's batch size, the student's
        speed-up, and the temperature and alpha. Returns eval_results' values (None without answers)."""
        scores = self.squad.predict(examples, gold, decoding, batch_size)
        if scores is None:
            return None
        features = self.squad.features(examples, is_training=False)
        windows = feature_arrays(features, is_training=False)
        teacher_start, teacher_end = teacher.logits(windows)
        teacher_scores = answer_scores(answers(examples, features, teacher_start, teacher_end, decoding), gold,
                                       decoding)
        scores.update({f"teacher_{name}": value for name, value in teacher_scores.items()})
        student = WindowScorer(self.tuner.model, teacher.batch_size)
        speeds = [items_per_second(lambda part: scorer.logits({name: values[part] for name, values in windows.items()}),
                                   len(features), scorer.batch_size) for scorer in (teacher, student)]
        scores.update(teacher_windows_per_second=speeds[0], student_windows_per_second=speeds[1],
                      student_speedup=speeds[1] / speeds[0], temperature=self.temperature, alpha=self.alpha)
        path = posixpath.join(self.squad.output_dir, EVAL_RESULTS)
        write_results(path, scores)
        _log.info("eval results in %s: %s", path, scores)
        return scores
