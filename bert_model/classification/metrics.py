"""GLUE evaluation metrics in numpy, from their definitions: accuracy, F1 of the positive class,
Matthews correlation, Pearson and Spearman correlation (ranks averaged over ties)."""
from __future__ import annotations

import numpy as np

# Which metrics each task reports besides the loss, as GLUE scores them.
TASK_METRICS = {
    "cola": ("accuracy", "matthews_corrcoef"),
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    "sts-b": ("pearson", "spearman"),
}
_CLASSIFICATION = ("accuracy",)
_REGRESSION = ("pearson", "spearman")


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def f1(labels: np.ndarray, predictions: np.ndarray, positive: int = 1) -> float:
    """2 TP / (2 TP + FP + FN) for class `positive`; 0 when it is neither predicted nor present."""
    labels, predictions = np.asarray(labels) == positive, np.asarray(predictions) == positive
    true_positives = np.sum(labels & predictions)
    denominator = 2 * true_positives + np.sum(labels != predictions)
    return float(2 * true_positives / denominator) if denominator else 0.0


def matthews_corrcoef(labels: np.ndarray, predictions: np.ndarray) -> float:
    """The multi-class Matthews correlation (Gorodkin 2004) of the confusion matrix C:
    (c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2)), with c = trace C, s = samples,
    t_k/p_k how often class k is true/predicted; 0 when a factor under the root is 0. Binary: the usual MCC."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = np.union1d(labels, predictions)
    true_counts = np.array([np.sum(labels == k) for k in classes], np.float64)
    predicted_counts = np.array([np.sum(predictions == k) for k in classes], np.float64)
    samples, correct = float(len(labels)), float(np.sum(labels == predictions))
    denominator = (samples ** 2 - predicted_counts @ predicted_counts) * (samples ** 2 - true_counts @ true_counts)
    return float((correct * samples - predicted_counts @ true_counts) / np.sqrt(denominator)) if denominator else 0.0


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, np.float64) - np.mean(x), np.asarray(y, np.float64) - np.mean(y)
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator else 0.0


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, group, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(group, weights=ranks)
    return sums[group] / counts[group]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the average ranks."""
    return pearson(average_ranks(x), average_ranks(y))


_FUNCTIONS = {"accuracy": accuracy, "f1": f1, "matthews_corrcoef": matthews_corrcoef, "pearson": pearson,
              "spearman": spearman}


def task_metrics(task_name: str, labels: np.ndarray, predictions: np.ndarray, regression: bool) -> dict[str, float]:
    """`eval_<metric>` for the task's metrics: predicted label indices, or scores for regression."""
    names = TASK_METRICS.get(task_name, _REGRESSION if regression else _CLASSIFICATION)
    return {f"eval_{name}": _FUNCTIONS[name](labels, predictions) for name in names}
