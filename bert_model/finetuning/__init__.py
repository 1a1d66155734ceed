"""What every fine-tuning task shares: steps and warmup, checkpoint initialization with a report, feature
records, a distributed training loop, padded evaluation batches and checkpoints in the reference layout.

A task (sequence classification, SQuAD) supplies three things:

- a *head model*: a Keras model with a `bert` attribute (the `BertModel` encoder), `build()`, a call
  `model(features, training) -> dict of float32 tensors` and `head_variables()`: the head's weights under
  their reference checkpoint names (`output_weights`/`output_bias` for run_classifier.py,
  `cls/squad/output_weights`/`cls/squad/output_bias` for run_squad.py);
- a *loss*: `loss_fn(outputs, features) -> per-example loss [batch]`; the loop averages it over the global
  batch, so any number of replicas computes the single-device update;
- its features, as numpy arrays written with `write_records` and read with `record_dataset`.

Then:

    options = FinetuningOptions(output_dir, train_steps=steps_for_epochs(n, 32, 3.0), batch_size=32,
                                learning_rate=5e-5, warmup_steps=warmup_for(steps, 0.1))
    tuner = Finetuner(lambda: MyHead(config), my_loss, options, make_strategy("default"))
    tuner.start(init_checkpoint, training=True)  # InitReport: what was loaded, what starts fresh
    tuner.train(lambda ctx: record_dataset(train_file, spec, 32, is_training=True, input_context=ctx))
                                                 # saves OUTPUT_DIR/model.ckpt-STEP, reference names
    padded = pad_to_batches(eval_features, 8)    # adds is_real_example, zero rows up to a multiple of 8
    write_records(eval_file, padded)
    outputs = tuner.predict(record_dataset(eval_file, spec_with_is_real, 8, is_training=False))
    # outputs holds the real rows only, in order

The optimizers, loss scaling, strategies and dtype policies are those of `bertprep pretrain`
(`optimization`, `loss_scale`, `distribution`), and so is the train step's update and accumulation
(`training.TrainingStep`). A fine-tuning run is short, so it saves weights only (reference layout, readable
by run_classifier.py and `load_checkpoint`) and does not resume mid-run.

One module per job: `options` (how to train), `head` (what a task supplies), `records` (its features as
TFRecords), `checkpoints` (the weights a run starts from and the checkpoints it saves), `step` (the
distributed train step's loss), `loop` (the training loop), `prediction` (outputs on padded batches), and
`finetuner` (`Finetuner`, which puts them together for one OUTPUT_DIR).
"""
from bert_model.finetuning.checkpoints import InitReport, initialize_from_checkpoint
from bert_model.finetuning.finetuner import Finetuner
from bert_model.finetuning.head import HeadModel, LossFn
from bert_model.finetuning.options import FinetuningOptions, load_task_config, steps_for_epochs, warmup_for
from bert_model.finetuning.records import (
    IS_REAL_EXAMPLE,
    pad_to_batches,
    record_dataset,
    record_parsing_spec,
    write_records,
)

__all__ = ["IS_REAL_EXAMPLE", "Finetuner", "FinetuningOptions", "HeadModel", "InitReport", "LossFn",
           "initialize_from_checkpoint", "load_task_config", "pad_to_batches", "record_dataset",
           "record_parsing_spec", "steps_for_epochs", "warmup_for", "write_records"]
