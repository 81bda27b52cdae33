"""The device a run computes on, the numeric precision of its networks, and how decoding is sized.

``describe`` names the device TensorFlow uses (the first GPU if it sees one, else the CPU) with the
decode settings, for the log, ``run.json`` and the report. It never imports TensorFlow itself: a
fully cached run builds no model, so it reports ``none`` instead of paying for the import.

``precision(policy)`` builds models under a Keras dtype policy and restores the previous one, so a
``--mixed-precision`` backbone never leaks its policy into the next build (a sweep builds many).
Under ``mixed_float16`` activations, and so the channel max/mean/sum maps, are computed in float16
while weights stay float32.

Decoding is sized so a fast device is not starved: one decode thread per core this process may run
on (the affinity mask, so a Slurm allocation or a container's CPU set counts, not the whole node),
and ``PREFETCH_BATCHES`` batches decoded ahead of the networks.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

FLOAT32, MIXED = "float32", "mixed_float16"
PREFETCH_BATCHES = 2


def cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def decode_threads() -> int:
    return cores()


def prefetch_images(batch_size: int) -> int:
    """Images decoded ahead of the networks: ``PREFETCH_BATCHES`` full batches, at least one per thread."""
    return max(PREFETCH_BATCHES * batch_size, decode_threads())


def policy_name(mixed: bool) -> str:
    return MIXED if mixed else FLOAT32


@contextlib.contextmanager
def precision(policy: str):
    """Build models under the Keras dtype ``policy``; the previous global policy is restored after."""
    if policy == FLOAT32:
        yield
        return
    from bbselect.models import runtime

    keras = runtime.keras()
    before = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(batch_size: int, policy: str = FLOAT32) -> dict:
    """The device used, for run.json: kind (GPU, CPU, or none when no model ran), name, GPU count,
    the precision policy and the decode sizing."""
    out = {"kind": "none", "name": "no model ran (every map came from the cache or the run folder)",
           "gpus": 0, "precision": policy, "decode_threads": decode_threads(),
           "prefetch_images": prefetch_images(batch_size)}
    if "tensorflow" not in sys.modules:
        return out
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") or gpus[0].name
        except (ValueError, RuntimeError):
            name = gpus[0].name
        out.update(kind="GPU", name=name, gpus=len(gpus))
    else:
        out.update(kind="CPU", name=f"{cpu_name()}, {cores()} cores (no GPU visible to TensorFlow)")
    return out


def summary_line(info: dict) -> str:
    """One line for the log and the report."""
    text = f"{info['kind']}: {info['name']}"
    if info.get("gpus", 0) > 1:
        text += f" (first of {info['gpus']} GPUs; bbselect uses one)"
    if info.get("precision") == MIXED:
        text += "; maps computed in float16 (mixed precision)"
    return text + f"; {info['decode_threads']} decode threads, {info['prefetch_images']} images prefetched"
