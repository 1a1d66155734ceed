"""TensorFlow 2 BERT: pretraining, checkpoints, fine-tuning (issues #5 and #7; not built yet)."""
