"""Sentence (pair) classification: GLUE-style task data, the classifier head, metrics and export."""
