"""Fine-tuning on SQuAD as run_squad.py does it: training on a file's questions, and prediction with the
reference's answer decoding (predictions.json, nbest_predictions.json, null_odds.json) and, for a file with
answers, the official scores (eval_results.json)."""
from __future__ import annotations

import dataclasses
import logging
import posixpath
import random

import numpy as np
import tensorflow as tf

from bert_model.classification.labels import copy_vocab
from bert_model.config import BertConfig, write_config_file
from bert_model.finetuning import (
    Finetuner,
    FinetuningOptions,
    LossFn,
    pad_to_batches,
    record_dataset,
    record_parsing_spec,
    write_records,
)
from bert_model.squad.data import (
    SquadExample,
    SquadFeature,
    check_lengths,
    convert_examples_to_features,
    feature_arrays,
)
from bert_model.squad.folder import SquadSettings, write_settings
from bert_model.squad.metrics import evaluate
from bert_model.squad.model import BertSquad, span_loss
from bert_model.squad.postprocess import (
    DecodingOptions,
    RawResult,
    SquadPredictions,
    predict_answers,
    write_predictions,
)
from bert_model.training import EVAL_RESULTS, write_results
from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WindowOptions:
    """How questions and contexts become features: `max_seq_length` tokens per window, windows
    `doc_stride` pieces apart, questions cut to `max_query_length` pieces (ValueError for lengths that
    leave no room for the context)."""

    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64

    def __post_init__(self) -> None:
        check_lengths(self.max_seq_length, self.doc_stride, self.max_query_length)


class SquadRun:
    """A `Finetuner` of `BertSquad`, fed examples as windows of `windows`; its files go to
    `options.output_dir`. The loss is the reference's (`span_loss`) unless `loss_fn` says otherwise
    (distillation's)."""

    def __init__(self, config: BertConfig, tokenizer: FullTokenizer, windows: WindowOptions,
                 options: FinetuningOptions, strategy: tf.distribute.Strategy, *, vocab_file: str,
                 version_2_with_negative: bool, loss_fn: LossFn | None = None) -> None:
        self.config, self.tokenizer, self.windows = config, tokenizer, windows
        self.vocab_file, self.version_2_with_negative = vocab_file, version_2_with_negative
        self.tuner = Finetuner(lambda: BertSquad(config), loss_fn or span_loss, options, strategy)

    @property
    def output_dir(self) -> str:
        return self.tuner.options.output_dir

    def features(self, examples: list[SquadExample], is_training: bool) -> list[SquadFeature]:
        windows = self.windows
        return list(convert_examples_to_features(examples, self.tokenizer, windows.max_seq_length,
                                                 windows.doc_stride, windows.max_query_length,
                                                 is_training=is_training))

    def describe_model(self) -> None:
        """Writes what makes OUTPUT_DIR a self-describing model beside its checkpoints: bert_config.json,
        squad.json (casing and windows) and the vocab.txt it reads."""
        write_config_file(self.config, self.output_dir)
        windows = self.windows
        write_settings(SquadSettings(self.tokenizer.do_lower_case, windows.max_seq_length, windows.doc_stride,
                                     windows.max_query_length, self.version_2_with_negative), self.output_dir)
        copy_vocab(self.vocab_file, self.output_dir)

    def train(self, examples: list[SquadExample]) -> dict[str, float]:
        """Writes the files of `describe_model` and train.tf_record (the examples shuffled with the seed, as
        the reference does before making features), then trains (`Finetuner.train`)."""
        self.describe_model()
        options = self.tuner.options
        examples = list(examples)
        random.Random(options.seed).shuffle(examples)
        features = self.features(examples, is_training=True)
        arrays = feature_arrays(features, is_training=True)
        path = posixpath.join(self.output_dir, "train.tf_record")
        write_records(path, arrays)
        _log.info("training on %d examples (%d features): %d steps of %d x %d", len(examples), len(features),
                  options.train_steps, options.batch_size, options.accumulation_steps)
        return self.tuner.train_on_records([path], record_parsing_spec(arrays))

    def predict(self, examples: list[SquadExample], gold: dict[str, list[str]], decoding: DecodingOptions,
                batch_size: int) -> dict[str, float] | None:
        """Writes the prediction files and, when `gold` (qas_id -> answer texts) has answers,
        eval_results.json; returns those scores (None without answers)."""
        features = self.features(examples, is_training=False)
        arrays = pad_to_batches(feature_arrays(features, is_training=False), batch_size)
        path = posixpath.join(self.output_dir, "predict.tf_record")
        write_records(path, arrays)
        _log.info("predicting %d examples (%d features) in batches of %d", len(examples), len(features),
                  batch_size)
        outputs = self.tuner.predict(record_dataset(path, record_parsing_spec(arrays), batch_size,
                                                    is_training=False))
        predictions = answers(examples, features, outputs["start_logits"], outputs["end_logits"], decoding)
        write_predictions(predictions, self.output_dir, decoding.version_2_with_negative)
        scores = answer_scores(predictions, gold, decoding)
        if scores is None:
            return None  # a test file: nothing to score against
        scores["global_step"] = self.tuner.step
        write_results(posixpath.join(self.output_dir, EVAL_RESULTS), scores)
        return scores


def answers(examples: list[SquadExample], features: list[SquadFeature], start_logits: np.ndarray,
            end_logits: np.ndarray, decoding: DecodingOptions) -> SquadPredictions:
    """The answers the reference decodes from each window's logits (`predict_answers`)."""
    results = [RawResult(feature.unique_id, start, end)
               for feature, start, end in zip(features, start_logits, end_logits)]
    return predict_answers(examples, features, results, decoding)


def answer_scores(predictions: SquadPredictions, gold: dict[str, list[str]],
                  decoding: DecodingOptions) -> dict[str, float] | None:
    """The official scores of `predictions` against `gold` (qas_id -> answer texts); None without answers."""
    if not any(gold.values()):
        return None
    return evaluate(gold, predictions.predictions, predictions.null_odds if decoding.version_2_with_negative else None)
