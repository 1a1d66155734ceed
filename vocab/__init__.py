"""WordPiece tokenization and vocabulary learning (issue #3; not built yet)."""
