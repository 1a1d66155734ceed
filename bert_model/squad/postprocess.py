"""Start/end logits to SQuAD answers, as the reference run_squad.py's write_predictions.

Per example, every window proposes the `n_best_size` best starts times the
`n_best_size` best ends; a span counts if both ends lie in the context, its
start is in the window where that token has the most context, it does not
end before it starts and spans at most `max_answer_length` tokens. Spans are
ranked by start + end logit, mapped back to the original words and then,
character by character, to the original text (so "steve smith" predicted
from "Steve Smith's" gives "Steve Smith"). For SQuAD 2.0 the null answer
scores the [CLS] position's start + end logits, taken from the window where
they are lowest; the prediction is "" when that score exceeds the best
non-null span's by more than `null_score_diff_threshold`.

The three JSON files have the reference's names, order and layout, so for
the same features and logits they are byte-identical to its output.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from bert_model.squad.data import SquadExample, SquadFeature
from vocab.tokenization import BasicTokenizer

# Debug lines for answers that fall back to their whole original text (run_squad.py's --verbose_logging).
_log = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.json"
NBEST_FILE = "nbest_predictions.json"
NULL_ODDS_FILE = "null_odds.json"
# The reference's starting minimum for the null score, and the answer it gives when nothing qualifies.
_NO_NULL_SCORE = 1000000.0
_NO_ANSWER_TEXT = "empty"


class RawResult(NamedTuple):
    """The model's logits over one feature's sequence."""

    unique_id: int
    start_logits: Sequence[float]
    end_logits: Sequence[float]


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    n_best_size: int = 20
    max_answer_length: int = 30
    do_lower_case: bool = True
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ValueError(f"n_best_size and max_answer_length must be at least 1, "
                             f"got {self.n_best_size} and {self.max_answer_length}")


@dataclasses.dataclass
class SquadPredictions:
    """qas_id -> answer text, n-best list, and (SQuAD 2.0) null score minus best non-null score."""

    predictions: dict[str, str] = dataclasses.field(default_factory=dict)
    nbest: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    null_odds: dict[str, float] = dataclasses.field(default_factory=dict)


class _Span(NamedTuple):
    feature: int
    start: int
    end: int
    start_logit: float
    end_logit: float


class _Candidate(NamedTuple):
    text: str
    start_logit: float
    end_logit: float


def best_indexes(logits: Sequence[float], n_best_size: int) -> list[int]:
    """Indexes of the `n_best_size` largest logits, largest first; equal logits in index order."""
    return np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable")[:n_best_size].tolist()


def softmax(scores: Sequence[float]) -> list[float]:
    """Probabilities of `scores`, in double precision (the reference's arithmetic, for equal output)."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = 0.0
    for value in exps:
        total += value
    return [value / total for value in exps]


def final_text(pred_text: str, orig_text: str, do_lower_case: bool) -> str:
    """The part of `orig_text` (original words) that the normalized `pred_text` (detokenized pieces) covers.

    Basic tokenization changes a word's spaces, case and accents but, for
    most text, not its number of non-space characters, so the two align
    character by character once spaces are removed; where they do not (or
    `pred_text` is not found), the whole `orig_text` is the answer.
    """
    tok_text = " ".join(BasicTokenizer(do_lower_case=do_lower_case).tokenize(orig_text))
    start = tok_text.find(pred_text)
    if start < 0:
        _log.debug("unable to find text %r in %r", pred_text, orig_text)
        return orig_text
    end = start + len(pred_text) - 1
    orig_chars = [index for index, char in enumerate(orig_text) if char != " "]
    tok_chars = [index for index, char in enumerate(tok_text) if char != " "]
    if len(orig_chars) != len(tok_chars):
        _log.debug("length not equal after stripping spaces: %r vs %r", orig_text, tok_text)
        return orig_text
    tok_to_nonspace = {position: index for index, position in enumerate(tok_chars)}
    if start not in tok_to_nonspace or end not in tok_to_nonspace:
        _log.debug("could not map the answer %r back onto %r", pred_text, orig_text)
        return orig_text
    return orig_text[orig_chars[tok_to_nonspace[start]]:orig_chars[tok_to_nonspace[end]] + 1]


def _span_text(example: SquadExample, feature: SquadFeature, span: _Span, do_lower_case: bool) -> str:
    pieces = " ".join(feature.tokens[span.start:span.end + 1]).replace(" ##", "").replace("##", "")
    words = example.doc_tokens[feature.token_to_orig_map[span.start]:feature.token_to_orig_map[span.end] + 1]
    return final_text(" ".join(pieces.split()), " ".join(words), do_lower_case)


def _valid_spans(feature: SquadFeature, feature_index: int, result: RawResult,
                 options: DecodingOptions) -> Iterable[_Span]:
    starts = best_indexes(result.start_logits, options.n_best_size)
    ends = best_indexes(result.end_logits, options.n_best_size)
    in_context = feature.token_to_orig_map
    for start in starts:
        if start not in in_context or not feature.token_is_max_context.get(start, False):
            continue
        for end in ends:
            if end in in_context and start <= end < start + options.max_answer_length:
                yield _Span(feature_index, start, end, result.start_logits[start], result.end_logits[end])


def predict_example(example: SquadExample, features: Sequence[SquadFeature], results: Mapping[int, RawResult],
                    options: DecodingOptions) -> tuple[str, list[dict[str, Any]], float | None]:
    """One example's answer, n-best list and (SQuAD 2.0) null-minus-best-non-null score."""
    spans: list[_Span] = []
    null = _Span(0, 0, 0, 0.0, 0.0)
    null_score = _NO_NULL_SCORE
    for feature_index, feature in enumerate(features):
        result = results[feature.unique_id]
        if options.version_2_with_negative:
            score = result.start_logits[0] + result.end_logits[0]
            if score < null_score:
                null_score = score
                null = _Span(feature_index, 0, 0, result.start_logits[0], result.end_logits[0])
        spans.extend(_valid_spans(feature, feature_index, result, options))
    if options.version_2_with_negative:
        spans.append(null)
    spans.sort(key=lambda span: span.start_logit + span.end_logit, reverse=True)  # stable: ties keep order

    nbest: list[_Candidate] = []
    seen: set[str] = set()
    for span in spans:
        if len(nbest) == options.n_best_size:
            break
        text = _span_text(example, features[span.feature], span, options.do_lower_case) if span.start else ""
        if text in seen and span.start:
            continue
        seen.add(text)
        nbest.append(_Candidate(text, span.start_logit, span.end_logit))
    if options.version_2_with_negative and "" not in seen:
        nbest.append(_Candidate("", null.start_logit, null.end_logit))
    if not nbest:
        nbest.append(_Candidate(_NO_ANSWER_TEXT, 0.0, 0.0))

    probabilities = softmax([candidate.start_logit + candidate.end_logit for candidate in nbest])
    nbest_json = [{"text": candidate.text, "probability": probability, "start_logit": candidate.start_logit,
                   "end_logit": candidate.end_logit} for candidate, probability in zip(nbest, probabilities)]
    if not options.version_2_with_negative:
        return nbest[0].text, nbest_json, None
    best_non_null = next((candidate for candidate in nbest if candidate.text), None)
    if best_non_null is None:
        # No span qualified (the reference fails here): answer null, against a non-null score of 0.
        return "", nbest_json, null_score
    score_diff = null_score - best_non_null.start_logit - best_non_null.end_logit
    return ("" if score_diff > options.null_score_diff_threshold else best_non_null.text), nbest_json, score_diff


def predict_answers(examples: Sequence[SquadExample], features: Iterable[SquadFeature],
                    results: Iterable[RawResult], options: DecodingOptions) -> SquadPredictions:
    """Answers for every example from its features' logits (one RawResult per feature, any order)."""
    by_example: dict[int, list[SquadFeature]] = collections.defaultdict(list)
    for feature in features:
        by_example[feature.example_index].append(feature)
    by_id = {result.unique_id: _as_floats(result) for result in results}
    missing = [f.unique_id for fs in by_example.values() for f in fs if f.unique_id not in by_id]
    if missing:
        raise ValueError(f"no logits for {len(missing)} features (unique_id {missing[0]} and others)")
    out = SquadPredictions()
    for example_index, example in enumerate(examples):
        answer, nbest, null_odds = predict_example(example, by_example[example_index], by_id, options)
        out.predictions[example.qas_id] = answer
        out.nbest[example.qas_id] = nbest
        if null_odds is not None:
            out.null_odds[example.qas_id] = null_odds
    return out


def _as_floats(result: RawResult) -> RawResult:
    # Python floats (doubles) from float32 logits, as the reference's float(x): sums and JSON then agree.
    return RawResult(int(result.unique_id), np.asarray(result.start_logits).tolist(),
                     np.asarray(result.end_logits).tolist())


def _dump(path: str, value: Any) -> None:
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(value, indent=4) + "\n")


def write_predictions(predictions: SquadPredictions, output_dir: str, version_2_with_negative: bool) -> list[str]:
    """Writes predictions.json, nbest_predictions.json and (SQuAD 2.0) null_odds.json; returns their paths."""
    tf.io.gfile.makedirs(output_dir)
    contents = {PREDICTIONS_FILE: predictions.predictions, NBEST_FILE: predictions.nbest}
    if version_2_with_negative:
        contents[NULL_ODDS_FILE] = predictions.null_odds
    paths = []
    for name, value in contents.items():
        paths.append(posixpath.join(output_dir, name))
        _dump(paths[-1], value)
    return paths
