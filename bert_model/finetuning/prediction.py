"""Prediction with a fine-tuned model: its outputs on padded batches under a tf.distribute strategy, the
padding rows removed."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

from bert_model.finetuning.head import HeadModel
from bert_model.finetuning.records import IS_REAL_EXAMPLE
from bert_model.progress import Heartbeat, format_duration

_log = logging.getLogger(__name__)


class Predictor:
    """Runs `model` on each replica's part of a batch, with a progress line every `progress_seconds`."""

    def __init__(self, model: HeadModel, strategy: tf.distribute.Strategy, progress_seconds: float) -> None:
        self.model, self.strategy, self.progress_seconds = model, strategy, progress_seconds
        self._predict_step = tf.function(self._distributed_outputs)

    def _distributed_outputs(self, features: Any) -> Any:
        return self.strategy.run(lambda batch: (self.model(batch, training=False), batch[IS_REAL_EXAMPLE]),
                                 args=(features,))

    def predict(self, dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
        """The model's outputs on every batch of `dataset` (global batches with `is_real_example`, e.g.
        `record_dataset(..., is_training=False)` over `pad_to_batches` rows), concatenated in order, fake
        rows removed."""
        local = self.strategy.experimental_local_results
        collected: dict[str, list[np.ndarray]] = {}
        real: list[np.ndarray] = []
        heartbeat = Heartbeat(self.progress_seconds)
        for batches, batch in enumerate(self.strategy.experimental_distribute_dataset(dataset), start=1):
            outputs, is_real = self._predict_step(batch)
            real += [np.asarray(value) for value in local(is_real)]
            for name, value in outputs.items():
                collected.setdefault(name, []).extend(np.asarray(part) for part in local(value))
            if heartbeat.due():
                _log.info("predicted %d batches, elapsed %s", batches, format_duration(heartbeat.elapsed))
        if not real:
            raise ValueError("nothing to predict: the dataset holds no full batch")
        keep = np.concatenate(real).reshape(-1) == 1
        return {name: np.concatenate(parts)[keep] for name, parts in collected.items()}
