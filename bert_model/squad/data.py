"""SQuAD 1.1 / 2.0 JSON to BERT features, exactly as the reference run_squad.py makes them.

Reading splits each context on whitespace (space, tab, CR, LF and U+202F,
the reference's set) into words and maps every answer's character offset to
a word. Conversion WordPiece-tokenizes the words, keeping which word each
piece came from, and cuts contexts longer than the sequence into windows
`doc_stride` pieces apart; a piece that falls in several windows is scored
only in the window where it has the most context on its shorter side
(`token_is_max_context`). Training answers get start/end positions within
the window, 0 (the [CLS] position) when the answer is impossible or outside
the window.

Bad input: malformed JSON, an empty file or a missing field raise
SquadFormatError naming the file (and line and column, or the question);
a training answer whose text is not where its offset says is skipped and
counted, as the reference skips it with "Could not find answer".
"""
from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from vocab.tokenization import FullTokenizer

_log = logging.getLogger(__name__)

# The reference numbers features from here, so unique ids never collide with example indexes.
FIRST_UNIQUE_ID = 1000000000
# Words are runs of anything but these (run_squad.py's is_whitespace); other Unicode
# spaces stay inside words, as there.
_WORD = re.compile("[^ \t\r\n\u202f]+")


class SquadFormatError(ValueError):
    """A file that is not usable SQuAD JSON; the message names the file and where in it."""


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question on its paragraph. `doc_tokens` are the context's whitespace words
    (shared by all questions of a paragraph); start/end are word indexes of the
    answer, -1 for impossible questions, None outside training."""

    qas_id: str
    question_text: str
    doc_tokens: Sequence[str]
    orig_answer_text: str | None = None
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


@dataclasses.dataclass
class ReadStats:
    """What reading a file did with its questions: questions = examples + skipped."""

    questions: int = 0
    examples: int = 0
    impossible: int = 0
    # Answers whose text is not at their answer_start (or which lie outside the context).
    skipped_answer_mismatch: int = 0
    skipped_ids: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SquadFeature:
    """One window of one example, with the reference InputFeatures' fields.

    `token_to_orig_map` maps a position in `tokens` to the word of the
    example's `doc_tokens` it came from (context positions only);
    `token_is_max_context` says, per context position, whether this window is
    the one whose predictions count for it.
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: list[str]
    token_to_orig_map: dict[int, int]
    token_is_max_context: dict[int, bool]
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


# ------------------------------------------------------------------ reading


def load_squad_json(path: str) -> list[dict[str, Any]]:
    """The `data` list (articles) of a SQuAD file; SquadFormatError if it is empty or not SQuAD JSON."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        raw = handle.read()
    if not raw.strip():
        raise SquadFormatError(f"{path} is empty; expected SQuAD JSON ({{\"version\": ..., \"data\": [...]}})")
    try:
        parsed = json.loads(raw)
    except UnicodeDecodeError as error:
        raise SquadFormatError(f"{path}: not UTF-8 at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise SquadFormatError(f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
        raise SquadFormatError(f"{path}: not a SQuAD file: expected a JSON object with a \"data\" list of articles")
    return parsed["data"]


def _field(record: Any, key: str, kind: type | tuple[type, ...], path: str, where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise SquadFormatError(f"{path}: {where}: missing \"{key}\"")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise SquadFormatError(f"{path}: {where}: \"{key}\" is {type(value).__name__}, not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))


def split_context(context: str) -> tuple[list[str], list[int]]:
    """The context's whitespace words and each word's first character offset."""
    matches = list(_WORD.finditer(context))
    return [match.group() for match in matches], [match.start() for match in matches]


def word_at(word_starts: Sequence[int], offset: int) -> int:
    """The word a character offset falls in; whitespace belongs to the word before it (-1 before the first)."""
    return bisect.bisect_right(word_starts, offset) - 1


def iter_questions(articles: Sequence[Any], path: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(context, question record, where) for every question, checking the structure on the way."""
    for article_index, article in enumerate(articles):
        title = article.get("title", "") if isinstance(article, dict) else ""
        where = f"article {article_index} ({title!r})" if title else f"article {article_index}"
        for paragraph_index, paragraph in enumerate(_field(article, "paragraphs", list, path, where)):
            paragraph_where = f"{where}, paragraph {paragraph_index}"
            context = _field(paragraph, "context", str, path, paragraph_where)
            for question_index, qa in enumerate(_field(paragraph, "qas", list, path, paragraph_where)):
                qa_where = f"{paragraph_where}, question {question_index}"
                qas_id = _field(qa, "id", (str, int), path, qa_where)
                _field(qa, "question", str, path, f"{qa_where} (id {qas_id})")
                yield context, qa, f"{qa_where} (id {qas_id})"


