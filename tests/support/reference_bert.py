"""Imports reference google-research/bert modules (`tokenization`, `create_pretraining_data`) under TF2.

Only a test oracle (bert-tensorflow==1.0.4). It was written for TF1: it reads
an absl flag at tokenization time and calls `tf.gfile.GFile`, so the import
needs parsed flags and a `tensorflow` module that has `gfile` (tf.compat.v1,
swapped into sys.modules for the import and restored after it).
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType, SimpleNamespace
from typing import Any


class _TolerantFlags(ModuleType):
    """absl.flags whose DEFINE_* skip a name that is already defined."""

    def __getattr__(self, name: str) -> Any:
        from absl import flags

        value = getattr(flags, name)
        if not name.startswith("DEFINE"):
            return value

        def define(flag_name: str, *args: Any, **kwargs: Any) -> Any:
            return None if flag_name in flags.FLAGS else value(flag_name, *args, **kwargs)

        return define


class CompatV1(ModuleType):
    """tf.compat.v1, except that flags defined twice are skipped: several
    reference scripts define `--input_file` etc., which absl refuses (the
    oracles never read these flags)."""

    def __init__(self) -> None:
        import tensorflow as tf  # the real one: made before it is swapped out of sys.modules

        super().__init__("tensorflow")
        self.v1 = tf.compat.v1
        self.flags = _TolerantFlags("flags")
        self.compat = SimpleNamespace(v1=self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.v1, name)


def import_reference_tokenization() -> ModuleType:
    """The reference `bert.tokenization`; ImportError if bert-tensorflow is missing."""
    return import_reference("tokenization")


def import_reference(name: str, tensorflow: ModuleType | None = None,
                     stand_ins: dict[str, object] | None = None) -> ModuleType:
    """The reference `bert.<name>`; ImportError if bert-tensorflow is missing.

    It imports `tensorflow` (CompatV1 unless `tensorflow` is given) and
    whatever `stand_ins` names (e.g. "tensorflow.contrib", gone from TF2).
    """
    importlib.import_module("bert")  # ImportError (-> pytest skip) when not installed
    from absl import flags

    if f"bert.{name}" in sys.modules:
        return sys.modules[f"bert.{name}"]
    v1 = tensorflow or CompatV1()
    replaced = {"tensorflow": v1, "tensorflow.compat.v1": v1, **(stand_ins or {})}
    saved = {module: sys.modules.get(module) for module in replaced}
    sys.modules.update(replaced)
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


def import_reference_squad() -> ModuleType:
    """The reference `bert.run_squad`; ImportError if bert-tensorflow is missing.

    It imports `bert.modeling`, which needs the TF1 stand-ins of tests.support.reference_modeling
    (imported here, as that module builds on this one). Its FLAGS.version_2_with_negative
    decides how it reads and decodes: set it before each use.
    """
    from tests.support.reference_modeling import import_reference_modules

    import_reference_modules()
    return import_reference("run_squad")
