"""What a backbone costs: parameters, analytic GFLOPs, measured speed.

GFLOPs are counted analytically from the layers between the input and the chosen layer:
2 × multiply-accumulates of every convolution (incl. grouped / depthwise / separable) and dense
layer, at the run's input size, for one image. Element-wise ops (batch norm, activations, adds,
pooling) are left out; they are a few percent of the total for these networks. This is the
convention of the papers' tables (VGG16 ≈ 15.5 G multiply-adds at 224, i.e. ≈ 31 GFLOPs).
"""

from __future__ import annotations

import numpy as np


def _shape(tensor) -> tuple:
    return tuple(int(d) for d in tensor.shape[1:])


def layer_macs(layer, inp=None, out=None) -> int:
    """Multiply-accumulates of one layer for one image (0 for layers that are not counted), on its
    input and output tensors ``inp``/``out`` (default: the layer's own, of its first call)."""
    kind = type(layer).__name__
    if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
        return 0
    out = _shape(layer.output if out is None else out)
    inp = _shape(layer.input if inp is None else inp)
    positions = int(np.prod(out[:-1]))
    if kind == "Dense":
        return positions * inp[-1] * out[-1]
    kh, kw = layer.kernel_size
    c_in = inp[-1]
    if kind == "DepthwiseConv2D":
        return positions * kh * kw * c_in * layer.depth_multiplier
    if kind == "SeparableConv2D":
        mid = c_in * layer.depth_multiplier
        return positions * (kh * kw * mid + mid * out[-1])
    groups = getattr(layer, "groups", 1) or 1
    return positions * kh * kw * (c_in // groups) * out[-1]


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Functional", "Model", "Sequential"):
            yield from _layers(layer)
        else:
            yield layer


def gflops(model) -> float:
    """Analytic GFLOPs (2 × MACs) of ``model`` for one image."""
    return 2.0 * sum(layer_macs(layer) for layer in _layers(model)) / 1e9


def count_params(model) -> int:
    return int(model.count_params())


def speed(n_images: int, seconds: float) -> dict:
    """ms/image and images/s from a measured inference time."""
    if n_images <= 0 or seconds <= 0:
        return {"ms_per_image": float("nan"), "images_per_s": float("nan")}
    return {"ms_per_image": 1000.0 * seconds / n_images, "images_per_s": n_images / seconds}
