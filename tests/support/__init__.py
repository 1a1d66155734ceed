"""What the tests share: data paths, fixtures, the reference BERT as an oracle, a local GCS server."""
