"""Second, independent ground-truth heads for the cross-family study (part 0 of issue 22).

bbselect's ground truths are its own heads: the linear probe (``bbselect.probes.labels``: standardised
pooled features, ``LogisticRegressionCV``) and the detection probe (``bbselect.probes.detection``: a
CenterNet-style head written in plain TensorFlow ops on per-channel-standardised features).  A ranking
across families that hinges on how one head copes with feature scale (Caffe-converted SqueezeNet
features reach hundreds, MobileNet's stay below 6) is not a ground truth, so the study checks each
against a head of a different design, written separately here:

* ``linear_b``: power-normalised (signed square root) and per-image L2-normalised pooled features, a
  ridge classifier with its regularisation chosen by leave-one-out (``RidgeClassifierCV``), 5-fold
  stratified CV with another shuffle seed.  No per-channel standardisation at all.
* ``detection_b``: per-POSITION normalisation (LayerNorm over the channels of each cell, no learned
  scale) instead of per-channel standardisation, no coordinate channels, Glorot initialisation, a 1x1
  reduction to 64 channels then two 3x3 convolutions of 64, box-size loss weight 0.1 (not 0.5), Adam
  1e-3 (not 2e-3), batch 32, 20 epochs;
  the same CenterNet targets and focal loss (the data plumbing, ``encode_targets`` / ``decode``,
  is bbselect's so both heads are scored on identical boxes).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn.linear_model import RidgeClassifierCV
from sklearn.model_selection import StratifiedKFold

from bbselect.models import runtime
from bbselect.probes import cocometrics, detection

B_EPOCHS = 20


def linear_b(features: np.ndarray, labels: np.ndarray, seed: int = 1) -> dict:
    """{"acc", "correct"}: out-of-fold accuracy of head B and its per-image hits (input order)."""
    f = np.asarray(features, np.float64)
    f = np.sign(f) * np.sqrt(np.abs(f))
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    f = f / np.where(norm > 0, norm, 1.0)
    y = np.asarray(labels)
    correct = np.zeros(len(y), bool)
    folds = StratifiedKFold(max(2, min(5, int(np.unique(y, return_counts=True)[1].min()))), shuffle=True,
                            random_state=seed)
    for tr, te in folds.split(f, y):
        clf = RidgeClassifierCV(alphas=np.logspace(-3, 3, 13)).fit(f[tr], y[tr])
        correct[te] = clf.predict(f[te]) == y[te]
    return {"acc": float(correct.mean()), "correct": correct.tolist()}


def _init(c_in: int, k: int, seed: int) -> list[np.ndarray]:
    """Glorot-uniform kernels (Keras' default for Conv2D), zero biases, heat bias -2.19."""
    rng = np.random.default_rng(seed)

    def glorot(*shape):
        fan_in, fan_out = np.prod(shape[:-1]), np.prod(shape[:-2]) * shape[-1]
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, shape).astype(np.float32)
    z = lambda n: np.zeros(n, np.float32)
    return [glorot(1, 1, c_in, 64), z(64), glorot(3, 3, 64, 64), z(64), glorot(3, 3, 64, 64), z(64),
            glorot(1, 1, 64, k), np.full(k, -2.19, np.float32), glorot(1, 1, 64, 4), z(4)]


def _forward(tf, p, x):
    mu, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    h = (x - mu) / tf.sqrt(var + 1e-3)  # per-position normalisation: each cell's C-vector (LayerNorm)
    conv = lambda a, w, b: tf.nn.conv2d(a, w, 1, "SAME") + b
    h = tf.nn.relu(conv(h, p[0], p[1]))  # 1x1 reduction first (a 3x3 conv on 1280 channels cost minutes)
    h = tf.nn.relu(conv(h, p[2], p[3]))
    h = tf.nn.relu(conv(h, p[4], p[5]))
    return conv(h, p[6], p[7]), conv(h, p[8], p[9])  # heat logits [K]; size (2) + offset (2)


