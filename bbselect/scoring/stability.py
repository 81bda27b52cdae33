"""Neighbourhood stability under augmentation: a label-free score of pooled features (pure numpy).

For each image, how much of its neighbourhood in feature space survives an augmentation:

1. pooled features of the originals ``X`` [n, d] and of one augmented view per image ``V`` [n, d]
   (``m`` view sets: ``V`` [m, n, d]);
2. both standardised with the **originals'** per-channel mean and std (a channel constant on the
   originals is only centred), then L2-normalised;
3. the ``k`` cosine nearest neighbours of image i among the originals, and of its view among the
   views of the same set (self excluded in both);
4. the Jaccard overlap of the two neighbour sets; per image the mean over its ``m`` views; the score
   is the mean over images. Higher is better; 1 = every neighbourhood survives.

**Augmentation retrieval** comes free with the same features: the share of views whose nearest
original (cosine, same standardisation) is their own image (top-1).

Not defined with fewer than ``3 * k`` images (30 at k = 10): two random k-sets out of n - 1 share
k² / (n - 1) members on average, so the overlap would be large by chance alone. An image whose
standardised original or view is the zero vector (a dead network) has no neighbours: NaN, never a tie-broken 1.
Similarities are exact (``on_grid``), so neighbours and their tie order (by index) do not depend on
blocking, shards or the BLAS.

The statistics over images (bootstrap interval, ``paired_bootstrap``) live in ``scoring/stats.py``; one
backbone's stability entry, the paired comparisons between backbones and the verdict's "how sure" text
in ``scoring/stability_summary.py``.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.common import CONSTANT_RTOL
from bbselect.scoring import registry
from bbselect.scoring.registry import ScoreSpec

DEFAULT_K = 10
MIN_IMAGES_PER_K = 3  # fewer than 3 * k images: not defined
_BLOCK = 1024  # rows of the similarity matrix computed at once (memory ~ _BLOCK * n floats)
_ZERO = 1e-12
GRID_BITS = 26  # unit vectors are rounded to multiples of 2**-26 before any dot product (``on_grid``)


def min_images(k: int = DEFAULT_K) -> int:
    """The fewest images for which the score is defined."""
    return MIN_IMAGES_PER_K * int(k)


def undefined_reason(n: int, k: int = DEFAULT_K) -> str | None:
    """Why the score is not defined for ``n`` images (None when it is)."""
    if k < 1:
        return f"k must be at least 1, got {k}"
    if n < min_images(k):
        return (f"{n} images is fewer than 3 × k = {min_images(k)}: the {k} nearest neighbours would be "
                f"a third of the folder or more, so neighbourhoods overlap by chance alone "
                f"(≈ {k * k / max(1, n - 1):.1f} of {k} shared at random)")
    return None


def standardise(orig: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Standardise with the originals' mean and std, then L2-normalise each row.

    A channel whose std on the originals is below ``common.CONSTANT_RTOL`` of the layer's largest absolute value is
    constant (centred but not scaled): the test is scale-free, like the dead-channel test. Rows that end up (numerically)
    zero stay zero. Returns ``[orig, *others]`` transformed, float64."""
    x = np.asarray(orig, np.float64)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    # "varies" is relative to the layer's own magnitude (float32 features carry ~7 digits), so a
    # random-init layer whose activations are ~1e-16 but differ between images is still scored
    scale = np.where(sd > CONSTANT_RTOL * float(np.abs(x).max(initial=0.0)), sd, 1.0)
    out = []
    for a in (x, *others):
        z = (np.asarray(a, np.float64) - mu) / scale
        norm = np.linalg.norm(z, axis=-1, keepdims=True)
        out.append(np.where(norm > _ZERO, z / np.where(norm > _ZERO, norm, 1.0), 0.0))
    return out


def _zero_rows(z: np.ndarray) -> np.ndarray:
    return ~(np.abs(z) > 0).any(axis=1)


