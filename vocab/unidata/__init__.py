"""Generated data from `unicodedata`, one module per Unicode version (see vocab.unicode_classes.category_runs)."""
