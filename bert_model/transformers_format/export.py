"""One of our checkpoints as a Hugging Face transformers folder: config.json, model.safetensors and the
tokenizer files, which `AutoModel`, `AutoTokenizer` and the task's class load.

The transformers class follows from the checkpoint's variables: a SQuAD span head makes
BertForQuestionAnswering, a classifier head (top-level `output_weights`) BertForSequenceClassification with
the labels that the fine-tuning folder's labels.json records, the masked-LM and next-sentence heads of a
`bertprep pretrain` output BertForPreTraining, and an encoder alone BertModel. The folder is written whole or
not at all: into a work folder beside it, renamed into place when complete.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import uuid
from collections.abc import Iterable, Mapping

import numpy as np
import tensorflow as tf
from safetensors.numpy import save as safetensors_bytes

from bert_model.checkpoints import CheckpointArrays, reference_checkpoint
from bert_model.classification.labels import TaskLabels, read_labels
from bert_model.config import CONFIG_FILE as BERT_CONFIG_FILE
from bert_model.config import BertConfig
from bert_model.squad.model import OUTPUT_WEIGHTS as SPAN_WEIGHTS
from bert_model.transformers_format.config import transformers_config
from bert_model.transformers_format.folder import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE
from bert_model.transformers_format.tokenizer_files import TOKENIZER_FILES, write_tokenizer_files
from bert_model.transformers_format.weights import transformers_tensors
from vocab.tokenization import load_vocab

_log = logging.getLogger(__name__)

EXPORT_FILES = (CONFIG_FILE, WEIGHTS_FILE, *TOKENIZER_FILES)
WORK_PREFIX = ".bertprep-export-"
# The classifier's weights are at the top of the checkpoint, unscoped, as run_classifier.py names them.
CLASSIFIER_WEIGHTS = "output_weights"
# A head variable that only checkpoints of this transformers class hold, the most specific first.
_HEAD_MARKERS = ((SPAN_WEIGHTS, "BertForQuestionAnswering"),
                 (CLASSIFIER_WEIGHTS, "BertForSequenceClassification"),
                 ("cls/seq_relationship/output_weights", "BertForPreTraining"),
                 ("cls/predictions/transform/dense/kernel", "BertForMaskedLM"))
REGRESSION, SINGLE_LABEL = "regression", "single_label_classification"


class ExportError(ValueError):
    """An export that cannot work; the message says what to give or change."""


@dataclasses.dataclass(frozen=True)
class ExportReport:
    output_dir: str
    checkpoint: str  # the prefix that was read
    architecture: str
    tensors: int
    do_lower_case: bool
    labels: tuple[str, ...] = ()  # a classifier's id2label in order
    problem_type: str | None = None


def checkpoint_architecture(names: Iterable[str]) -> str:
    """The transformers class of a checkpoint with these variable names."""
    present = set(names)
    return next((architecture for marker, architecture in _HEAD_MARKERS if marker in present), "BertModel")


def _folder_of(checkpoint: str, prefix: str) -> str:
    return checkpoint.rstrip("/") if tf.io.gfile.isdir(checkpoint) else posixpath.dirname(prefix)


def _bert_config(folder: str) -> BertConfig:
    path = posixpath.join(folder, BERT_CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise ExportError(f"no {BERT_CONFIG_FILE} beside the checkpoint in {folder}: give the model's config as "
                          "--bert_config_file")
    return BertConfig.from_json_file(path)


def _classifier_labels(recorded: TaskLabels | None, num_outputs: int) -> tuple[tuple[str, ...], str]:
    """(id2label in order, problem_type) of a classifier head with `num_outputs` outputs."""
    if recorded is None:
        _log.warning("the checkpoint's folder has no labels.json: labels exported as LABEL_0..LABEL_%d",
                     num_outputs - 1)
        names = tuple(f"LABEL_{index}" for index in range(num_outputs))
        return names, REGRESSION if num_outputs == 1 else SINGLE_LABEL
    if (len(recorded.labels) or 1) != num_outputs:
        raise ExportError(f"labels.json lists {len(recorded.labels)} labels of task {recorded.task} but the "
                          f"checkpoint's classifier has {num_outputs} outputs: is it the folder's own checkpoint?")
    if recorded.is_regression:
        return ("LABEL_0",), REGRESSION
    return recorded.labels, SINGLE_LABEL


def _vocab(folder: str, vocab_file: str | None, config: BertConfig) -> dict[str, int]:
    path = vocab_file or posixpath.join(folder, VOCAB_FILE)
    if not vocab_file and not tf.io.gfile.exists(path):
        raise ExportError(f"no {VOCAB_FILE} beside the checkpoint in {folder}: give the model's vocab as --vocab_file")
    vocab = load_vocab(path)
    if len(vocab) > config.vocab_size:
        raise ExportError(f"{path} has {len(vocab)} tokens but the model's vocab_size is {config.vocab_size}: "
                          "give the vocab the model was trained with")
    return vocab


def _check_shapes(arrays: CheckpointArrays, config: BertConfig) -> None:
    """ExportError unless the checkpoint's embeddings, layers and feed-forward fit `config` (transformers would
    refuse the folder otherwise)."""
    shape, prefix, hidden = arrays.shapes, arrays.location, config.hidden_size
    expected = {"bert/embeddings/word_embeddings": [config.vocab_size, hidden],
                "bert/embeddings/position_embeddings": [config.max_position_embeddings, hidden],
                "bert/embeddings/token_type_embeddings": [config.type_vocab_size, hidden],
                "bert/encoder/layer_0/intermediate/dense/kernel": [hidden, config.intermediate_size],
                f"bert/encoder/layer_{config.num_hidden_layers - 1}/output/dense/kernel": [config.intermediate_size,
                                                                                           hidden]}
    for name, dims in expected.items():
        if list(shape.get(name, [])) != dims:
            raise ExportError(f"{prefix}: {name} has shape {list(shape.get(name, []))} where the config gives "
                              f"{dims}: give the bert_config.json the checkpoint was trained with")
    if f"bert/encoder/layer_{config.num_hidden_layers}/output/dense/kernel" in shape:
        raise ExportError(f"{prefix} has more than the config's {config.num_hidden_layers} layers: give the "
                          "bert_config.json the checkpoint was trained with")


def _replaceable(output_dir: str) -> bool:
    """Whether `output_dir` is absent, empty, or an earlier export (only files an export writes)."""
    if not tf.io.gfile.exists(output_dir):
        return True
    return tf.io.gfile.isdir(output_dir) and set(tf.io.gfile.listdir(output_dir)) <= set(EXPORT_FILES)


def _publish(work: str, output_dir: str) -> None:
    """Renames the complete `work` folder to `output_dir`, replacing an earlier export there (which is put back
    if the rename fails)."""
    if not tf.io.gfile.exists(output_dir):
        tf.io.gfile.rename(work, output_dir)
        return
    earlier = f"{work}-replaced"
    tf.io.gfile.rename(output_dir, earlier)
    try:
        tf.io.gfile.rename(work, output_dir)
    except BaseException:
        tf.io.gfile.rename(earlier, output_dir)
        raise
    tf.io.gfile.rmtree(earlier)


def _write_folder(output_dir: str, config: dict, tensors: Mapping[str, np.ndarray], vocab: Mapping[str, int],
                  do_lower_case: bool, model_max_length: int) -> None:
    """Writes EXPORT_FILES into a work folder beside `output_dir`, then renames it into place."""
    if not _replaceable(output_dir):
        raise ExportError(f"{output_dir} exists and holds other files than an export's: remove it or choose "
                          "another --output_dir")
    parent = posixpath.dirname(output_dir.rstrip("/")) or "."
    work = posixpath.join(parent, f"{WORK_PREFIX}{uuid.uuid4().hex}")
    tf.io.gfile.makedirs(work)
    try:
        with tf.io.gfile.GFile(posixpath.join(work, CONFIG_FILE), "w") as handle:
            handle.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
        with tf.io.gfile.GFile(posixpath.join(work, WEIGHTS_FILE), "wb") as handle:
            handle.write(safetensors_bytes(arrays, metadata={"format": "pt"}))
        write_tokenizer_files(work, vocab, do_lower_case, model_max_length)
        _publish(work, output_dir)
    finally:
        if tf.io.gfile.exists(work):
            tf.io.gfile.rmtree(work)


def export_transformers(checkpoint: str, output_dir: str, *, vocab_file: str | None = None,
                        do_lower_case: bool | None = None, config: BertConfig | None = None,
                        labels: TaskLabels | None = None) -> ExportReport:
    """Writes `checkpoint` (a prefix, or a `bertprep pretrain` / `finetune` OUTPUT_DIR) as a transformers folder
    at `output_dir`.

    The config and vocab default to bert_config.json and vocab.txt beside the checkpoint; a classifier's labels
    and casing to `labels`, else the folder's labels.json; `do_lower_case` to the labels' casing, and without
    labels it must be given.
    Raises ExportError (or the CheckpointError, ConfigError, VocabError of what it reads) before writing
    anything when a part is missing or does not fit.
    """
    arrays = reference_checkpoint(checkpoint)
    prefix, folder = arrays.location, _folder_of(checkpoint, arrays.location)
    config = config or _bert_config(folder)
    _check_shapes(arrays, config)
    architecture = checkpoint_architecture(arrays.shapes)
    id2label, problem_type = (), None
    if architecture == "BertForSequenceClassification":
        labels = labels or read_labels(folder)
        id2label, problem_type = _classifier_labels(labels, arrays.shapes[CLASSIFIER_WEIGHTS][0])
    vocab = _vocab(folder, vocab_file, config)
    if do_lower_case is None:
        if labels is None:  # a wrong guess would tokenize every input differently from training, silently
            raise ExportError(f"nothing in {folder} records whether the model's tokenizer lower-cases: give "
                              "--do_lower_case (uncased) or --nodo_lower_case (cased)")
        do_lower_case = labels.do_lower_case
    tensors = transformers_tensors(arrays, architecture)
    hf_config = transformers_config(config, architecture, dict(enumerate(id2label)) if id2label else None,
                                    problem_type)
    _write_folder(output_dir, hf_config, tensors, vocab, do_lower_case, config.max_position_embeddings)
    _log.info("exported %s as %s to %s", prefix, architecture, output_dir)
    return ExportReport(output_dir, prefix, architecture, len(tensors), do_lower_case, id2label, problem_type)