def on_grid(z: np.ndarray) -> np.ndarray:
    """Unit rows times ``2**GRID_BITS``, rounded to integers: their similarities are exact whatever the
    BLAS, block shape or summation order (a float dot product rounds differently in different shapes, so
    ties and the k-th neighbour would depend on ``_BLOCK``, shards or the machine). Entries are <= 2**26
    and (Cauchy-Schwarz) every partial sum of a row pair is <= (2**26 + sqrt(d)/2)**2 < 2**53 for
    d < 2**20: integers float64 holds exactly. A coordinate moves by <= 2**-27, below float32 precision."""
    return np.rint(np.asarray(z, np.float64) * float(2 ** GRID_BITS))


def similarities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b.T  # [len(a), len(b)], exact for rows ``on_grid`` (cosines scaled by 4**GRID_BITS)


def knn_indices(z: np.ndarray, k: int) -> np.ndarray:
    """[n, k] indices of each row's k largest cosine similarities among the other rows (self excluded).

    Rows are L2-normalised already; similarities are exact (``on_grid``). Ties go by index: the first k
    of a stable sort of each row by descending similarity, found without sorting whole rows (the k-th
    largest by ``np.partition``, then only the entries at or above it are ordered): O(n^2), not O(n^2 log n)."""
    n = z.shape[0]
    q = on_grid(z)
    out = np.empty((n, k), np.int64)
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        s = similarities(q[start:stop], q)
        s[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        kth = np.partition(s, n - k, axis=1)[:, n - k]  # each row's k-th largest similarity
        rows, cols = np.nonzero(s >= kth[:, None])  # >= k per row (more when values tie), row-major
        order = np.lexsort((cols, -s[rows, cols], rows))  # by row, then similarity down, then index
        first = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=stop - start))[:-1]])
        out[start:stop] = cols[order][first[:, None] + np.arange(k)]
    return out


