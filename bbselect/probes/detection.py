"""Detection probe: a small CenterNet-style head trained on FROZEN backbone features.

The ground truth for "which backbone for my detector": train a tiny anchor-free detector head
(Zhou, Wang & Krähenbühl 2019, "Objects as Points") on each backbone's ``[h, w, C]`` feature
tensor, score every image with a head that never saw it (k-fold by image), and evaluate the
held-out detections with pycocotools (``cocometrics``).

Head (the same for every backbone and for the prior baseline)::

    input   [h, w, C] features, standardised per channel (training-fold statistics),
            plus 2 coordinate channels (cell centre x, y in -1..1)
    conv 1x1 -> ``hidden`` ReLU, ``depth`` x (conv 3x3 -> ``hidden`` ReLU)
    heads   1x1 -> K   centre heatmap (sigmoid; focal loss, alpha 2, beta 4, Gaussian targets)
            1x1 -> 2   log box size in cells (L1 at centre cells)
            1x1 -> 2   sub-cell centre offset (L1 at centre cells)

The coordinate channels let the head learn *where boxes usually are and how big*, so the
**prior baseline** (``prior_features``: the same head on all-zero features) can only learn the
positional/size prior. A backbone is useful only by what it adds over that baseline.

Boxes are in input pixels of the fitted network input (``0..input_size``); the stride is
``input_size / map size`` per axis. Decoding keeps 3x3 heatmap peaks, the ``top_k`` best per
image above ``min_score``.

The head's pieces (input normalisation, initial weights, forward pass, loss) are in ``dethead.py``.
It is written with plain TensorFlow ops (Keras' backend) and its own Adam, with the whole
training loop in ONE traced ``tf.function`` reused by every fold: building and tracing a Keras
model per fold cost more than the training itself.

Defaults (``ProbeConfig``) were chosen on raccoon at 224 with the real MobileNet v1 at c5: hidden 64
overfits (mAP@0.5 0.54 vs 0.59 with 32); 40 epochs, batch 32.

Determinism: initial weights come from a seeded numpy generator, batches from a seeded numpy
generator, no TensorFlow randomness is used, and the CPU kernels involved are deterministic for a
fixed thread setting; same inputs and seed give the same detections bit for bit (tested). The
process-wide ``enable_op_determinism`` switch is not needed, so the probe leaves it alone.

Folds: ``fold_assignment`` keeps images of one ``group`` (e.g. the same picture under two names,
found by content digest) in the same fold, so a duplicate never leaks into its own test fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from bbselect.models import runtime
from bbselect.probes.dethead import head_forward, head_loss, init_head, standardise


@dataclass(frozen=True)
class ProbeConfig:
    folds: int = 5
    seed: int = 0
    epochs: int = 40
    batch_size: int = 32
    hidden: int = 32  # 64 overfits raccoon (mAP@0.5 0.54 vs 0.59 at c5)
    depth: int = 2  # 3x3 conv layers after the 1x1 reduction
    learning_rate: float = 2e-3
    top_k: int = 100
    min_score: float = 0.01
    # "channel": standardise each channel (training-fold statistics); "position": then scale each cell's
    # C-vector to unit RMS (docs/validation.md, "Across families": feature scale differs by family)
    normalise: str = "channel"


@dataclass
class Detections:
    """One image's detections, boxes ``[k, 4]`` as x0, y0, x1, y1 in input pixels."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


@dataclass
class ProbeResult:
    detections: list[Detections]
    fold_of: np.ndarray  # fold index of each image (its detections come from a head without it)
    seconds: float  # training + prediction, all folds


