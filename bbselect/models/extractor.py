"""Collapse a backbone's [h, w, C] feature map into small maps *inside* the model.

The extractor is a Keras model on the backbone's input whose outputs are, for the chosen layer:

    max   [h, w]  per-pixel maximum over channels
    mean  [h, w]  per-pixel mean over channels
    sum   [h, w]  per-pixel sum over channels (= C × mean)
    gap   [C]     global average pool (pooled features, for channel statistics)
    gmp   [C]     global max pool (to find channels that never fire)
    features [h, w, C]  the tensor itself, for the detection probe (the engine keeps it only for
                  the probe's sampled images, so memory and disk stay bounded by --probe-max-images)

``collapse`` is the same reduction in numpy, the reference the tests compare against.

One image per network call. TensorFlow's CPU kernels compute an image at batch position 1 with a
different rounding than at position 0 on some processors (measured: ~6e-6 on ResNet50 features on
this project's 2-core machines), so a batched call would make an image's maps depend on which images
shared its batch — and shards, resumed runs and cache hits would no longer reproduce a whole run bit
for bit. The batch is therefore run image by image through one traced function (no per-call Keras
``predict`` overhead); ``tests/runs/test_batch.py`` checks the bit-for-bit promise.

The extractor is built on ``stages.trace``'s flat graph of the backbone at the run's input size, so a
layer inside a nested model can be tapped and a dynamic-input model gets the run's size. Its name is
made of characters TensorFlow scopes accept, whatever the backbone's own name (``my model (v2)``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from bbselect.errors import UsageError
from bbselect.models import runtime, stages
from bbselect.models.selection import Selection

OUTPUTS = ("max", "mean", "sum", "gap", "gmp")
MAP_KEYS = ("max", "mean", "sum")
FEATURES = "features"  # the [h, w, C] tensor itself, also returned by every call


@dataclass
class Extractor:
    selection: Selection
    model: object  # keras.Model with OUTPUTS
    backbone: object  # the full keras backbone
    layer: str
    stage: str | None
    map_shape: tuple[int, int]
    channels: int
    stride: int = 0
    note: str | None = None  # e.g. c5 asked of a network whose deepest stride is 16
    gflops: float = 0.0  # analytic, of the layers up to the tapped one (models/cost.py)

    def preprocess(self, batch_uint8: np.ndarray) -> np.ndarray:
        return self.selection.prepare(batch_uint8.astype(np.float32))

    def __call__(self, batch_uint8: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs for a batch, image by image; each image's seconds (preprocessing excluded) are
        left in ``last_image_seconds``, so a run's own images are its speed measurement."""
        x = self.preprocess(batch_uint8)
        run = self._traced()
        parts, seconds = [], []
        for i in range(len(x)):
            t0 = time.perf_counter()
            parts.append([np.asarray(v) for v in run(x[i : i + 1])])
            seconds.append(time.perf_counter() - t0)
        self.__dict__["last_image_seconds"] = seconds
        return {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate((*OUTPUTS, FEATURES))}

    def _traced(self):
        fn = self.__dict__.get("_fn")
        if fn is None:
            import tensorflow as tf

            fn = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
            self.__dict__["_fn"] = fn
        return fn


def build_extractor(selection: Selection, backbone, layer: str | None, input_size: int | None = None) -> Extractor:
    keras = runtime.keras()
    ops = keras.ops

    graph = stages.trace(backbone, input_size)
    choice = stages.resolve_layer(graph, selection.layer_or(layer))
    feat = next(t.tensor for t in graph.taps if t.name == choice.name)
    outputs = [
        ops.max(feat, axis=-1),
        ops.mean(feat, axis=-1),
        ops.sum(feat, axis=-1),
        ops.mean(feat, axis=(1, 2)),
        ops.max(feat, axis=(1, 2)),
        feat,  # the full tensor: the engine keeps it only for the detection probe's images
    ]
    try:
        model = keras.Model(graph.input, outputs, name=scope_name(f"{backbone.name}_maps"))
    except ValueError as err:  # e.g. two layers of one name once nested models are flattened
        raise UsageError(f"{selection.label}: cannot tap {choice.name}: {str(err).splitlines()[0]}") from None
    shape = tuple(feat.shape)
    return Extractor(selection, model, backbone, choice.name, choice.stage, (shape[1], shape[2]), shape[3],
                     choice.stride, choice.note, graph.gflops(model))


def scope_name(name: str) -> str:
    """``name`` with every character a TensorFlow root scope refuses replaced by ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    return cleaned if re.match(r"[A-Za-z0-9.]", cleaned) else "m" + cleaned


def collapse(features: np.ndarray) -> dict[str, np.ndarray]:
    """Reference numpy reduction of a [n, h, w, C] feature tensor (see module docstring)."""
    f = np.asarray(features, dtype=np.float64)
    return {
        "max": f.max(axis=-1),
        "mean": f.mean(axis=-1),
        "sum": f.sum(axis=-1),
        "gap": f.mean(axis=(1, 2)),
        "gmp": f.max(axis=(1, 2)),
    }
