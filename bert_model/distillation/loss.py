"""The student's loss in knowledge distillation ("Distilling the Knowledge in a Neural Network"; the BERT
miniatures' "pre-trained distillation"), per example, for `Finetuner`:

    classification: alpha * CE(gold, student) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))
    regression:     alpha * (student - gold)^2 + (1 - alpha) * (student - teacher)^2
    SQuAD:          the classification loss of the start logits and of the end logits, averaged (as
                    run_squad.py averages its two cross-entropies), each softmax over the window's positions

T^2 keeps the soft term's gradients at the scale of the hard term's whatever the temperature. A transfer
example without a gold label (`has_label` 0) takes the soft term alone, with weight 1.
"""
from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from bert_model.finetuning import LossFn
from formats.distillation_labels import HAS_LABEL, TEACHER_LOGITS


def _check(temperature: float, alpha: float) -> None:
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def _soft(teacher: tf.Tensor, student: tf.Tensor, temperature: float) -> tf.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)) over the last axis."""
    teacher_log_p = tf.nn.log_softmax(teacher / temperature, axis=-1)
    student_log_p = tf.nn.log_softmax(student / temperature, axis=-1)
    return temperature ** 2 * tf.reduce_sum(tf.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)


def _gold_weight(features: Mapping[str, tf.Tensor], alpha: float) -> tf.Tensor:
    return alpha * tf.cast(features[HAS_LABEL], tf.float32)


def distillation_loss(regression: bool, temperature: float, alpha: float) -> LossFn:
    """The per-example loss above for classification or regression, from the student's `logits` and the
    features `teacher_logits`, `label_ids` and `has_label` of a labels record."""
    _check(temperature, alpha)

    def loss(outputs: Mapping[str, tf.Tensor], features: Mapping[str, tf.Tensor]) -> tf.Tensor:
        student = tf.cast(outputs["logits"], tf.float32)
        teacher = tf.cast(features[TEACHER_LOGITS], tf.float32)
        gold_weight = _gold_weight(features, alpha)
        if regression:
            # One output: record_dataset hands width-1 features over as [batch].
            hard = tf.square(student[:, 0] - tf.cast(features["label_ids"], tf.float32))
            soft = tf.square(student[:, 0] - tf.reshape(teacher, [-1]))
        else:
            hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=features["label_ids"], logits=student)
            soft = _soft(teacher, student, temperature)
        return gold_weight * hard + (1.0 - gold_weight) * soft

    return loss


def span_distillation_loss(temperature: float, alpha: float) -> LossFn:
    """The per-window SQuAD loss above, from the student's `start_logits` and `end_logits` and the features
    `teacher_start_logits`, `teacher_end_logits`, `start_positions`, `end_positions` and `has_label`."""
    _check(temperature, alpha)

    def loss(outputs: Mapping[str, tf.Tensor], features: Mapping[str, tf.Tensor]) -> tf.Tensor:
        gold_weight = _gold_weight(features, alpha)
        terms = []
        for side in ("start", "end"):
            student = tf.cast(outputs[f"{side}_logits"], tf.float32)
            teacher = tf.cast(features[f"teacher_{side}_logits"], tf.float32)
            hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=features[f"{side}_positions"],
                                                                  logits=student)
            terms.append(gold_weight * hard + (1.0 - gold_weight) * _soft(teacher, student, temperature))
        return (terms[0] + terms[1]) / 2.0

    return loss
