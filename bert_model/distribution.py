"""Where a pretraining run computes: its tf.distribute strategy and its Keras dtype policy."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "tpu")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def make_strategy(kind: str = "default", tpu: str | None = None, *, zone: str | None = None,
                  project: str | None = None, job_name: str | None = None) -> tf.distribute.Strategy:
    """TPUStrategy on the TPU `tpu` names, MirroredStrategy over this machine's GPUs, or the default strategy.

    `tpu` is a Cloud TPU's name, a grpc:// address, or "local" on a TPU VM;
    giving it implies kind "tpu". `zone`, `project` and `job_name` locate a
    named TPU as run_pretraining.py's --tpu_zone, --gcp_project and
    --tpu_job_name do (by default from the metadata server). Without GPUs
    MirroredStrategy has one replica, on the CPU.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"unknown strategy {kind!r}; use one of {', '.join(STRATEGIES)}")
    if tpu:
        if kind == "mirrored":
            raise ValueError("a TPU name was given with the mirrored strategy; drop one of them")
        located = {name: value for name, value in (("zone", zone), ("project", project), ("job_name", job_name))
                   if value}
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu, **located)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == "tpu":
        raise ValueError("the tpu strategy needs the TPU's name (or 'local' on a TPU VM)")
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def mixed_precision_policy(strategy: tf.distribute.Strategy) -> str:
    """mixed_float16 (with loss scaling) on GPUs, whose float16 units are the fast ones; mixed_bfloat16
    on TPUs, which compute bfloat16 natively, and on CPUs, where float16 has no range to spare."""
    if isinstance(strategy, tf.distribute.TPUStrategy) or not tf.config.list_logical_devices("GPU"):
        return "mixed_bfloat16"
    return "mixed_float16"


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras layers created inside take the policy `name` (one of PRECISIONS); the global policy is restored after."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
