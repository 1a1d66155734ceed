"""What --init_checkpoint names: a reference-layout checkpoint (a prefix, or a folder holding one) or a
transformers BERT folder (config.json + model.safetensors). Both load as reference-named weights through
`checkpoints.assign_checkpoint`, with the same shape checks and report; a transformers folder also supplies the
config, vocab.txt and casing where the command's flags leave them out."""
from __future__ import annotations

import posixpath
from collections.abc import Callable

import tensorflow as tf

from bert_model.checkpoints import (
    CheckpointArrays,
    CheckpointError,
    LoadReport,
    assign_checkpoint,
    reference_checkpoint,
)
from bert_model.config import BertConfig, ConfigError, config_differences, load_config
from bert_model.modeling import BertModel, BertPretrainer
from bert_model.transformers_format.folder import (
    CONFIG_FILE,
    TransformersSettings,
    is_transformers_folder,
    read_transformers_folder,
    read_transformers_settings,
)


def open_init_checkpoint(path: str) -> CheckpointArrays:
    """The weights `path` names: a transformers folder's, else a reference checkpoint's (`reference_checkpoint`)."""
    if is_transformers_folder(path):
        model = read_transformers_folder(path)
        return CheckpointArrays.from_arrays(path, model.arrays, model.config)
    if tf.io.gfile.exists(posixpath.join(path, CONFIG_FILE)) and not tf.io.gfile.glob(posixpath.join(path, "*.index")):
        raise CheckpointError(f"{path} has a {CONFIG_FILE} but no model.safetensors: transformers weights are read "
                              "from safetensors only (save_pretrained writes them by default)")
    return reference_checkpoint(path)


def load_init_checkpoint(model: BertModel | BertPretrainer, path: str) -> LoadReport:
    """Assigns the weights `path` names to `model` (`checkpoints.assign_checkpoint`)."""
    return assign_checkpoint(model, open_init_checkpoint(path))


def init_folder(init_checkpoint: str | None) -> TransformersSettings | None:
    """The config, vocab and casing of a transformers folder given as --init_checkpoint; None for anything else."""
    if init_checkpoint and is_transformers_folder(init_checkpoint):
        return read_transformers_settings(init_checkpoint)
    return None


def model_config(config_file: str | None, folder: TransformersSettings | None,
                 vocab_size: Callable[[], int]) -> BertConfig:
    """--bert_config_file's config (`config.load_config`), or without one the transformers folder's. ConfigError
    when neither is given, or when both are and differ (naming the fields)."""
    if config_file is None:
        if folder is None:
            raise ConfigError("give --bert_config_file, or a transformers model folder as --init_checkpoint")
        return folder.config
    config = load_config(config_file, vocab_size)
    differences = config_differences(config, folder.config) if folder else []
    if differences:
        raise ConfigError(f"--bert_config_file {config_file} differs from the --init_checkpoint folder's "
                          f"{CONFIG_FILE} ({', '.join(differences)}): leave --bert_config_file out to use the folder's")
    return config


def vocab_file(given: str | None, folder: TransformersSettings | None) -> str:
    """--vocab_file, else the transformers folder's vocab.txt; ConfigError when there is neither."""
    if given:
        return given
    if folder and folder.vocab_file:
        return folder.vocab_file
    raise ConfigError("give --vocab_file (a transformers folder as --init_checkpoint supplies its vocab.txt)")


def lower_case(given: bool | None, folder: TransformersSettings | None) -> bool:
    """--do_lower_case when given, else the transformers folder's tokenizer_config.json, else true (uncased)."""
    if given is not None:
        return given
    return folder.do_lower_case if folder and folder.do_lower_case is not None else True
