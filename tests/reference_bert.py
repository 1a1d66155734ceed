"""Imports reference google-research/bert modules (`tokenization`, `create_pretraining_data`) under TF2.

Only a test oracle (bert-tensorflow==1.0.4). It was written for TF1: it reads
an absl flag at tokenization time and calls `tf.gfile.GFile`, so the import
needs parsed flags and a `tensorflow` module that has `gfile` (tf.compat.v1,
swapped into sys.modules for the import and restored after it).
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_reference_tokenization() -> ModuleType:
    """The reference `bert.tokenization`; ImportError if bert-tensorflow is missing."""
    return import_reference("tokenization")


def import_reference(name: str) -> ModuleType:
    """The reference `bert.<name>`; ImportError if bert-tensorflow is missing."""
    importlib.import_module("bert")  # ImportError (-> pytest skip) when not installed
    import tensorflow as tf
    from absl import flags

    if f"bert.{name}" in sys.modules:
        return sys.modules[f"bert.{name}"]
    saved = {module: sys.modules.get(module) for module in ("tensorflow", "tensorflow.compat.v1")}
    sys.modules["tensorflow"] = tf.compat.v1
    sys.modules["tensorflow.compat.v1"] = tf.compat.v1
    try:
        module = importlib.import_module(f"bert.{name}")
    finally:
        for module_name, value in saved.items():
            if value is None:
                sys.modules.pop(module_name, None)
            else:
                sys.modules[module_name] = value
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    return module
