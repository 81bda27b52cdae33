"""How well a collapsed feature map's activation lands inside annotated boxes.

Input: a 2-D map ``m`` [h, w] that covers exactly the image (already cropped
to the image area, e.g. the valid region of a letterboxed input) and boxes in
normalised image coordinates (``bbselect.inputs.boxmodel.Box`` or any
``(x0, y0, x1, y1, ...)`` sequence, 0..1, x to the right, y down).

Map cells.  Cell (i, j) covers ``[j/w, (j+1)/w) x [i/h, (i+1)/h)``; it is
*inside* a box when its centre ``((j+0.5)/w, (i+0.5)/h)`` lies in the
half-open box ``[x0, x1) x [y0, y1)`` (half-open, so boxes that tile the image
claim every cell exactly once).  A box smaller than a cell may contain no
centre; so that every box counts, the cell containing the box's centre is
always marked too.  The mask is the union over boxes.

Scores:

``mass_ratio``
    On ``p = m - min(m)``: (share of the mass of p inside the mask) /
    (share of map cells inside the mask).  1 = no better than spreading the
    activation evenly, > 1 = concentrated in the boxes, < 1 = avoids them.
    The area share is the mask's cell share (not the exact box area), so the
    chance level is exactly 1 at the map's resolution.
``auroc``
    Area under the ROC curve of the per-cell values as a detector of "inside
    a box" (``sklearn.metrics.roc_auc_score``; tied values count 1/2): the
    probability that a random inside cell is brighter than a random outside
    cell.  0.5 = chance, 1 = every inside cell beats every outside cell.
``pointing``
    Pointing game: is the map's maximum inside a box?  Ties are split: the
    score is the share of the maximal cells that lie inside, i.e. the hit
    probability when the tie is broken uniformly at random.  Without ties it
    is exactly 1.0 or 0.0.

Degenerate cases give NaN plus a reason (``score_boxes(...)["degenerate"]``):
a map that ``bbselect.scoring.mapscores.degenerate_reason`` refuses (too small,
non-finite, constant, or saturated: at least half of the cells tied at the
maximum, as with a ReLU6-clipped map; so a binary map whose "on" part covers
half the image or more is NaN too),
an image without boxes (mask all out), or boxes covering every cell (mask all
in, nothing to compare against).  All three scores are unchanged by a positive
scaling of the map and by adding a constant.

Pure numpy (plus scikit-learn's AUROC): no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.scoring import registry
from bbselect.scoring.mapscores import degenerate_reason
from bbselect.scoring.registry import ScoreSpec


def box_mask(shape: tuple[int, int], boxes) -> np.ndarray:
    """Boolean [h, w] mask of the cells inside any box (see the module docstring)."""
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be (h, w) with h, w >= 1; got {shape}")
    mask = np.zeros((h, w), dtype=bool)
    cx = (np.arange(w) + 0.5) / w
    cy = (np.arange(h) + 0.5) / h
    for b in boxes:
        x0, y0, x1, y1 = (float(v) for v in tuple(b)[:4])
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box must have x1 > x0 and y1 > y0; got {tuple(b)[:4]}")
        cols = (cx >= x0) & (cx < x1)
        rows = (cy >= y0) & (cy < y1)
        mask |= rows[:, None] & cols[None, :]
        # the cell holding the box centre, so a sub-cell box still marks one cell
        j = min(w - 1, max(0, int(math.floor(0.5 * (x0 + x1) * w))))
        i = min(h - 1, max(0, int(math.floor(0.5 * (y0 + y1) * h))))
        mask[i, j] = True
    return mask


def _prepare(m: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    a = np.asarray(m, dtype=np.float64)
    k = np.asarray(mask, dtype=bool)
    if a.shape != k.shape:
        raise ValueError(f"map shape {a.shape} and mask shape {k.shape} differ")
    if _reason(a, k) is not None:
        return None
    return a.ravel(), k.ravel()


def _reason(a: np.ndarray, k: np.ndarray) -> str | None:
    r = degenerate_reason(a)
    if r is not None:
        return r
    inside = int(k.sum())
    if inside == 0:
        return "no box on this image"
    if inside == k.size:
        return "boxes cover the whole image"
    return None


def mass_ratio(m: np.ndarray, mask: np.ndarray) -> float:
    """(mass share of ``m - min m`` inside the mask) / (cell share of the mask); NaN if degenerate."""
    prep = _prepare(m, mask)
    if prep is None:
        return math.nan
    x, k = prep
    p = x - x.min()
    total = float(p.sum())
    if not total > 0.0:
        return math.nan
    return float(p[k].sum() / total) / float(k.mean())


def auroc(m: np.ndarray, mask: np.ndarray) -> float:
    """AUROC of the cell values against the mask (ties count 1/2); NaN if degenerate."""
    from sklearn.metrics import roc_auc_score

    prep = _prepare(m, mask)
    if prep is None:
        return math.nan
    x, k = prep
    return float(roc_auc_score(k, x))


def pointing_game(m: np.ndarray, mask: np.ndarray) -> float:
    """Share of the maximal cells inside the mask (1.0 / 0.0 without ties); NaN if degenerate."""
    prep = _prepare(m, mask)
    if prep is None:
        return math.nan
    x, k = prep
    top = x == x.max()
    return float(k[top].sum() / top.sum())


def score_boxes(m: np.ndarray, boxes) -> dict:
    """All three box scores for one map and one image's boxes.

    Returns ``{"mass_ratio", "auroc", "pointing", "area_share", "degenerate"}``;
    ``area_share`` is the mask's cell share, ``degenerate`` None or the reason
    why the scores are NaN.
    """
    a = np.asarray(m, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"map must be 2-D; got shape {a.shape}")
    reason = degenerate_reason(a)
    mask = box_mask(a.shape, boxes) if a.size else np.zeros(a.shape, bool)
    if reason is None:
        reason = _reason(a, mask)
    out = {"mass_ratio": math.nan, "auroc": math.nan, "pointing": math.nan,
           "area_share": float(mask.mean()) if mask.size else math.nan,
           "degenerate": reason}
    if reason is None:
        out["mass_ratio"] = mass_ratio(a, mask)
        out["auroc"] = auroc(a, mask)
        out["pointing"] = pointing_game(a, mask)
    return out


# ---------------------------------------------------------------- registry entries (map, mask) -> float

registry.register(ScoreSpec(
    name="mass_ratio", title="box mass ratio", tier="boxes", range=(0.0, None), per_map=True, needs=("boxes",),
    path=("boxes", "maps", "{map}", "mass_ratio"), fn=mass_ratio,
    doc=(
        "Box mass ratio: share of the activation (above its minimum) inside the "
        "boxes divided by the boxes' share of the map; 1 = chance, above 1 = the "
        "activation sits in the boxes."
    ),
    studied=("validation",),
))
registry.register(ScoreSpec(
    name="auroc", title="box AUROC (per map)", tier="boxes", range=(0.0, 1.0), per_map=True, needs=("boxes",),
    path=("boxes", "maps", "{map}", "auroc"), fn=auroc,
    doc=(
        "Box AUROC: probability that a cell inside a box is brighter than a cell "
        "outside; 0.5 = chance, 1 = perfect."
    ),
))
registry.register(ScoreSpec(
    name="pointing", title="pointing game", tier="boxes", range=(0.0, 1.0), per_map=True, needs=("boxes",),
    path=("boxes", "maps", "{map}", "pointing"), fn=pointing_game,
    doc=(
        "Pointing game: 1 if the map's brightest cell is inside a box, else 0 "
        "(ties split); the mean over images is the hit rate."
    ),
    studied=("validation",),
))



def __getattr__(name: str):
    """``BOX_SCORE_NAMES`` / ``BOX_SCORE_DOCS``: read from the registry when asked."""
    if name == "BOX_SCORE_NAMES":
        return registry.names("boxes", per_map=True)
    if name == "BOX_SCORE_DOCS":
        return registry.docs(("boxes",))
    raise AttributeError(name)
