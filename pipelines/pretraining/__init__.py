"""Stage 3, `bertprep pretraining-data`: documents to masked-LM / next-sentence TFRecords per length."""
