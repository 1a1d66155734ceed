"""Defaults of the reference scripts (google-research/bert) that this package follows, without importing
TensorFlow, so that command-line help can show them."""

# run_pretraining.py's --max_seq_length and --max_predictions_per_seq (also create_pretraining_data.py's).
REFERENCE_MAX_SEQ_LENGTH = 128
REFERENCE_MAX_PREDICTIONS_PER_SEQ = 20
