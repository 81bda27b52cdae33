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
* ``detection_b``: a Keras model trained with ``model.fit``: per-POSITION normalisation
  (``LayerNormalization`` over the channels of each cell) instead of per-channel standardisation, no
  coordinate channels, 64 hidden channels, two 3x3 convolutions, Adam 1e-3, batch 32, 20 epochs;
  the same CenterNet targets and focal loss (the data plumbing, ``encode_targets`` / ``decode``,
  is bbselect's so both heads are scored on identical boxes).
"""

from __future__ import annotations

import numpy as np

B_EPOCHS = 20


def linear_b(features: np.ndarray, labels: np.ndarray, seed: int = 1) -> dict:
    """{"acc", "correct"}: out-of-fold accuracy of head B and its per-image hits (input order)."""
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.model_selection import StratifiedKFold

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


def _model(keras, hw, c_in: int, n_classes: int, seed: int):
    L = keras.layers
    keras.utils.set_random_seed(seed)
    x = keras.Input((*hw, c_in))
    h = L.LayerNormalization(axis=-1)(x)  # per-position normalisation: each cell's C-vector
    h = L.Conv2D(64, 3, padding="same", activation="relu")(h)
    h = L.Conv2D(64, 3, padding="same", activation="relu")(h)
    heat = L.Conv2D(n_classes, 1, bias_initializer=keras.initializers.Constant(-2.19))(h)
    out = L.Concatenate()([heat, L.Conv2D(2, 1)(h), L.Conv2D(2, 1)(h)])
    return keras.Model(x, out)


def _loss(n_classes: int):
    import tensorflow as tf

    def loss(y, out):
        heat, size, off, mask = y[..., :n_classes], y[..., n_classes:n_classes + 2], \
            y[..., n_classes + 2:n_classes + 4], y[..., n_classes + 4:]
        logits, size_p, off_p = out[..., :n_classes], out[..., n_classes:n_classes + 2], out[..., n_classes + 2:]
        p = tf.sigmoid(logits)
        pos = tf.cast(tf.equal(heat, 1.0), tf.float32)
        pos_l = -tf.math.log_sigmoid(logits) * tf.square(1 - p) * pos
        neg_l = -tf.math.log_sigmoid(-logits) * tf.square(p) * tf.pow(1 - heat, 4) * (1 - pos)
        n_pos = tf.maximum(tf.reduce_sum(mask), 1.0)
        return ((tf.reduce_sum(pos_l) + tf.reduce_sum(neg_l)) / n_pos
                + 0.1 * tf.reduce_sum(tf.abs(size_p - size) * mask) / n_pos
                + tf.reduce_sum(tf.abs(off_p - off) * mask) / n_pos)
    return loss


def detection_b(features: np.ndarray, pi, input_size: int, seed: int = 0, epochs: int = B_EPOCHS):
    """Held-out detections of head B (5 folds by image, bbselect's fold assignment) as a
    ``cocometrics.Evaluation``."""
    from bbselect.models import runtime
    from bbselect.probes import cocometrics, detection

    keras = runtime.keras()
    import tensorflow as tf
    feats = np.asarray(features, np.float32)
    n, h, w, c = feats.shape
    k = len(pi.class_names)
    targets = np.concatenate(detection.encode_targets(pi.boxes, pi.classes, k, (h, w), input_size), axis=-1)
    fold_of = detection.fold_assignment(n, 5, seed, pi.groups)
    dets = [None] * n
    # one model and one compiled training step for all folds (tracing per fold cost more than training):
    # per fold, fresh seeded initial weights and a zeroed optimizer state
    model = _model(keras, (h, w), c, k, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_loss(k), steps_per_execution=50)
    model.optimizer.build(model.trainable_variables)
    for f in range(int(fold_of.max()) + 1):
        tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        model.set_weights(_model(keras, (h, w), c, k, seed * 100 + f).get_weights())
        for v in model.optimizer.variables:
            if "learning_rate" not in v.path:
                v.assign(np.zeros(v.shape, v.dtype))
        steps = -(-len(tr) // 32)
        ds = (tf.data.Dataset.from_tensor_slices((feats[tr], targets[tr])).shuffle(len(tr), seed=seed * 100 + f)
              .batch(32).repeat(epochs))  # every epoch reshuffled, one fit call
        model.fit(ds, epochs=1, steps_per_epoch=steps * epochs, verbose=0)
        out = np.asarray(model.predict(feats[te], verbose=0, batch_size=32))
        for i, d in zip(te, detection.decode(out[..., :k], out[..., k:k + 2], out[..., k + 2:], input_size)):
            dets[i] = d
    keras.backend.clear_session()
    gt_px = [cocometrics.to_image_pixels(b, g) for b, g in zip(pi.boxes, pi.geoms)]
    gt = cocometrics.coco_ground_truth(gt_px, pi.classes, pi.geoms, pi.class_names)
    return cocometrics.evaluate(gt, cocometrics.coco_detections(dets, pi.geoms))