def jaccard_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, |A ∩ B| / |A ∪ B| of two [n, k] index sets (each row's entries distinct)."""
    k = a.shape[1]
    inter = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
    return inter / (2 * k - inter)


def _as_view_sets(orig: np.ndarray, views: np.ndarray) -> np.ndarray:
    v = np.asarray(views)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[1:] != np.shape(orig):
        raise ValueError(f"views must have shape [n, d] or [m, n, d] matching originals {np.shape(orig)}, "
                         f"got {np.shape(views)}")
    return v


def stability_per_image(orig: np.ndarray, views: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """Per-image neighbourhood stability [n] (mean over the m view sets; NaN where undefined).

    ``orig`` [n, d]; ``views`` [n, d] or [m, n, d] (view set j holds one view of every image).
    Raises ValueError when the score is not defined for n images (see ``undefined_reason``)."""
    orig = np.asarray(orig)
    if orig.ndim != 2:
        raise ValueError(f"originals must be [n, d], got shape {orig.shape}")
    vsets = _as_view_sets(orig, views)
    why = undefined_reason(orig.shape[0], k)
    if why:
        raise ValueError(why)
    zo, *zvs = standardise(orig, *vsets)
    dead_o = _zero_rows(zo)
    nn_o = knn_indices(zo, k)
    vals = []
    for zv in zvs:
        j = jaccard_rows(nn_o, knn_indices(zv, k)).astype(np.float64)
        j[dead_o | _zero_rows(zv)] = np.nan
        vals.append(j)
    return _mean_over_views(vals)


def _mean_over_views(vals: list[np.ndarray]) -> np.ndarray:
    """Per image, the mean over its view sets of the finite values (NaN when none is)."""
    with np.errstate(invalid="ignore"):
        v = np.stack(vals)
        out = np.full(v.shape[1], np.nan)
        ok = np.isfinite(v).any(axis=0)
        out[ok] = np.nanmean(v[:, ok], axis=0)
    return out


def retrieval_per_image(orig: np.ndarray, views: np.ndarray) -> np.ndarray:
    """Per image, the share of its views whose nearest original (cosine, exact on the grid; a tie goes
    to the lower index) is itself (top-1), [n].

    NaN where the original or every view is the zero vector after standardisation."""
    orig = np.asarray(orig)
    vsets = _as_view_sets(orig, views)
    zo, *zvs = standardise(orig, *vsets)
    n = zo.shape[0]
    dead_o = _zero_rows(zo)
    qo = on_grid(zo)
    hits = []
    for zv in zvs:
        h = np.empty(n)
        for start in range(0, n, _BLOCK):
            stop = min(n, start + _BLOCK)
            s = similarities(on_grid(zv[start:stop]), qo)
            h[start:stop] = np.argmax(s, axis=1) == np.arange(start, stop)
        h[dead_o | _zero_rows(zv)] = np.nan
        hits.append(h)
    return _mean_over_views(hits)


def chance_jaccard(n: int, k: int = DEFAULT_K) -> float:
    """Expected Jaccard overlap of two independent uniformly random k-subsets of n - 1 neighbours.

    The value a network whose view neighbourhoods have nothing to do with the originals' gets: the
    intersection I is hypergeometric (population n - 1, k marked, k drawn) and J = I / (2k - I)."""
    pop = n - 1
    if k > pop:
        raise ValueError(f"k = {k} needs more than {k} other images, got n = {n}")
    total = 0.0
    for i in range(0, k + 1):
        if k - i > pop - k:
            continue
        p = math.comb(k, i) * math.comb(pop - k, k - i) / math.comb(pop, k)
        total += p * i / (2 * k - i)
    return total


def neighbourhood_stability(orig: np.ndarray, views: np.ndarray, k: int = DEFAULT_K) -> dict:
    """Both scores and their per-image values, or the reason they are not defined.

    Returns ``{"stability": float, "retrieval": float, "per_image": [n], "retrieval_per_image": [n],
    "n", "k", "m", "chance": float, "reason": None | str}`` (NaN means and ``reason`` set when the
    score is not defined)."""
    orig = np.asarray(orig)
    vsets = _as_view_sets(orig, views)
    n, m = orig.shape[0], vsets.shape[0]
    why = undefined_reason(n, k)
    if why:
        nan = np.full(n, np.nan)
        return {"stability": math.nan, "retrieval": math.nan, "per_image": nan, "retrieval_per_image": nan,
                "n": n, "k": k, "m": m, "chance": math.nan, "reason": why}
    st = stability_per_image(orig, vsets, k)
    rt = retrieval_per_image(orig, vsets)
    reason = None
    if not np.isfinite(st).any():
        reason = "the pooled features are the same for every image (no channel varies): no neighbourhoods"
    with np.errstate(invalid="ignore"):
        s_mean = float(np.nanmean(st)) if np.isfinite(st).any() else math.nan
        r_mean = float(np.nanmean(rt)) if np.isfinite(rt).any() else math.nan
    return {"stability": s_mean, "retrieval": r_mean, "per_image": st, "retrieval_per_image": rt,
            "n": n, "k": k, "m": m, "chance": chance_jaccard(n, k), "reason": reason}


def neighbours_of(orig: np.ndarray, views: np.ndarray, queries, k: int = DEFAULT_K) -> list[dict]:
    """For each query image index: its k nearest originals and its first view's k nearest views
    (self excluded, nearest first), and their Jaccard overlap — what the stability figure shows."""
    grids = [on_grid(z) for z in standardise(orig, _as_view_sets(orig, views)[0])]
    out = []
    for q in queries:
        row = []
        for g in grids:
            s = similarities(g, g[q:q + 1])[:, 0]
            s[q] = -np.inf
            row.append([int(i) for i in np.argsort(-s, kind="stable")[:k]])
        a, b = row
        out.append({"image": int(q), "orig": a, "view": b, "jaccard": len(set(a) & set(b)) / len(set(a) | set(b))})
    return out


registry.register(ScoreSpec(
    name="stability", title="neighbourhood stability", tier="label-free", range=(0.0, 1.0), path=("stability",),
    fn=stability_per_image,
    doc="Neighbourhood stability: per image, the Jaccard overlap of its k nearest neighbours among the "
        "originals and its augmented view's k nearest neighbours among the views (pooled features, "
        "standardised with the originals' statistics, cosine); 1 = every neighbourhood survives the "
        "augmentation. Not defined below 3 × k images.",
    method="Neighbourhood stability: its mean over images with a 95% bootstrap interval; ties from a paired "
           "bootstrap of the per-image difference on the same images.",
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="augmentation_retrieval", title="augmentation retrieval", tier="label-free", range=(0.0, 1.0),
    path=("stability", "retrieval"), fn=retrieval_per_image,
    doc="Augmentation retrieval: share of augmented views whose nearest original (cosine) is their own image.",
    studied=("validation", "zoo"),
))
