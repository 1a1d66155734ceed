"""TensorFlow 2 BERT: the model, reference-layout checkpoints, pretraining on bertprep's TFRecords, fine-tuning
(classification, SQuAD), feature extraction and export."""
