"""Where a training run computes: its tf.distribute strategy (from the devices it asks for) and its Keras
dtype policy."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

import keras
import tensorflow as tf

_log = logging.getLogger(__name__)

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


@dataclasses.dataclass(frozen=True)
class DeviceOptions:
    """The devices a run asks for, as run_pretraining.py's TPU flags name them, plus `strategy` (one of
    STRATEGIES). `tpu_name` selects the TPU; `use_tpu` (or strategy "tpu") without it takes `master`, the
    TPU's grpc:// address. `num_tpu_cores` is the reference's: TPUStrategy uses every core of the TPU."""

    strategy: str = "default"
    use_tpu: bool = False
    tpu_name: str | None = None
    master: str | None = None
    tpu_zone: str | None = None
    gcp_project: str | None = None
    tpu_job_name: str | None = None
    num_tpu_cores: int = 8


def strategy_for_devices(devices: DeviceOptions) -> tf.distribute.Strategy:
    """The strategy `devices` asks for (`make_strategy`); ValueError for choices that contradict each other.
    A `master` without a TPU, and a core count that differs from the TPU's, are logged and ignored."""
    wants_tpu = devices.use_tpu or devices.strategy == "tpu"
    tpu = devices.tpu_name or ((devices.master or None) if wants_tpu else None)
    if wants_tpu and not tpu:
        raise ValueError("--use_tpu (or --strategy tpu) needs the TPU's name (--tpu_name NAME, or 'local' on a "
                         "TPU VM) or its address (--master grpc://...)")
    if devices.master and not tpu:
        _log.warning("--master %s is ignored: it addresses a TPU, and this run uses none (add --use_tpu)",
                     devices.master)
    strategy = make_strategy(devices.strategy if not tpu else "tpu", tpu, zone=devices.tpu_zone,
                             project=devices.gcp_project, job_name=devices.tpu_job_name)
    if tpu and strategy.num_replicas_in_sync != devices.num_tpu_cores:
        _log.warning("the TPU has %d cores, --num_tpu_cores says %d: training on all %d",
                     strategy.num_replicas_in_sync, devices.num_tpu_cores, strategy.num_replicas_in_sync)
    return strategy


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
