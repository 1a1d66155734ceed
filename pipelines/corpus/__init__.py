"""Stage 1, `bertprep corpus`: raw dumps, books and text to clean, deduplicated, sentence-split documents."""
