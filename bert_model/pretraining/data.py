"""The data of a pretraining run: the vocab it was made with (its size, its dynamic masking), and its files
at the run's lengths, checked against the model before training, read as datasets, and the damaged file
named when reading fails."""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import tensorflow as tf

from bert_model.config import BertConfig
from bert_model.input_pipeline import DynamicMasking, PretrainingDataError
from bert_model.pretraining.files import PretrainingFiles, check_files, damaged_file, files_dataset, open_files
from vocab.tokenization import parse_vocab


class RunData:
    """The lengths and vocabulary a run reads its data with (`max_seq_length`, `max_predictions_per_seq`:
    the options' where given, else those of the training data `files`)."""

    def __init__(self, files: PretrainingFiles, config: BertConfig, max_seq_length: int | None,
                 max_predictions_per_seq: int | None, next_sentence: bool) -> None:
        self.files, self.config, self.next_sentence = files, config, next_sentence
        self.max_seq_length, self.max_predictions_per_seq = files.lengths(max_seq_length, max_predictions_per_seq)

    def check(self, data: str | PretrainingFiles) -> PretrainingFiles:
        """The files of `data` (a location, or files already opened); raises PretrainingDataError, naming
        both values, if they do not fit this run."""
        files = open_files(data) if isinstance(data, str) else data
        if self.max_seq_length > self.config.max_position_embeddings:
            raise PretrainingDataError(
                f"{files.location}: max_seq_length is {self.max_seq_length} but the model's "
                f"max_position_embeddings is {self.config.max_position_embeddings}")
        check_files(files, self.max_seq_length, self.max_predictions_per_seq, self.config.vocab_size,
                    self.next_sentence)
        return files

    def dataset(self, files: PretrainingFiles, batch_size: int, *, is_training: bool, seed: int | None = None,
                input_context: tf.distribute.InputContext | None = None,
                dynamic_masking: DynamicMasking | None = None) -> tf.data.Dataset:
        """`files_dataset` of `files` at this run's lengths and vocab_size."""
        return files_dataset(files, batch_size, self.max_seq_length, self.max_predictions_per_seq,
                             self.config.vocab_size, is_training, seed=seed, input_context=input_context,
                             dynamic_masking=dynamic_masking)

    @contextlib.contextmanager
    def damage_named(self, files: PretrainingFiles) -> Iterator[None]:
        """Turns a data error raised inside while reading `files` into PretrainingDataError naming the
        damaged file; an error whose files are all sound (not the data's) passes unchanged."""
        try:
            yield
        except tf.errors.OpError as error:
            failure = self._failure(files, error)
            if failure is None:
                raise
            raise failure from None

    def _failure(self, files: PretrainingFiles, error: tf.errors.OpError) -> PretrainingDataError | None:
        if not isinstance(error, (tf.errors.DataLossError, tf.errors.InvalidArgumentError)):
            return None
        problem = damaged_file(files, self.max_seq_length, self.max_predictions_per_seq, self.config.vocab_size)
        return PretrainingDataError(f"{problem}; remove or regenerate that file") if problem else None


def data_vocab_size(files: PretrainingFiles, vocab_file: str | None, config_name: str) -> int:
    """The vocab_size of the model name `config_name` for `files`: their metadata's, else the size of
    `vocab_file`, the vocab they were made with."""
    if files.metadata is not None:
        return files.metadata.vocab_size
    if not vocab_file:
        raise PretrainingDataError(
            f"--bert_config_file {config_name} takes its vocab_size from the data, and {files.location} has no "
            "metadata.json: give the vocab the data was made with as --vocab_file, or a bert_config.json")
    with tf.io.gfile.GFile(vocab_file, "rb") as handle:
        return len(parse_vocab(handle.read(), vocab_file))


def dynamic_masking_for(files: PretrainingFiles, vocab_file: str | None) -> DynamicMasking:
    """The dynamic masking of `files`, from the vocab they were made with: `vocab_file`, by default their
    metadata's (its SHA-256 is checked where metadata.json records it), and their masked_lm_prob."""
    metadata = files.metadata
    path = vocab_file or (metadata.vocab_file if metadata else None)
    if not path:
        raise PretrainingDataError(f"--dynamic_masking needs the data's vocab and {files.location} has no "
                                   "metadata.json naming it: give --vocab_file")
    if not tf.io.gfile.exists(path):
        raise PretrainingDataError(f"--dynamic_masking needs the data's vocab; {path} does not exist: give "
                                   "--vocab_file")
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    if metadata and metadata.vocab_sha256 and hashlib.sha256(data).hexdigest() != metadata.vocab_sha256:
        raise PretrainingDataError(f"{path} is not the vocab {files.location} was made with (its SHA-256 differs "
                                   "from metadata.json's vocab_sha256): give that vocab as --vocab_file")
    return DynamicMasking.from_vocab(parse_vocab(data, path), metadata.masked_lm_prob if metadata else 0.15)
