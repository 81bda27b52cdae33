"""A dense linear objectness probe: can a linear classifier read "object here" off each map cell?

For every image with boxes, every cell of the feature map that covers image content (the valid
region of a letterboxed input, ``bbselect.inputs.decode.valid_map_region``) is one sample: its C
channels are the features, and the target is "this cell is inside a box".  The caller passes that
target as a boolean mask per image; bbselect uses ``bbselect.scoring.boxscores.box_mask`` (the cell's
centre lies in a box, or it is the cell holding a box's centre — the same mask the map-vs-box
scores use).  Taking the mask, not the boxes, keeps this module below ``scoring`` in the layers.

``objectness_probe`` fits a logistic regression (``sklearn``; lbfgs, C = 1, features standardised on
the training fold) and scores it by the AUROC of its out-of-fold probabilities, pooled over all
held-out cells.  Folds are by **image** (``GroupKFold``): every cell of an image is predicted by a
model that saw none of that image's cells, so neighbouring cells cannot leak the answer.

Next to it, the **prior**: the same probe on the cell's position alone (normalised centre x, y and
their squares and product — a quadratic in position, so it can learn "objects sit in the middle"),
same folds.  ``gain = auroc - auroc_prior`` is what the features add over knowing where boxes
usually are; a backbone is only evidence-worthy if the gain is clearly positive.

To bound cost, at most ``max_cells`` cells per image are used (a seeded random subset of the image's
cells, the same for every backbone with the same map size).  Pure numpy / scikit-learn, no I/O.
"""

from __future__ import annotations

import math

import numpy as np


def position_features(hw: tuple[int, int]) -> np.ndarray:
    """[h * w, 5] quadratic position features (x, y, x², y², xy) of the cell centres, in [0, 1]."""
    h, w = (int(s) for s in hw)
    y, x = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    x, y = x.ravel(), y.ravel()
    return np.stack([x, y, x * x, y * y, x * y], axis=1)


def cell_samples(features: list[np.ndarray], masks: list, max_cells: int = 256,
                 seed: int = 0) -> dict:
    """Flatten per-image cropped maps [h_i, w_i, C] and their [h_i, w_i] target masks into cells.

    Returns ``x`` [N, C], ``pos`` [N, 5], ``y`` [N] bool, ``groups`` [N] (image index).
    An image whose mask is None (no boxes) is skipped.
    """
    xs, ps, ys, gs = [], [], [], []
    for i, (f, m) in enumerate(zip(features, masks)):
        if m is None:
            continue
        f = np.asarray(f, dtype=np.float64)
        h, w, c = f.shape
        target = np.asarray(m, dtype=bool)
        if target.shape != (h, w):
            raise ValueError(f"image {i}: mask shape {target.shape} differs from map shape {(h, w)}")
        target = target.ravel()
        flat = f.reshape(h * w, c)
        pos = position_features((h, w))
        idx = np.arange(h * w)
        if idx.size > max_cells:
            idx = np.sort(np.random.default_rng([seed, h, w, i]).choice(idx.size, max_cells, replace=False))
        xs.append(flat[idx])
        ps.append(pos[idx])
        ys.append(target[idx])
        gs.append(np.full(idx.size, i))
    if not xs:
        return {"x": np.zeros((0, 0)), "pos": np.zeros((0, 5)), "y": np.zeros(0, bool), "groups": np.zeros(0, int)}
    return {"x": np.concatenate(xs), "pos": np.concatenate(ps), "y": np.concatenate(ys),
            "groups": np.concatenate(gs)}


def oof_auroc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5, resamples=None):
    """AUROC of out-of-fold logistic-regression probabilities, folds grouped by image.  With
    ``resamples`` ([n_boot, n] image indices, repeats allowed): ``(auroc, [AUROC over the cells of each
    resample's images])`` — the bootstrap over images, on the same out-of-fold probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    n_groups = len(np.unique(groups))
    if n_groups < 2 or y.all() or not y.any():
        return math.nan if resamples is None else (math.nan, [])
    prob = np.zeros(y.size)
    for train, test in GroupKFold(n_splits=min(folds, n_groups)).split(x, y, groups):
        if y[train].all() or not y[train].any():
            prob[test] = y[train].mean()
            continue
        scaler = StandardScaler().fit(x[train])
        model = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x[train]), y[train])
        prob[test] = model.predict_proba(scaler.transform(x[test]))[:, 1]
    auroc = float(roc_auc_score(y, prob))
    if resamples is None:
        return auroc
    cells = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    reps = []
    for idx in resamples:
        take = np.concatenate([cells[i] for i in idx if i in cells] or [np.zeros(0, int)])
        ok = take.size and y[take].any() and not y[take].all()
        reps.append(float(roc_auc_score(y[take], prob[take])) if ok else math.nan)
    return auroc, reps


def objectness_probe(features: list[np.ndarray], masks: list, folds: int = 5,
                     max_cells: int = 256, seed: int = 0, groups=None, resamples=None) -> dict:
    """``{"auroc", "auroc_prior", "gain", "n_images", "n_cells", "inside_share", "reason"}``.

    ``features``: per image, the map cropped to its valid region [h_i, w_i, C]; ``masks``: per image,
    the [h_i, w_i] "inside a box" mask, or None for an image without boxes.  NaN with a reason when fewer
    than 2 images have boxes or no cell is outside (or inside) a box.  ``groups``: per image, a key shared
    by copies of one image (its content hash), kept in one fold so that no copy is scored by a model
    trained on another; default: every image its own.  ``resamples``: see ``oof_auroc``.
    """
    s = cell_samples(features, masks, max_cells=max_cells, seed=seed)
    if groups is not None and s["groups"].size:
        first: dict = {}  # a copy takes the index of the first image with its key: no copies, no change
        s["groups"] = np.asarray([first.setdefault(g, i) for i, g in enumerate(groups)])[s["groups"]]
    n_img = len(np.unique(s["groups"]))
    out = {"auroc": math.nan, "auroc_prior": math.nan, "gain": math.nan, "n_images": n_img,
           "n_cells": int(s["y"].size), "inside_share": float(s["y"].mean()) if s["y"].size else math.nan,
           "reason": None}
    if n_img < 2:
        out["reason"] = (f"{n_img} image(s) with boxes{' (copies counted once)' if groups is not None else ''}; "
                         f"the probe needs at least 2")
        return out
    if s["y"].all() or not s["y"].any():
        out["reason"] = "every sampled cell is " + ("inside" if s["y"].all() else "outside") + " a box"
        return out
    if not np.isfinite(s["x"]).all():
        out["reason"] = "non-finite features"
        return out
    if resamples is None:
        out["auroc"] = oof_auroc(s["x"], s["y"], s["groups"], folds)
    else:  # ``boot``: the AUROC on each bootstrap resample of the images (``oof_auroc``)
        out["auroc"], out["boot"] = oof_auroc(s["x"], s["y"], s["groups"], folds, resamples)
    out["auroc_prior"] = oof_auroc(s["pos"], s["y"], s["groups"], folds)
    out["gain"] = out["auroc"] - out["auroc_prior"]
    return out
