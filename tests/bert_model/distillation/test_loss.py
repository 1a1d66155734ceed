"""The distillation loss against the formula worked out by hand, one example at a time."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from bert_model.distillation.loss import distillation_loss, span_distillation_loss


def _softmax(values: list[float]) -> list[float]:
    exps = [math.exp(value) for value in values]
    return [value / sum(exps) for value in exps]


def _by_hand(student: list[float], teacher: list[float], gold: int, has_label: bool, temperature: float,
             alpha: float) -> float:
    p = _softmax([value / temperature for value in teacher])
    q = _softmax([value / temperature for value in student])
    kl = sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
    cross_entropy = -math.log(_softmax(student)[gold])
    weight = alpha if has_label else 0.0
    return weight * cross_entropy + (1 - weight) * temperature ** 2 * kl


def _features(teacher, labels, has_label, dtype=tf.int32) -> dict[str, tf.Tensor]:
    return {"teacher_logits": tf.constant(teacher, tf.float32), "label_ids": tf.constant(labels, dtype),
            "has_label": tf.constant(has_label, tf.int32)}


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.0), (2.0, 0.0), (4.0, 0.3), (2.0, 1.0)])
def test_classification_loss_is_the_formula(temperature: float, alpha: float) -> None:
    student = [[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0]]
    teacher = [[1.5, -0.5, 0.0], [3.0, -2.0, 0.5], [-1.0, 2.0, 2.5]]
    gold, has_label = [0, 2, 1], [1, 0, 1]
    loss = distillation_loss(False, temperature, alpha)({"logits": tf.constant(student)},
                                                        _features(teacher, gold, has_label))
    expected = [_by_hand(s, t, g, bool(h), temperature, alpha) for s, t, g, h in zip(student, teacher, gold, has_label)]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    # The row without a gold label takes the soft term alone whatever alpha is.
    assert loss.numpy()[1] == pytest.approx(_by_hand(student[1], teacher[1], 0, False, temperature, 0.0), rel=1e-5)


def test_equal_logits_cost_nothing_at_alpha_zero() -> None:
    logits = [[0.3, -1.2], [5.0, 1.0]]
    loss = distillation_loss(False, 3.0, 0.0)({"logits": tf.constant(logits)}, _features(logits, [1, 0], [1, 1]))
    np.testing.assert_allclose(loss.numpy(), 0.0, atol=1e-6)


def test_regression_loss_is_squared_errors() -> None:
    student, teacher, gold, has_label = [[2.5], [0.0]], [[3.0], [1.0]], [4.0, 2.0], [1, 0]
    loss = distillation_loss(True, 2.0, 0.25)({"logits": tf.constant(student)},
                                              _features(teacher, gold, has_label, tf.float32))
    # Row 0: 0.25 * (2.5 - 4)^2 + 0.75 * (2.5 - 3)^2; row 1 has no gold label: (0 - 1)^2. No temperature.
    np.testing.assert_allclose(loss.numpy(), [0.25 * 2.25 + 0.75 * 0.25, 1.0], rtol=1e-6)
    # The teacher's one logit as the training records give it, [batch]: the same.
    flat = distillation_loss(True, 2.0, 0.25)({"logits": tf.constant(student)},
                                              _features([3.0, 1.0], gold, has_label, tf.float32))
    np.testing.assert_allclose(flat.numpy(), loss.numpy())


@pytest.mark.parametrize("temperature,alpha", [(0.0, 0.0), (-1.0, 0.5), (1.0, -0.1), (1.0, 1.5)])
def test_settings_out_of_range_are_refused(temperature: float, alpha: float) -> None:
    with pytest.raises(ValueError):
        distillation_loss(False, temperature, alpha)


def test_span_loss_averages_the_start_and_end_terms() -> None:
    # Two windows of four positions; the first has a gold span (1, 2), the second is unlabeled transfer.
    start, end = [[0.5, 2.0, -1.0, 0.0], [1.0, 1.0, 0.0, -2.0]], [[0.0, 0.3, 1.5, -0.5], [2.0, -1.0, 0.5, 0.5]]
    teacher_start, teacher_end = [[0.0, 3.0, -2.0, 0.0], [0.2, 1.5, 0.1, -1.0]], [[-1.0, 0.0, 2.5, 0.0],
                                                                                 [1.0, 0.0, 0.0, 1.0]]
    features = {"teacher_start_logits": tf.constant(teacher_start), "teacher_end_logits": tf.constant(teacher_end),
                "start_positions": tf.constant([1, 0]), "end_positions": tf.constant([2, 0]),
                "has_label": tf.constant([1, 0])}
    loss = span_distillation_loss(2.0, 0.4)({"start_logits": tf.constant(start), "end_logits": tf.constant(end)},
                                           features)
    expected = [(_by_hand(start[i], teacher_start[i], [1, 0][i], i == 0, 2.0, 0.4)
                 + _by_hand(end[i], teacher_end[i], [2, 0][i], i == 0, 2.0, 0.4)) / 2 for i in range(2)]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
