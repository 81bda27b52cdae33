"""Cheap box-aware transferability of one backbone: ROI-LogME, TLogME and the objectness probe.

The glue between the fitted probes (``bbselect.probes.roilogme``, ``bbselect.probes.objectness``) and
a run: from the feature tensors the detection probe uses (one backbone's ``[h, w, C]`` map per image,
the image content's ``valid_hw`` and its boxes) to one dict of numbers, each NaN with a reason when it
cannot be computed (never 0).  ``runs/probe.py`` stores the dict per backbone in ``probe.json``
(``roi``); ``attach`` puts it into the backbone's summary entry under ``roi``, where the registry's
``path`` finds it.  These scores describe; with the probe the verdict ranks by ``det_map50``, and
without it ``validated.box_choice`` may rank by one of them only where the validation study supports
it (validated.json names them by these registry names; ``studies/validation/plan.py`` tests them).

Geometry is the study's: ROI-Align on the whole map with the letterbox geometry; the objectness
probe on the map cropped to the image content, target = ``boxscores.box_mask``.  Deterministic for a
seed (background ROIs and the probe's cell subsample are seeded per image).  Pure numpy, no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.inputs.decode import valid_map_region
from bbselect.probes import objectness, roilogme
from bbselect.scoring import registry
from bbselect.scoring.boxscores import box_mask
from bbselect.scoring.registry import ScoreSpec

KEY = "roi"  # probe.json's key and the summary entry's key
LIMITS = ("What this can tell: how well a frozen backbone's features tell your annotated objects from the "
          "background without training a detector (95% bootstrap interval over images; a difference whose "
          "paired interval holds 0 is a tie). What it cannot tell: detection accuracy after training a head; "
          "--probe detection measures that.")
# bootstrap over images: the SAME resamples for every backbone (same images, same seed), so the
# difference of two backbones' replicates is a paired bootstrap; ROI scores refit LogME per resample
N_BOOT = {"objectness": 200, "roi_logme": 100, "tlogme": 100}
NAMES = ("roi_logme", "roi_logme_cls", "roi_logme_reg", "tlogme", "objectness", "objectness_prior",
         "objectness_gain")
FOLDS = 5


def nan_reasons(s: dict, objectness_reason: str | None) -> dict[str, str]:
    """Why each NaN score is NaN (only the NaN ones), from the scores and counts of ``backbone_scores``."""
    out = {}
    no_boxes = "no annotated object among the probe's images"
    if not math.isfinite(s["roi_logme"]):
        out["roi_logme"] = (no_boxes if not s["n_objects"] else
                            "no background region of a box's size fits away from the boxes" if not s["n_background"]
                            else "object and background ROI features cannot be scored (too few, constant or non-finite)")
    if not math.isfinite(s["roi_logme_cls"]):
        out["roi_logme_cls"] = (no_boxes if not s["n_objects"] else
                                out["roi_logme"] if not s["n_background"] else
                                "fewer than two object classes with two boxes each; it would equal ROI-LogME"
                                if s["n_classes"] < 2 else
                                "class ROI features cannot be scored (too few, constant or non-finite)")
    if not math.isfinite(s["roi_logme_reg"]):
        out["roi_logme_reg"] = (no_boxes if not s["n_objects"] else
                                "fewer than two boxes, boxes all alike, or constant ROI features")
    if not math.isfinite(s["tlogme"]):
        out["tlogme"] = "needs both its classification term and its regression term: " + (
            out.get("roi_logme_reg") or out.get("roi_logme") or "one is n/a")
    for k in ("objectness", "objectness_prior", "objectness_gain"):
        if not math.isfinite(s[k]):
            out[k] = objectness_reason or "the probe's cells cannot be scored"
    return out


def backbone_scores(features, valid_hw, boxes, input_size: int, seed: int = 0, folds: int = FOLDS,
                    groups=None) -> dict:
    """All ROI and objectness scores of one backbone.

    ``features``: per image, the full ``[h, w, C]`` map of the square ``input_size`` input;
    ``valid_hw``: per image, the content's (rows, cols) in input pixels; ``boxes``: per image, its
    normalised boxes (empty = no objects; such an image adds nothing, as in the study); ``groups``: per
    image, its content hash (copies share a fold of the objectness probe).  Returns the
    ``NAMES`` values, counts (``n_objects``, ``n_background``, ``n_classes``, ``n_images``,
    ``n_cells``) and ``reasons`` for the NaN ones."""
    features, valid_hw, boxes = list(features), [tuple(v) for v in valid_hw], [list(b) for b in boxes]
    rois = roilogme.collect(((f, b, input_size, v) for f, b, v in zip(features, boxes, valid_hw)), seed=seed)
    roi = roilogme.roi_scores(rois)
    draws = {k: np.random.default_rng([seed, 7]).integers(0, len(features), (n, len(features)))
             for k, n in N_BOOT.items()}
    boot = {k: [] for k in ("roi_logme", "tlogme")}
    if math.isfinite(roi["roi_logme"]) or math.isfinite(roi["tlogme"]):
        for idx in draws["roi_logme"]:
            r = roilogme.roi_scores(roilogme.resampled(rois, idx))
            for k in boot:
                boot[k].append(float(r[k]))
    crops, masks = [], []
    for f, b, v in zip(features, boxes, valid_hw):
        r, c = valid_map_region(v, input_size, f.shape[:2])
        crops.append(f[:r, :c])
        masks.append(box_mask((r, c), b) if b else None)
    obj = objectness.objectness_probe(crops, masks, folds=folds, seed=seed, groups=groups,
                                      resamples=draws["objectness"])
    boot["objectness"] = obj.get("boot") or []
    out = {**{k: float(roi[k]) for k in roilogme.ROI_SCORE_NAMES},
           "objectness": obj["auroc"], "objectness_prior": obj["auroc_prior"], "objectness_gain": obj["gain"],
           "n_objects": roi["n_objects"], "n_background": roi["n_background"], "n_classes": roi["n_classes"],
           "n_images": roi["n_images"], "n_cells": obj["n_cells"]}
    out["reasons"] = nan_reasons(out, obj["reason"])
    out["boot"] = boot
    return out


def add_intervals(entries: list[dict], name: str, level: float = 0.95) -> None:
    """Give each entry's ``primary`` (ranked by the cheap score ``name``) its bootstrap interval over
    images and, against every other entry, the paired difference (``paired``: label -> diff, lo, hi,
    tied): a difference whose interval holds 0 is a tie (``ranking`` reads ``paired``)."""
    a = (1 - level) / 2 * 100
    reps = {e["label"]: np.asarray(((e.get(KEY) or {}).get("boot") or {}).get(name) or [], float) for e in entries}
    for e in entries:
        mine = reps[e["label"]]
        if mine.size < 20 or not np.isfinite(mine).any():
            continue
        lo, hi = np.nanpercentile(mine, [a, 100 - a])
        paired = {}
        for o in entries:
            theirs = reps[o["label"]]
            if o is e or theirs.shape != mine.shape:
                continue
            d = mine - theirs
            d = d[np.isfinite(d)]
            if d.size >= 20:
                dlo, dhi = np.percentile(d, [a, 100 - a])
                paired[o["label"]] = {"diff": float(np.mean(d)), "lo": float(dlo), "hi": float(dhi),
                                      "tied": bool(dlo <= 0 <= dhi)}
        e["primary"].update(lo=float(lo), hi=float(hi), paired=paired)


def from_probe(roi: dict | None, label: str) -> dict | None:
    """One backbone's scores as the probe saved them (``probe.json``'s ``roi``: label -> dict), nulls read
    back from JSON as NaN; None when it has none."""
    s = (roi or {}).get(label)
    if s is None:
        return None
    return {k: (float(v) if isinstance(v, (int, float)) and k in NAMES else math.nan if k in NAMES else v)
            for k, v in s.items()}


def section(inputs) -> dict | None:
    """The ``roi`` section of a backbone entry: its cheap box scores from the run's probe results."""
    return from_probe((inputs.probe or {}).get(KEY), inputs.label)


