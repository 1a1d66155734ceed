"""The tokenizer files of a transformers BERT folder, written from our vocab: vocab.txt, tokenizer.json (the
`tokenizers` library's BertWordPiece pipeline), tokenizer_config.json and special_tokens_map.json, so that
`AutoTokenizer.from_pretrained(folder)` gives the ids our `FullTokenizer` gives."""
from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping

import tensorflow as tf
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from bert_model.transformers_format.folder import TOKENIZER_CONFIG_FILE, VOCAB_FILE

UNK, CLS, SEP, PAD, MASK = "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"
SPECIAL_TOKENS_MAP = {"unk_token": UNK, "sep_token": SEP, "pad_token": PAD, "cls_token": CLS, "mask_token": MASK}
TOKENIZER_FILE, SPECIAL_TOKENS_MAP_FILE = "tokenizer.json", "special_tokens_map.json"
TOKENIZER_FILES = (VOCAB_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE)
# Our (and the reference) WordpieceTokenizer's limit: a longer word is [UNK]. transformers 5's BertTokenizer
# rebuilds its WordPiece model from vocab.txt with its own limit, 100, so there (only there) a word of 101 to 200
# characters without punctuation is [UNK] where ours splits it; tokenizer.json read as it is keeps ours.
MAX_INPUT_CHARS_PER_WORD = 200


def wordpiece_tokenizer(vocab: Mapping[str, int], do_lower_case: bool) -> Tokenizer:
    """The reference FullTokenizer as a `tokenizers` pipeline: clean text, split CJK characters, lower-case and
    strip accents when `do_lower_case`; split on whitespace and punctuation; WordPiece with `##` pieces; and
    [CLS] A [SEP] (B [SEP]) around the pieces."""
    missing = [token for token in (UNK, CLS, SEP) if token not in vocab]
    if missing:
        raise ValueError(f"the vocab lacks {', '.join(missing)}: a BERT tokenizer needs them")
    tokenizer = Tokenizer(models.WordPiece(dict(vocab), unk_token=UNK,
                                           max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=do_lower_case, lowercase=do_lower_case)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS}:0 $A:0 {SEP}:0", pair=f"{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])])
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    special = [token for token in SPECIAL_TOKENS_MAP.values() if token in vocab]
    tokenizer.add_special_tokens(special)
    return tokenizer


def tokenizer_config(vocab: Mapping[str, int], do_lower_case: bool, model_max_length: int) -> dict:
    """tokenizer_config.json: BertTokenizer with the case handling, special tokens and length."""
    return {"tokenizer_class": "BertTokenizer", "do_lower_case": do_lower_case, "tokenize_chinese_chars": True,
            "strip_accents": None, "model_max_length": model_max_length, "clean_up_tokenization_spaces": True,
            **{name: token for name, token in SPECIAL_TOKENS_MAP.items() if token in vocab}}


def write_tokenizer_files(folder: str, vocab: Mapping[str, int], do_lower_case: bool, model_max_length: int) -> None:
    """Writes TOKENIZER_FILES into `folder` for `vocab` (token -> id, ids 0..n-1)."""
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[token] for token in tokens] != list(range(len(tokens))):
        raise ValueError("the vocab's ids are not 0..n-1: vocab.txt cannot hold it")
    contents = {
        VOCAB_FILE: "".join(token + "\n" for token in tokens),
        TOKENIZER_FILE: wordpiece_tokenizer(vocab, do_lower_case).to_str(pretty=True),
        TOKENIZER_CONFIG_FILE: _json(tokenizer_config(vocab, do_lower_case, model_max_length)),
        SPECIAL_TOKENS_MAP_FILE: _json({name: token for name, token in SPECIAL_TOKENS_MAP.items() if token in vocab}),
    }
    for name, text in contents.items():
        with tf.io.gfile.GFile(posixpath.join(folder, name), "w") as handle:
            handle.write(text)


def _json(value: dict) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