def _loss(tf, heat_logits, box, y, k: int):
    heat, size, off, mask = y[..., :k], y[..., k:k + 2], y[..., k + 2:k + 4], y[..., k + 4:]
    p = tf.sigmoid(heat_logits)
    pos = tf.cast(tf.equal(heat, 1.0), tf.float32)
    pos_l = -tf.math.log_sigmoid(heat_logits) * tf.square(1 - p) * pos
    neg_l = -tf.math.log_sigmoid(-heat_logits) * tf.square(p) * tf.pow(1 - heat, 4) * (1 - pos)
    n_pos = tf.maximum(tf.reduce_sum(mask), 1.0)
    return ((tf.reduce_sum(pos_l) + tf.reduce_sum(neg_l)) / n_pos
            + 0.1 * tf.reduce_sum(tf.abs(box[..., :2] - size) * mask) / n_pos
            + tf.reduce_sum(tf.abs(box[..., 2:] - off) * mask) / n_pos)


def detection_b(features: np.ndarray, pi, input_size: int, seed: int = 0, epochs: int = B_EPOCHS):
    """Held-out detections of head B (5 folds by image, bbselect's fold assignment) as a
    ``cocometrics.Evaluation``.  Its own training loop: Adam (lr 1e-3), batch 32, ``epochs`` epochs, one
    traced function reused by every fold (tracing per fold cost more than training on 2 shared cores)."""
    runtime.keras()  # TensorFlow set up as bbselect does (its logger quietened)
    feats = np.asarray(features, np.float32)
    n, h, w, c = feats.shape
    k = len(pi.class_names)
    y_all = np.concatenate(detection.encode_targets(pi.boxes, pi.classes, k, (h, w), input_size), axis=-1)
    fold_of = detection.fold_assignment(n, 5, seed, pi.groups)
    params = [tf.Variable(a) for a in _init(c, k, seed)]
    m = [tf.Variable(tf.zeros_like(p)) for p in params]
    v = [tf.Variable(tf.zeros_like(p)) for p in params]
    t = tf.Variable(0.0)

    @tf.function(input_signature=[tf.TensorSpec([None, h, w, c]), tf.TensorSpec([None, h, w, k + 5]),
                                  tf.TensorSpec([None, None], tf.int32)])
    def train(x, y, batches):
        for s in tf.range(tf.shape(batches)[0]):
            idx = batches[s]
            with tf.GradientTape() as tape:
                loss = _loss(tf, *_forward(tf, params, tf.gather(x, idx)), tf.gather(y, idx), k)
            grads = tape.gradient(loss, params)
            t.assign_add(1.0)
            for p, g, mm, vv in zip(params, grads, m, v):
                mm.assign(0.9 * mm + 0.1 * g)
                vv.assign(0.999 * vv + 0.001 * g * g)
                p.assign_sub(1e-3 * (mm / (1 - tf.pow(0.9, t))) / (tf.sqrt(vv / (1 - tf.pow(0.999, t))) + 1e-7))

    predict = tf.function(lambda x: _forward(tf, params, x))
    dets = [None] * n
    for f in range(int(fold_of.max()) + 1):
        tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        for var, a in zip(params, _init(c, k, seed * 100 + f)):
            var.assign(a)
        for var in m + v:
            var.assign(tf.zeros_like(var))
        t.assign(0.0)
        rng = np.random.default_rng(seed * 100 + f)
        bs = min(32, len(tr))
        batches = [np.sort(perm[i:i + bs]) for perm in (rng.permutation(len(tr)) for _ in range(epochs))
                   for i in range(0, len(tr) - bs + 1, bs)]
        train(feats[tr], y_all[tr], np.asarray(batches, np.int32))
        heat, box = (np.asarray(a) for a in predict(feats[te]))
        for i, d in zip(te, detection.decode(heat, box[..., :2], box[..., 2:], input_size)):
            dets[i] = d
    gt_px = [cocometrics.to_image_pixels(b, g) for b, g in zip(pi.boxes, pi.geoms)]
    gt = cocometrics.coco_ground_truth(gt_px, pi.classes, pi.geoms, pi.class_names)
    return cocometrics.evaluate(gt, cocometrics.coco_detections(dets, pi.geoms))
