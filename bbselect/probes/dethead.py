"""The detection probe's head: its input normalisation, initial weights, forward pass and loss.

Pure functions shared by the probe (``detection.py``, frozen features) and by the fine-tuning study
(``studies/finetune/train.py``, the same head with the backbone unfrozen), so both train the very
same head. See ``detection.py`` for the head's design and defaults.
"""

from __future__ import annotations

import numpy as np

from bbselect.common import CONSTANT_RTOL


def coord_channels(n: int, h: int, w: int) -> np.ndarray:
    """``[n, h, w, 2]`` cell centre (x, y) in -1..1: the head's two coordinate channels."""
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)  # [h, w, 2] as (x, y)
    return np.broadcast_to(grid, (n, h, w, 2))


def _per_position(z: np.ndarray) -> np.ndarray:  # each cell's channel vector to unit RMS; zero stays zero
    rms = np.sqrt(np.mean(np.square(z, dtype=np.float64), axis=-1, keepdims=True))
    return (z / np.where(rms > 0, rms, 1.0)).astype(np.float32)


def channel_stats(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std) of training features; a constant channel's std is 1."""
    mu = train.mean(axis=(0, 1, 2), dtype=np.float64)
    sd = train.std(axis=(0, 1, 2), dtype=np.float64)
    # constant = a std below CONSTANT_RTOL of the features' own peak (scale-free: a random-init MobileNet's
    # activations are ~1e-16 and still differ between cells and images)
    peak = float(np.max(np.abs(train), initial=0.0))
    return mu, np.where(sd > CONSTANT_RTOL * peak, sd, 1.0)


def standardise(train: np.ndarray, *arrays: np.ndarray, position: bool = False) -> list[np.ndarray]:
    """Features standardised by the training features' ``channel_stats`` (``position``: then each cell's
    channel vector scaled to unit RMS), plus ``coord_channels``."""
    mu, sd = channel_stats(train)
    out = []
    for a in (train, *arrays):
        z = ((a - mu) / sd).astype(np.float32)
        if position:
            z = _per_position(z)
        out.append(np.concatenate([z, coord_channels(*a.shape[:3])], axis=-1))
    return out


def init_head(c_in: int, n_classes: int, hidden: int, depth: int, seed: int) -> list[np.ndarray]:
    """Initial weights from a seeded numpy generator (He normal; heads small, heat bias -2.19)."""
    rng = np.random.default_rng(seed)
    he = lambda *shape: (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:-1]))).astype(np.float32)
    small = lambda *shape: (rng.standard_normal(shape) * 0.01).astype(np.float32)
    z = lambda k: np.zeros(k, np.float32)
    body = [he(1, 1, c_in, hidden), z(hidden)]
    for _ in range(depth):
        body += [he(3, 3, hidden, hidden), z(hidden)]
    return body + [small(1, 1, hidden, n_classes), np.full(n_classes, -2.19, np.float32),
                   small(1, 1, hidden, 2), z(2), small(1, 1, hidden, 2), np.full(2, 0.5, np.float32)]


def head_forward(tf, p, x):
    conv = lambda a, w, b: tf.nn.conv2d(a, w, 1, "SAME") + b
    h = x
    for i in range(0, len(p) - 6, 2):
        h = tf.nn.relu(conv(h, p[i], p[i + 1]))
    return conv(h, p[-6], p[-5]), conv(h, p[-4], p[-3]), conv(h, p[-2], p[-1])


def head_loss(tf, logits, size_p, off_p, heat, size, offset, mask):
    """Focal loss on the heatmap (CenterNet: alpha 2, beta 4) + L1 on log size and offset at centres."""
    p = tf.sigmoid(logits)
    pos = tf.cast(tf.equal(heat, 1.0), tf.float32)
    pos_l = -tf.math.log_sigmoid(logits) * tf.square(1 - p) * pos
    neg_l = -tf.math.log_sigmoid(-logits) * tf.square(p) * tf.pow(1 - heat, 4) * (1 - pos)
    n_pos = tf.maximum(tf.reduce_sum(mask), 1.0)
    focal = (tf.reduce_sum(pos_l) + tf.reduce_sum(neg_l)) / n_pos
    l_size = tf.reduce_sum(tf.abs(size_p - size) * mask) / n_pos
    l_off = tf.reduce_sum(tf.abs(off_p - offset) * mask) / n_pos
    return focal + 0.5 * l_size + l_off


__all__ = ["coord_channels", "channel_stats", "standardise", "init_head", "head_forward", "head_loss"]