def reason(entry: dict, name: str) -> str | None:
    """Why a backbone's ``name`` is NaN (None when it has a value or was never computed)."""
    return ((entry.get(KEY) or {}).get("reasons") or {}).get(name)


# ---------------------------------------------------------------- registry entries

_ROI = ("ROI features by ROI-Align of each annotated box on the frozen feature map (background: "
        "regions of the same size away from every box), scored by LogME (You et al. 2021), after "
        "TLogME (Fouquet et al. 2023, arXiv:2306.15306) and Det-LogME (Wang et al. 2024, "
        "arXiv:2403.09432); no training; compare backbones on the same images only.")
_OBJ = ("A logistic regression on each map cell's channels predicting 'inside a box', folds by image; "
        "AUROC of its out-of-fold probabilities over the cells (0.5 = chance).")

_PROBE = {"needs": ("probe",), "compute": section}

registry.register(ScoreSpec(
    name="roi_logme", title="ROI-LogME", tier="boxes", **_PROBE, kind="logme", path=(KEY, "roi_logme"), fn=roilogme.roi_logme,
    doc="ROI-LogME: LogME of object ROIs vs background ROIs (can a linear model tell 'object here'). " + _ROI,
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="roi_logme_cls", title="ROI-LogME (classes)", tier="boxes", **_PROBE, kind="logme", path=(KEY, "roi_logme_cls"),
    fn=roilogme.roi_logme_cls,
    doc="ROI-LogME over the classes plus background (n/a with fewer than two classes). " + _ROI,
))
registry.register(ScoreSpec(
    name="roi_logme_reg", title="ROI-LogME (box regression)", tier="boxes", **_PROBE, kind="logme", path=(KEY, "roi_logme_reg"),
    fn=roilogme.roi_logme_reg,
    doc="LogME of the object ROIs predicting their own box (centre, width, height; standardised). " + _ROI,
))
registry.register(ScoreSpec(
    name="tlogme", title="TLogME", tier="boxes", **_PROBE, kind="logme", path=(KEY, "tlogme"), fn=roilogme.roi_scores,
    doc="TLogME: mean of the classification term (per-class ROI-LogME, else object vs background) and the "
        "box-regression term. " + _ROI,
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="objectness", title="objectness-probe AUROC", tier="boxes", range=(0.0, 1.0),
    **_PROBE, kind="number", path=(KEY, "objectness"), fn=objectness.objectness_probe, doc="Objectness probe: " + _OBJ,
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="objectness_gain", title="objectness gain over the position prior", tier="boxes", range=(-1.0, 1.0),
    **_PROBE, kind="signed", path=(KEY, "objectness_gain"), fn=objectness.objectness_probe,
    doc="Objectness-probe AUROC minus the same probe on the cell's position alone (where boxes usually "
        "are); above 0 = the features add to position. " + _OBJ,
    studied=("validation", "zoo"),
))


__all__ = ["KEY", "LIMITS", "NAMES", "from_probe", "backbone_scores", "nan_reasons", "reason", "section"]
