"""Readers of the raw formats: Wikipedia XML dumps (whole, multistream, bz2 blocks) and Gutenberg books."""
