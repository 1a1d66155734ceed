"""The official SQuAD metrics, exact match and token F1, for SQuAD 1.1 and 2.0.

Both compare normalized text: lowercased, punctuation removed, the articles
"a", "an", "the" removed, whitespace collapsed. F1 is over the normalized
tokens as bags (a repeated token counts as often as it occurs in both).
A question scores its best value over its gold answers. A SQuAD 2.0
question without answers has the single gold answer "": an empty
prediction scores 1 on both metrics, anything else 0. Scores are
percentages; HasAns_* and NoAns_* split them by whether gold answers exist.

`best_exact`/`best_f1` (with null odds, as run_squad.py writes them) are the
scores at the best null threshold: predicting "" for every question whose
null odds exceed it.
"""
from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation, then articles, then collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not wanted:
        return float(predicted == wanted)  # an empty side matches only another empty one
    common = sum((collections.Counter(predicted) & collections.Counter(wanted)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def gold_answers(articles: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """qas_id -> its gold answer texts ([] for a SQuAD 2.0 question without answers)."""
    return {str(qa["id"]): [answer["text"] for answer in qa.get("answers", [])]
            for article in articles for paragraph in article["paragraphs"] for qa in paragraph["qas"]}


def _percent(values: Sequence[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0


def _best_threshold(scores: Mapping[str, float], predictions: Mapping[str, str], has_answer: Mapping[str, bool],
                    null_odds: Mapping[str, float]) -> tuple[float, float]:
    """(score %, threshold) of the best null threshold. Below every odds all answers are null: the
    no-answer questions score 1 each; raising the threshold past a question's odds swaps in its answer."""
    current = best = float(sum(not has for has in has_answer.values()))
    threshold = 0.0
    for qas_id in sorted(has_answer, key=lambda key: null_odds.get(key, 0.0)):
        if has_answer[qas_id]:
            current += scores[qas_id]
        elif predictions.get(qas_id):
            current -= 1
        if current > best:
            best, threshold = current, null_odds.get(qas_id, 0.0)
    return 100.0 * best / len(has_answer), threshold


def evaluate(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str],
             null_odds: Mapping[str, float] | None = None) -> dict[str, float]:
    """EM and F1 (percent) over every question of `gold` (qas_id -> answer texts, as `gold_answers`
    gives); a question without a prediction scores 0 and is counted in `missing`."""
    if not gold:
        raise ValueError("no gold questions to evaluate against")
    # Answers that normalize to nothing do not count; a question left without any has the gold answer "".
    scored = {qid: [text for text in answers if normalize_answer(text)] or [""] for qid, answers in gold.items()}
    exact = {qid: max(exact_match(predictions.get(qid, ""), text) for text in texts) for qid, texts in scored.items()}
    f1 = {qid: max(f1_score(predictions.get(qid, ""), text) for text in texts) for qid, texts in scored.items()}
    missing = [qid for qid in gold if qid not in predictions]
    for qid in missing:
        exact[qid] = f1[qid] = 0.0
    has_answer = {qid: bool(answers) for qid, answers in gold.items()}
    results: dict[str, float] = {"exact": _percent(list(exact.values())), "f1": _percent(list(f1.values())),
                                 "total": len(gold), "missing": len(missing)}
    for name, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [qid for qid, has in has_answer.items() if has == wanted]
        if ids:
            results[f"{name}_exact"] = _percent([exact[qid] for qid in ids])
            results[f"{name}_f1"] = _percent([f1[qid] for qid in ids])
            results[f"{name}_total"] = len(ids)
    if null_odds is not None:
        for name, scores in (("exact", exact), ("f1", f1)):
            results[f"best_{name}"], results[f"best_{name}_thresh"] = _best_threshold(
                scores, predictions, has_answer, null_odds)
    return results
