"""The Beam side and the `bertprep` command: the corpus, vocab and pretraining-data stages (one folder
each, vocab_pipeline.py for the vocab stage), the output folders and progress they share, and cli/."""
