"""The input conventions a backbone may be trained with, besides a registry family's own.

A batch arrives as float32 RGB in [0, 255]. ``preprocess=`` on a backbone (``-b FILE.keras:preprocess=tf``)
names one of these, or a registry backbone whose family's ``preprocess_input`` the network was trained
with (``preprocess=mobilenetv2``). Registry backbones default to their family's; model files to ``raw``.

``raw``    the batch as it is (0–255 RGB): for networks that rescale inside, as Keras' MobileNetV3,
           EfficientNet and most exported model files do
``tf``     x / 127.5 − 1 (Inception, MobileNet v1/v2, Xception)
``torch``  x / 255, then the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) per channel
``caffe``  RGB → BGR, then the ImageNet BGR mean (103.939, 116.779, 123.68) subtracted (VGG, ResNet v1)

These are the same formulas as ``keras.applications.imagenet_utils.preprocess_input``'s three modes,
written in numpy so a run does not depend on Keras' private module; ``tests/models/test_registry.py`` checks
them against the families that use them.
"""

from __future__ import annotations

import numpy as np

TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def _raw(x: np.ndarray) -> np.ndarray:
    return x


def _tf(x: np.ndarray) -> np.ndarray:
    return x / np.float32(127.5) - np.float32(1.0)


def _torch(x: np.ndarray) -> np.ndarray:
    return (x / np.float32(255.0) - TORCH_MEAN) / TORCH_STD


def _caffe(x: np.ndarray) -> np.ndarray:
    return x[..., ::-1] - CAFFE_MEAN_BGR


GENERIC = {"raw": _raw, "tf": _tf, "torch": _torch, "caffe": _caffe}
MODEL_FILE_DEFAULT = "raw"


def apply(name: str, batch: np.ndarray) -> np.ndarray:
    """One of ``GENERIC`` on a float32 RGB batch in [0, 255]."""
    return GENERIC[name](np.asarray(batch, np.float32)).astype(np.float32, copy=False)
