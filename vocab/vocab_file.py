"""The BERT vocab file: special-token layout, assembly to an exact size, writing.

BERT's released vocabs start with `[PAD]`, 99 `[unused]` slots (room for
task-specific tokens without resizing the embedding table), then `[UNK]`,
`[CLS]`, `[SEP]`, `[MASK]` — so `[UNK]`=100 ... `[MASK]`=103. Checkpoints,
fine-tuning code and converted models hard-code these ids, so every vocab
this project writes keeps them.

A vocab file is one token per line, "\\n" after every line (the reference
`load_vocab` strips each line, so a missing final newline would still load,
but the bytes — and so the hash recorded in metadata — would differ).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "SPECIAL_TOKENS",
    "assemble_vocab",
    "minimum_vocab_size",
    "special_layout",
    "unused_token",
    "vocab_bytes",
    "vocab_sha256",
    "write_vocab",
]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def unused_token(index: int) -> str:
    return f"[unused{index}]"


def special_layout(num_unused: int = 99) -> list[str]:
    """[PAD], [unused0]..[unused{n-1}], [UNK], [CLS], [SEP], [MASK] (BERT's ids for n=99)."""
    if num_unused < 0:
        raise ValueError(f"num_unused must be >= 0, got {num_unused}")
    return ["[PAD]", *(unused_token(i) for i in range(num_unused)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def minimum_vocab_size(num_required: int = 0, num_unused: int = 99) -> int:
    """Lines taken by the special layout plus `num_required` pieces."""
    return num_unused + len(SPECIAL_TOKENS) + num_required


def _check_piece(piece: str) -> None:
    # The reference tokenizer splits on whitespace and strips lines, so such a
    # piece could never match; "##" alone would match an empty continuation.
    if not isinstance(piece, str) or not piece or piece == "##":
        raise ValueError(f"invalid vocab piece {piece!r}: empty")
    if piece != piece.strip() or any(ch.isspace() for ch in piece):
        raise ValueError(f"invalid vocab piece {piece!r}: contains whitespace")


def assemble_vocab(
    pieces: Sequence[str],
    vocab_size: int,
    num_unused: int = 99,
    *,
    required: Sequence[str] = (),
) -> list[str]:
    """The full vocab: special layout, then `required`, then `pieces` in order,
    exactly `vocab_size` lines.

    `pieces` are ranked (best first) and truncated to fit; `required` pieces
    (e.g. the alphabet, without which words become [UNK]) must all fit, else
    ValueError names the minimum size. Repeats — and pieces equal to a special
    token — are dropped, keeping the first occurrence. When there are too few
    pieces (a tiny corpus), the rest is filled with further `[unusedN]` slots,
    N counting on from `num_unused`, so the embedding table still has
    `vocab_size` rows and every id is a valid token.
    """
    layout = special_layout(num_unused)
    seen = set(layout)
    needed: list[str] = []
    for piece in required:
        _check_piece(piece)
        if piece not in seen:
            seen.add(piece)
            needed.append(piece)
    minimum = len(layout) + len(needed)
    if vocab_size < minimum:
        raise ValueError(
            f"vocab_size {vocab_size} is too small: the special tokens ({len(layout)} with "
            f"num_unused={num_unused}) and {len(needed)} required pieces (the alphabet and its "
            f"'##' forms) need at least {minimum} lines; use vocab_size >= {minimum}"
        )
    vocab = layout + needed
    for piece in pieces:
        if len(vocab) >= vocab_size:
            break
        _check_piece(piece)
        if piece not in seen:
            seen.add(piece)
            vocab.append(piece)
    index = num_unused
    while len(vocab) < vocab_size:
        token = unused_token(index)
        index += 1
        if token not in seen:
            vocab.append(token)
    return vocab


def vocab_bytes(tokens: Iterable[str]) -> bytes:
    return "".join(f"{token}\n" for token in tokens).encode("utf-8")


def vocab_sha256(tokens: Iterable[str]) -> str:
    """SHA-256 (hex) of the vocab file bytes `write_vocab` writes."""
    return hashlib.sha256(vocab_bytes(tokens)).hexdigest()


def write_vocab(tokens: Sequence[str], path: str) -> str:
    """Writes one token per line via tf.io.gfile (local or gs://); returns the SHA-256."""
    import tensorflow as tf  # here, not at the top: learning a vocab needs no TF

    data = vocab_bytes(tokens)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)
    return hashlib.sha256(data).hexdigest()
