"""WordPiece tokenization (drop-in for the reference FullTokenizer) and vocabulary learning."""
from vocab.tokenization import BasicTokenizer, FullTokenizer, VocabError, WordpieceTokenizer, load_vocab

__all__ = ["BasicTokenizer", "FullTokenizer", "VocabError", "WordpieceTokenizer", "load_vocab"]
