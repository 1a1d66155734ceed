"""Masked-LM-only sequences (no next-sentence pairs): consecutive sentences packed to the full length, across
the documents of a range (RoBERTa's FULL-SENTENCES)."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pipelines.pretraining.instance_batch import InstanceBatch
from pipelines.pretraining.instances import TokenizedDocument, instance_seeds, stable_int
from pipelines.pretraining.options import PretrainingDataOptions


def pack_range(documents: list[TokenizedDocument], options: PretrainingDataOptions, sep: int,
               batches: dict[int, InstanceBatch]) -> None:
    """Every length's packed sequences of a range's documents (in rank order), every round, into `batches`."""
    for length in options.lengths:
        size, room = length.max_seq_length, length.max_num_tokens
        sequences = list(pack_sequences(documents, room, sep))
        for round_index in range(options.dupe_factor):
            for index, (first_id, content, content_starts) in enumerate(sequences):
                round_seed = stable_int(options.seed, "packed", first_id, size, round_index)
                batches[size].add_packed(int(instance_seeds(round_seed, 1, index)[0]), content, content_starts)


def pack_sequences(documents: list[TokenizedDocument], room: int, sep: int
                   ) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """(first document id, tokens, word starts) of sequences of whole sentences up to `room` tokens.

    A [SEP] separates documents inside a sequence; a sentence longer than
    `room` is cut into pieces of `room` tokens.
    """
    pieces: list[tuple[np.ndarray, np.ndarray | None]] = []
    used, first_id = 0, None
    for document in documents:
        for index in range(document.num_sentences):
            span = slice(document.offsets[index], document.offsets[index + 1])
            sentence = document.tokens[span]
            starts = None if document.word_starts is None else document.word_starts[span]
            for cut in range(0, len(sentence), room):
                piece = sentence[cut:cut + room]
                piece_starts = None if starts is None else starts[cut:cut + room]
                separator = 1 if used and index == 0 and cut == 0 else 0
                if used and used + separator + len(piece) > room:
                    yield _joined(first_id, pieces)
                    pieces, used, separator = [], 0, 0
                if separator:
                    pieces.append((np.array([sep], dtype=np.int32), None if starts is None else np.ones(1, bool)))
                if not used:
                    first_id = document.id
                pieces.append((piece, piece_starts))
                used += separator + len(piece)
    if pieces:
        yield _joined(first_id, pieces)


def _joined(first_id: str, pieces: list[tuple[np.ndarray, np.ndarray | None]]
            ) -> tuple[str, np.ndarray, np.ndarray | None]:
    tokens = np.concatenate([tokens for tokens, _ in pieces])
    starts = None if pieces[0][1] is None else np.concatenate([starts for _, starts in pieces])
    return first_id, tokens, starts
