"""SQuAD v1.1/v2.0 question answering: features, the span head, answer decoding, metrics and export."""