def read_squad_examples(path: str, is_training: bool, version_2_with_negative: bool = False,
                        articles: Sequence[Any] | None = None) -> tuple[list[SquadExample], ReadStats]:
    """The examples of a SQuAD file, as the reference's read_squad_examples, and what was skipped.

    Answers are read only for training (prediction needs none). In training
    each answerable question must have exactly one answer (SquadFormatError
    otherwise, as the reference refuses it); with `version_2_with_negative`,
    `is_impossible` questions train towards [CLS]. `articles` is the file's
    `load_squad_json`, for a caller that has it already.
    """
    stats = ReadStats()
    examples: list[SquadExample] = []
    words: list[str] = []
    word_starts: list[int] = []
    last_context = None
    for context, qa, where in iter_questions(load_squad_json(path) if articles is None else articles, path):
        if context is not last_context:  # questions of a paragraph share its words
            words, word_starts = split_context(context)
            last_context = context
        stats.questions += 1
        example = SquadExample(str(qa["id"]), qa["question"], words)
        if is_training:
            example = _training_example(example, qa, context, word_starts, version_2_with_negative, path, where)
            if example is None:
                stats.skipped_answer_mismatch += 1
                stats.skipped_ids.append(str(qa["id"]))
                continue
            stats.impossible += example.is_impossible
        examples.append(example)
    stats.examples = len(examples)
    if not stats.questions:
        raise SquadFormatError(f"{path} holds no questions")
    if stats.skipped_answer_mismatch:
        _log.warning("%s: skipped %d of %d questions whose answer text is not at its answer_start",
                     path, stats.skipped_answer_mismatch, stats.questions)
    return examples, stats


def _training_example(example: SquadExample, qa: dict[str, Any], context: str, word_starts: Sequence[int],
                      version_2_with_negative: bool, path: str, where: str) -> SquadExample | None:
    """`example` with its answer's word span, or None when the answer does not match the context."""
    is_impossible = version_2_with_negative and bool(qa.get("is_impossible", False))
    if is_impossible:
        return dataclasses.replace(example, orig_answer_text="", start_position=-1, end_position=-1,
                                   is_impossible=True)
    answers = _field(qa, "answers", list, path, where)
    if len(answers) != 1:
        hint = (" (it is marked is_impossible: pass --version_2_with_negative for SQuAD 2.0)"
                if qa.get("is_impossible") and not version_2_with_negative else "")
        raise SquadFormatError(
            f"{path}: {where}: for training each answerable question needs exactly 1 answer, "
            f"it has {len(answers)}{hint}")
    text = _field(answers[0], "text", str, path, f"{where}, answer 0")
    offset = _field(answers[0], "answer_start", int, path, f"{where}, answer 0")
    if not text.strip() or offset < 0 or offset + len(text) > len(context):
        _log.warning("%s: %s: answer %r at %d lies outside the context", path, where, text, offset)
        return None
    start, end = word_at(word_starts, offset), word_at(word_starts, offset + len(text) - 1)
    # The answer must be recoverable from whole words (it may sit inside one, e.g. "Japan" in "Japanese").
    found = " ".join(example.doc_tokens[start:end + 1]) if start >= 0 else ""
    wanted = " ".join(text.split())
    if wanted not in found:
        _log.warning("%s: %s: could not find answer %r in %r", path, where, wanted, found)
        return None
    return dataclasses.replace(example, orig_answer_text=text, start_position=start, end_position=end)


# --------------------------------------------------------------- features


@dataclasses.dataclass(frozen=True)
class _Tokenized:
    """A context's WordPiece tokens and the word each came from (and each word's first token)."""

    tokens: list[str]
    token_to_word: list[int]
    word_to_first_token: list[int]


def _tokenize_words(words: Sequence[str], tokenizer: FullTokenizer) -> _Tokenized:
    tokens: list[str] = []
    token_to_word: list[int] = []
    word_to_first_token: list[int] = []
    for index, pieces in enumerate(tokenizer.tokenize_batch(words)):
        word_to_first_token.append(len(tokens))
        tokens.extend(pieces)
        token_to_word.extend([index] * len(pieces))
    return _Tokenized(tokens, token_to_word, word_to_first_token)


def doc_spans(num_tokens: int, max_tokens: int, doc_stride: int) -> list[tuple[int, int]]:
    """(start, length) windows over `num_tokens` tokens: each at most `max_tokens` long,
    each starting `doc_stride` after the previous one (or right after it, if shorter),
    the last one reaching the end."""
    spans = []
    start = 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def max_context_windows(spans: Sequence[tuple[int, int]], num_tokens: int) -> list[int]:
    """For each token, the window in which it has the most context: the largest
    min(left, right) context, plus 0.01 per window token to prefer longer
    windows; the first window wins a tie."""
    best_window = [-1] * num_tokens
    best_score = [-1.0] * num_tokens
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        for position in range(start, end + 1):
            score = min(position - start, end - position) + 0.01 * length
            if score > best_score[position]:
                best_score[position], best_window[position] = score, index
    return best_window


def improve_answer_span(doc_tokens: Sequence[str], start: int, end: int, tokenizer: FullTokenizer,
                        answer_text: str) -> tuple[int, int]:
    """The tightest token span in [start, end] whose tokens spell the tokenized answer
    ("1895" inside "(1895-1943)."), else (start, end): word-level spans may hold more than the answer."""
    wanted = " ".join(tokenizer.tokenize(answer_text))
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:new_end + 1]) == wanted:
                return new_start, new_end
    return start, end