def fold_assignment(n: int, folds: int, seed: int, groups=None) -> np.ndarray:
    """Fold index per image: groups shuffled by ``seed``, dealt round-robin (largest first)."""
    if n < 2:
        raise ValueError("the detection probe needs at least 2 images")
    groups = np.arange(n) if groups is None else np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    if len(uniq) < 2:  # copies of one image: any split would test on an image the head was trained on
        raise ValueError("the detection probe needs at least 2 distinct images")
    k = max(2, min(int(folds), len(uniq)))
    order = np.random.default_rng(seed).permutation(len(uniq))
    sizes = np.bincount(inverse, minlength=len(uniq))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group = np.empty(len(uniq), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += sizes[g]
    return fold_of_group[inverse.ravel()]


def prior_features(features: np.ndarray) -> np.ndarray:
    """Constant (zero) features of the same map size: the head can learn only the box prior."""
    n, h, w = features.shape[:3]
    return np.zeros((n, h, w, 1), dtype=np.float32)


def strides(map_hw: tuple[int, int], input_size: int) -> tuple[float, float]:
    """(stride_y, stride_x) in input pixels."""
    return input_size / map_hw[0], input_size / map_hw[1]


def resolvable(boxes: list[np.ndarray], map_hw: tuple[int, int], input_size: int) -> tuple[int, int]:
    """(boxes whose shorter side is at least one stride, all boxes); boxes in input pixels."""
    sy, sx = strides(map_hw, input_size)
    ok = total = 0
    for b in boxes:
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        total += len(b)
        ok += int(np.sum(((b[:, 2] - b[:, 0]) >= sx) & ((b[:, 3] - b[:, 1]) >= sy)))
    return ok, total


def encode_targets(boxes: list[np.ndarray], classes: list[np.ndarray], n_classes: int,
                   map_hw: tuple[int, int], input_size: int):
    """(heat [n,h,w,K], size [n,h,w,2], offset [n,h,w,2], mask [n,h,w,1]) training targets."""
    h, w = map_hw
    sy, sx = strides(map_hw, input_size)
    n = len(boxes)
    heat = np.zeros((n, h, w, n_classes), np.float32)
    size = np.zeros((n, h, w, 2), np.float32)
    offset = np.zeros((n, h, w, 2), np.float32)
    mask = np.zeros((n, h, w, 1), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i, (bs, cs) in enumerate(zip(boxes, classes)):
        for (x0, y0, x1, y1), c in zip(np.asarray(bs, np.float32).reshape(-1, 4), np.asarray(cs).ravel()):
            cx, cy = (x0 + x1) / 2 / sx, (y0 + y1) / 2 / sy  # centre in cells
            bw, bh = max((x1 - x0) / sx, 1e-3), max((y1 - y0) / sy, 1e-3)
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            gx, gy = max(bw / 6, 0.5), max(bh / 6, 0.5)
            g = np.exp(-((xx - ix) ** 2) / (2 * gx * gx) - ((yy - iy) ** 2) / (2 * gy * gy))
            heat[i, :, :, c] = np.maximum(heat[i, :, :, c], g)
            heat[i, iy, ix, c] = 1.0
            size[i, iy, ix] = (np.log(bw), np.log(bh))
            offset[i, iy, ix] = (cx - ix, cy - iy)
            mask[i, iy, ix, 0] = 1.0
    return heat, size, offset, mask


class _Trainer:
    """The head's variables, Adam state and ONE traced training loop, reused by every fold."""

    def __init__(self, tf, map_hw: tuple[int, int], c_in: int, n_classes: int, cfg: ProbeConfig):
        self.tf, self.cfg, self.n_classes = tf, cfg, n_classes
        shapes = init_head(c_in, n_classes, cfg.hidden, cfg.depth, 0)
        self.params = [tf.Variable(a) for a in shapes]
        self.m = [tf.Variable(np.zeros_like(a)) for a in shapes]
        self.v = [tf.Variable(np.zeros_like(a)) for a in shapes]
        self.t = tf.Variable(0.0)
        h, w = map_hw
        spec = lambda c, dtype=tf.float32: tf.TensorSpec([None, h, w, c], dtype)
        self.loop = tf.function(self._loop, input_signature=[
            spec(c_in), spec(n_classes), spec(2), spec(2), spec(1), tf.TensorSpec([None, None], tf.int32)])
        self.predict = tf.function(lambda x: head_forward(tf, self.params, x))

    def _loop(self, x, heat, size, offset, mask, batches):
        tf, lr, b1, b2 = self.tf, self.cfg.learning_rate, 0.9, 0.999
        for s in tf.range(tf.shape(batches)[0]):
            idx = batches[s]
            with tf.GradientTape() as tape:
                out = head_forward(tf, self.params, tf.gather(x, idx))
                loss = head_loss(tf, *out, *(tf.gather(a, idx) for a in (heat, size, offset, mask)))
            grads = tape.gradient(loss, self.params)
            self.t.assign_add(1.0)
            c1, c2 = 1 - tf.pow(b1, self.t), 1 - tf.pow(b2, self.t)
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                m.assign(b1 * m + (1 - b1) * g)
                v.assign(b2 * v + (1 - b2) * g * g)
                p.assign_sub(lr * (m / c1) / (tf.sqrt(v / c2) + 1e-7))

    def fit(self, x_tr, targets, seed: int) -> None:
        for var, a in zip(self.params, init_head(x_tr.shape[-1], self.n_classes, self.cfg.hidden, self.cfg.depth, seed)):
            var.assign(a)
        for var in self.m + self.v:
            var.assign(self.tf.zeros_like(var))
        self.t.assign(0.0)
        rng = np.random.default_rng(seed)
        n = len(x_tr)
        bs = min(self.cfg.batch_size, n)
        batches = [np.sort(perm[s:s + bs]) for perm in (rng.permutation(n) for _ in range(self.cfg.epochs))
                   for s in range(0, n - bs + 1, bs)]  # full batches only: one traced shape
        self.loop(x_tr, *targets, np.asarray(batches, np.int32))


def decode(heat_logits: np.ndarray, size: np.ndarray, offset: np.ndarray, input_size: int,
           top_k: int = 100, min_score: float = 0.01) -> list[Detections]:
    """Peaks of the heatmap (3x3 local maxima) -> boxes in input pixels, best ``top_k`` per image."""
    n, h, w, k = heat_logits.shape
    sy, sx = strides((h, w), input_size)
    p = 1.0 / (1.0 + np.exp(-heat_logits.astype(np.float64)))
    pad = np.pad(p, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-1.0)
    local = np.max(np.stack([pad[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]), axis=0)
    peak = np.where(p >= local, p, 0.0)
    out = []
    for i in range(n):
        flat = peak[i].ravel()
        order = np.argsort(-flat, kind="stable")[:top_k]
        order = order[flat[order] >= min_score]
        yy, xx, cc = np.unravel_index(order, (h, w, k))
        cx = (xx + offset[i, yy, xx, 0]) * sx
        cy = (yy + offset[i, yy, xx, 1]) * sy
        bw = np.exp(np.clip(size[i, yy, xx, 0], -10, 10)) * sx
        bh = np.exp(np.clip(size[i, yy, xx, 1], -10, 10)) * sy
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=-1)
        out.append(Detections(np.clip(boxes, 0, input_size).reshape(-1, 4), flat[order], cc.astype(np.int64)))
    return out


def run_probe(features: np.ndarray, boxes: list[np.ndarray], classes: list[np.ndarray],
              n_classes: int, input_size: int, config: ProbeConfig = ProbeConfig(),
              groups=None) -> ProbeResult:
    """Train one head per fold on the other folds' features; detect on the held-out images."""
    runtime.keras()  # imports TensorFlow quietly
    import tensorflow as tf

    t0 = time.perf_counter()
    features = np.asarray(features, dtype=np.float32)
    n, h, w, _ = features.shape
    if len(boxes) != n or len(classes) != n:
        raise ValueError("features, boxes and classes must cover the same images")
    targets = encode_targets(boxes, classes, n_classes, (h, w), input_size)
    fold_of = fold_assignment(n, config.folds, config.seed, groups)
    dets: list[Detections | None] = [None] * n
    trainer = _Trainer(tf, (h, w), features.shape[-1] + 2, n_classes, config)
    for f in range(int(fold_of.max()) + 1):
        tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        x_tr, x_te = standardise(features[tr], features[te], position=config.normalise == "position")
        trainer.fit(x_tr, [t[tr] for t in targets], config.seed * 1000 + f)
        logits, size_p, off_p = (np.asarray(a) for a in trainer.predict(x_te))
        for i, d in zip(te, decode(logits, size_p, off_p, input_size, config.top_k, config.min_score)):
            dets[i] = d
    return ProbeResult(dets, fold_of, time.perf_counter() - t0)


__all__ = ["ProbeConfig", "Detections", "ProbeResult", "fold_assignment", "prior_features", "strides",
           "resolvable", "encode_targets", "decode", "run_probe"]
