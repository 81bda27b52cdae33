"""LogME on ROI features: cheap, training-free transferability for a detector.

Follows the recipe of two papers on transferability for object detection:

* TLogME — L. Fouquet, S. Maggio, L. Dreyfus-Schmidt, "Transferability Metrics for Object
  Detection", 2023 (arXiv:2306.15306): local features of each ground-truth object by ROI-Align on
  the backbone's feature map, then LogME for the classification targets and for the box-regression
  targets, combined.
* Det-LogME — Z. Wang, A. Li, Z. Li, Q. Dou, "Efficient Transferability Assessment for Selection of
  Pre-trained Detectors", 2024 (arXiv:2403.09432): classification and regression sub-tasks scored in
  one framework on object-level features.

What is computed here (one backbone, one layer, all images of a run; ``bbselect.probes.roi`` makes
the features).  Every LogME value is the existing ``bbselect.probes.labels`` LogME (You et al.
2021; mean over target columns of maximised log evidence / n) — nothing is re-implemented:

``roi_logme``
    Object vs background: LogME of the object ROIs and as many background ROIs (regions of the
    same size away from every box) with the two labels {object, background}.  How linearly a
    frozen feature tells "there is an object here" from "there is none" — the first thing a
    detection head must learn.  Defined with a single class, so it is the headline ROI score.
``roi_logme_cls``
    Per class: LogME of the object and background ROIs with labels {class_1, ..., class_K,
    background} (the detector's classification sub-task, background included).  NaN with fewer
    than two object classes (it would equal ``roi_logme``).
``roi_logme_reg``
    Regression: LogME of the object ROIs predicting their own box (cx, cy, w, h, normalised to the
    image, each standardised over the boxes), mean over the four targets
    (``logme.logme_targets``: one SVD, evidence per column).  TLogME's localisation term.
``tlogme``
    Mean of the classification term (``roi_logme_cls`` when defined, else ``roi_logme``) and
    ``roi_logme_reg``: the TLogME-style combination.

Classes with a single ROI make LogME NaN (``labels.labelled_reason``); such boxes are pooled into
one ``"other"`` class for ``roi_logme_cls`` (and left out if that leaves a single one).  Values compare backbones on the same images and boxes,
never across data sets.  Pure numpy, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from bbselect.probes import logme as lm
from bbselect.probes.roi import image_rois

BACKGROUND = "__background__"
OTHER = "__other__"
ROI_SCORE_NAMES = ("roi_logme", "roi_logme_cls", "roi_logme_reg", "tlogme")


def collect(items, seed: int = 0) -> dict:
    """Stack ROI features over images.

    ``items``: iterable of ``(fmap [h, w, C], boxes, input_size, valid_hw)``, one per image with
    boxes (images without boxes contribute nothing).  Background ROIs of image i use the generator
    ``np.random.default_rng([seed, i])``, so the result does not depend on how images are batched.
    Returns ``objects`` [k, C], ``labels`` [k], ``coords`` [k, 4], ``background`` [m, C], ``n_images``.
    """
    objs, labs, coords, bgs, oi, bi = [], [], [], [], [], []
    n = 0
    for i, (fmap, boxes, input_size, valid_hw) in enumerate(items):
        boxes = list(boxes)
        if not boxes:
            continue
        n += 1
        r = image_rois(fmap, boxes, input_size, valid_hw, np.random.default_rng([seed, i]))
        objs.append(r["objects"])
        labs += r["labels"]
        coords.append(r["coords"])
        bgs.append(r["background"])
        oi.append(np.full(len(r["objects"]), i))
        bi.append(np.full(len(r["background"]), i))
    c = objs[0].shape[1] if objs else 0
    return {
        "objects": np.concatenate(objs) if objs else np.zeros((0, c)),
        "labels": np.asarray(labs, dtype=object),
        "coords": np.concatenate(coords) if coords else np.zeros((0, 4)),
        "background": np.concatenate(bgs) if bgs else np.zeros((0, c)),
        "n_images": n,
        "object_image": np.concatenate(oi) if oi else np.zeros(0, int),  # image index of each ROI
        "background_image": np.concatenate(bi) if bi else np.zeros(0, int),
    }


def resampled(rois: dict, idx) -> dict:
    """The ROIs of the images ``idx`` (an image drawn twice contributes its ROIs twice)."""
    def take(which):
        img = rois[which + "_image"]
        return np.concatenate([np.flatnonzero(img == i) for i in idx] or [np.zeros(0, int)])
    o, b = take("object"), take("background")
    return {"objects": rois["objects"][o], "labels": np.asarray(rois["labels"])[o], "coords": rois["coords"][o],
            "background": rois["background"][b], "n_images": len(idx),
            "object_image": rois["object_image"][o], "background_image": rois["background_image"][b]}


def roi_logme(objects: np.ndarray, background: np.ndarray) -> float:
    """LogME with labels object / background (NaN if either side is empty)."""
    if len(objects) == 0 or len(background) == 0:
        return math.nan
    f = np.concatenate([objects, background])
    y = np.asarray(["object"] * len(objects) + [BACKGROUND] * len(background))
    return lm.logme(f, y)


def class_labels(labels) -> np.ndarray:
    """Object labels with classes seen only once merged into ``OTHER`` (LogME needs >= 2 each)."""
    labels = [str(v) for v in labels]
    count = Counter(labels)
    return np.asarray([v if count[v] >= 2 else OTHER for v in labels])


def roi_logme_cls(objects: np.ndarray, labels, background: np.ndarray) -> float:
    """LogME with labels {classes..., background}; NaN with fewer than two object classes."""
    y = class_labels(labels)
    count = Counter(y.tolist())
    keep = np.asarray([count[v] >= 2 for v in y.tolist()], dtype=bool).reshape(-1)
    y = y[keep]
    if len(set(y.tolist())) < 2 or len(background) == 0:
        return math.nan
    f = np.concatenate([np.asarray(objects)[keep], background])
    return lm.logme(f, np.concatenate([y, np.asarray([BACKGROUND] * len(background))]))


def roi_logme_reg(objects: np.ndarray, coords: np.ndarray) -> float:
    """Mean over (cx, cy, w, h), each standardised, of LogME's maximised evidence / n."""
    f = np.asarray(objects, dtype=np.float64)
    t = np.asarray(coords, dtype=np.float64)
    n = f.shape[0]
    if n < 2 or not np.isfinite(f).all() or not (f.max(axis=0) > f.min(axis=0)).any():
        return math.nan
    sd = t.std(axis=0)
    keep = sd > 0
    if not keep.any():
        return math.nan
    return lm.logme_targets(f, (t[:, keep] - t[:, keep].mean(axis=0)) / sd[keep])


def roi_scores(rois: dict) -> dict:
    """All four ROI scores plus counts (``n_objects``, ``n_background``, ``n_images``, ``n_classes``)."""
    obj, bg = rois["objects"], rois["background"]
    ob = roi_logme(obj, bg)
    cls = roi_logme_cls(obj, rois["labels"], bg)
    reg = roi_logme_reg(obj, rois["coords"])
    first = cls if math.isfinite(cls) else ob
    both = [v for v in (first, reg) if math.isfinite(v)]
    return {
        "roi_logme": ob, "roi_logme_cls": cls, "roi_logme_reg": reg,
        "tlogme": float(np.mean(both)) if len(both) == 2 else math.nan,
        "n_objects": int(len(obj)), "n_background": int(len(bg)), "n_images": int(rois["n_images"]),
        "n_classes": len(set(str(v) for v in rois["labels"])),
    }