def check_lengths(max_seq_length: int, doc_stride: int, max_query_length: int) -> None:
    """ValueError, saying what to change, for lengths that leave no room for the context."""
    if max_seq_length <= max_query_length + 3:
        raise ValueError(f"max_seq_length ({max_seq_length}) must be greater than max_query_length "
                         f"({max_query_length}) + 3, for [CLS] and two [SEP] around question and context")
    if doc_stride < 1:
        raise ValueError(f"doc_stride must be at least 1, got {doc_stride}")


def convert_examples_to_features(examples: Iterable[SquadExample], tokenizer: FullTokenizer,
                                 max_seq_length: int, doc_stride: int, max_query_length: int,
                                 is_training: bool) -> Iterator[SquadFeature]:
    """The reference's convert_examples_to_features, as a generator: one feature per window,
    `[CLS] question [SEP] window [SEP]` padded to max_seq_length, unique ids from FIRST_UNIQUE_ID."""
    check_lengths(max_seq_length, doc_stride, max_query_length)
    unique_id = FIRST_UNIQUE_ID
    tokenized: _Tokenized | None = None
    last_words = None
    for example_index, example in enumerate(examples):
        if example.doc_tokens is not last_words:
            tokenized, last_words = _tokenize_words(example.doc_tokens, tokenizer), example.doc_tokens
        query = tokenizer.tokenize(example.question_text)[:max_query_length]
        answer = _answer_tokens(example, tokenized, tokenizer) if is_training else None
        spans = doc_spans(len(tokenized.tokens), max_seq_length - len(query) - 3, doc_stride)
        best_window = max_context_windows(spans, len(tokenized.tokens))
        doc_offset = len(query) + 2
        for span_index, (span_start, span_length) in enumerate(spans):
            positions = range(span_start, span_start + span_length)
            tokens = ["[CLS]", *query, "[SEP]", *tokenized.tokens[span_start:span_start + span_length], "[SEP]"]
            segment_ids = [0] * doc_offset + [1] * (span_length + 1)
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            padding = [0] * (max_seq_length - len(tokens))
            start_position = end_position = None
            if answer is not None:
                start_position, end_position = _window_positions(answer, span_start, span_length, doc_offset)
            yield SquadFeature(
                unique_id=unique_id,
                example_index=example_index,
                doc_span_index=span_index,
                tokens=tokens,
                token_to_orig_map={doc_offset + i: tokenized.token_to_word[p] for i, p in enumerate(positions)},
                token_is_max_context={doc_offset + i: best_window[p] == span_index for i, p in enumerate(positions)},
                input_ids=input_ids + padding,
                input_mask=[1] * len(tokens) + padding,
                segment_ids=segment_ids + padding,
                start_position=start_position,
                end_position=end_position,
                is_impossible=example.is_impossible,
            )
            unique_id += 1


def _answer_tokens(example: SquadExample, tokenized: _Tokenized, tokenizer: FullTokenizer) -> tuple[int, int]:
    """The answer's first and last context token; (-1, -1) for an impossible question."""
    if example.is_impossible:
        return -1, -1
    first_token = tokenized.word_to_first_token
    start = first_token[example.start_position]
    end = (first_token[example.end_position + 1] - 1 if example.end_position + 1 < len(first_token)
           else len(tokenized.tokens) - 1)
    return improve_answer_span(tokenized.tokens, start, end, tokenizer, example.orig_answer_text)


def _window_positions(answer: tuple[int, int], span_start: int, span_length: int,
                      doc_offset: int) -> tuple[int, int]:
    """The answer's positions in the window's sequence; (0, 0) ([CLS]) if impossible or not all inside."""
    start, end = answer
    if start < 0 or start < span_start or end > span_start + span_length - 1:
        return 0, 0
    return start - span_start + doc_offset, end - span_start + doc_offset


# ---------------------------------------------------------------- records


def feature_arrays(features: Sequence[SquadFeature], is_training: bool) -> dict[str, np.ndarray]:
    """The features as the columns of the reference FeatureWriter's records: unique_ids, input_ids,
    input_mask, segment_ids and, for training, start_positions, end_positions, is_impossible
    (scalars as [n, 1]), ready for `finetuning.write_records`."""
    columns = {
        "unique_ids": np.array([[f.unique_id] for f in features], np.int64).reshape(-1, 1),
        **{name: np.array([getattr(f, name) for f in features], np.int32).reshape(len(features), -1)
           for name in ("input_ids", "input_mask", "segment_ids")},
    }
    if is_training:
        columns["start_positions"] = np.array([f.start_position for f in features], np.int32).reshape(-1, 1)
        columns["end_positions"] = np.array([f.end_position for f in features], np.int32).reshape(-1, 1)
        columns["is_impossible"] = np.array([f.is_impossible for f in features], np.int32).reshape(-1, 1)
    return columns
