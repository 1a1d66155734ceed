"""BERT pretraining under tf.distribute: the training loop of run_pretraining.py, resumable, with evaluation.

A custom loop rather than Keras `fit`: Keras 3's fit with
steps_per_execution > 1 fails under MirroredStrategy (keras-team/keras#19246),
and the optimizers (`optimization`) are tf.Modules that fit cannot drive.
Each call of one tf.function runs `steps_per_loop` steps, as TPUEstimator's
iterations_per_loop did; each step runs `accumulation_steps` micro-batches.

Losses: every replica weights its masked-LM loss by its share of the global
batch's masked predictions and its next-sentence loss by its share of the
sequences, so the gradients that the optimizer sums over replicas are those
of the global batch's losses, as run_pretraining.py computes them on one
device. Accumulation averages the micro-batches' losses.

OUTPUT_DIR holds:
- `training/ckpt-STEP`: the whole training state (weights and dropout seeds,
  optimizer, loss scale, step, data position), written every
  `save_checkpoints_steps` and at the end. A run restarted with the same
  OUTPUT_DIR resumes from the latest one exactly: the data is read in a
  seeded order and the batches already consumed are skipped (read again and
  dropped: exact, at the cost of reading them, which is far cheaper than
  training on them). Resume with the same batch size and replicas.
- `bert_model.ckpt`: the weights in the reference layout (`checkpoints`),
  rewritten with each checkpoint, and `bert_config.json`: what
  `--init_checkpoint`, extract-features and other BERT tools read.
- `train/`, `eval/`: TensorBoard scalars; `eval_results.json`: the
  reference's evaluation metrics.

The data is a `bertprep pretraining-data` folder or the reference's
--input_file list (`files`). A file found damaged while training
or evaluating stops the run with PretrainingDataError naming it. Each call of
the loop runs as many steps as `progress.LoopPacer` plans, and is followed by
a progress line.

One module per job: `options` (how to train), `files` (the TFRecord files and their metadata), `data`
(the run's data, checked and read), `state` (the checkpoints: restore, resume, save), `step` (the
distributed train step's losses, run by `training.TrainingStep`), `loop` (the training loop with its
summaries), `evaluation` (the reference's metrics), and `run` (`PretrainingRun`, which puts them together
for one OUTPUT_DIR).
"""
from bert_model.pretraining.options import PretrainingOptions
from bert_model.pretraining.run import PretrainingRun

__all__ = ["PretrainingOptions", "PretrainingRun"]
