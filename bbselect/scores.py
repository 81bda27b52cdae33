"""Scores for collapsed feature maps, and the statistics used to rank backbones.

A backbone turns an image into a feature map of shape [h, w, C].  The tool
collapses it over channels into per-pixel maps (channel max, channel mean,
channel sum) and asks how cleanly each map separates a salient region from
background.  Three scores are computed for a 2-D map ``m``:

``otsu``
    Otsu's separability criterion eta = between-class variance at the best
    two-class threshold / total variance, computed exactly over the sorted
    unique values (no 256-bin histogram).
``top10_mass``
    On ``m - min(m)``: the share of total mass held by the top 10 % of
    pixels, rescaled so that an evenly spread map gives 0 and a map whose
    mass sits entirely in those pixels gives 1.
``concentration``
    ``1 - H(p) / log(n)`` with ``p = (m - min m) / sum``: 0 = mass spread
    evenly over all pixels, 1 = all mass in a single pixel.

Invariances.  All three scores are unchanged by a positive scaling ``c * m``
(c > 0) and by adding a constant.  The channel-sum map equals C times the
channel-mean map, so it gets exactly the same scores as the mean map; the tool
therefore scores the max and mean maps only.

Degenerate maps.  A map that is constant (e.g. a MobileNet channel-max map that
saturates at the ReLU6 ceiling of 6 everywhere, or a random-init map), too
small, or non-finite carries no information about where anything is.  Such a
map gets NaN scores plus a plain-language reason (``MapScores.degenerate``);
it is never scored 0 and nothing is divided by a near-zero spread.  Note that
an exactly uniform map is therefore NaN, not 0: the "0" end of ``top10_mass``
and ``concentration`` is the limit of nearly-even, non-constant maps.

Everything here is pure numpy: no I/O, no plotting, no framework imports.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

SCORE_NAMES = ("otsu", "top10_mass", "concentration")

SCORE_DOCS: dict[str, str] = {
    "otsu": (
        "Otsu separability: share of the map's variance explained by the best "
        "two-level (region vs background) split; 0 to 1, higher = cleaner "
        "two-class separation."
    ),
    "top10_mass": (
        "Top-10% mass: how much of the map's activation (above its minimum) "
        "sits in its brightest 10% of pixels, rescaled so even spread = 0 and "
        "everything in those pixels = 1; 0 to 1, higher = more focused."
    ),
    "concentration": (
        "Concentration: 1 minus the normalised entropy of the activation "
        "(above its minimum) over pixels; 0 = spread evenly over the whole "
        "image, 1 = all in one pixel; higher = more concentrated."
    ),
}

_MIN_PIXELS = 4
SATURATED_SHARE = 0.5  # a map with at least this share of pixels tied at its maximum is "saturated"


class MapScores(NamedTuple):
    otsu: float
    top10_mass: float
    concentration: float
    degenerate: str | None


# --------------------------------------------------------------------------
# degenerate maps
# --------------------------------------------------------------------------

def _shape_str(shape: tuple[int, ...]) -> str:
    return "×".join(str(int(s)) for s in shape) if shape else "scalar"


def _unscorable_reason(a: np.ndarray, rtol: float) -> str | None:
    """Maps the score formulas cannot handle at all: too small, non-finite, constant."""
    if a.size < _MIN_PIXELS:
        return f"too few pixels ({_shape_str(a.shape)})"
    finite = np.isfinite(a)
    if not finite.all():
        return f"non-finite values ({int(a.size - finite.sum())} of {a.size} pixels)"
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= rtol * max(1.0, abs(hi), abs(lo)):
        return f"constant map (all {hi:.6g})" if hi == lo else (
            f"constant map (all ≈{hi:.6g}, spread {hi - lo:.3g})")
    return None


def degenerate_reason(m: np.ndarray, rtol: float = 1e-6) -> str | None:
    """Return None if ``m`` should be scored, else a short human-readable reason.

    Checks, in order: empty / fewer than 4 pixels, non-finite values, and
    constant maps, where "constant" means
    ``(max - min) <= rtol * max(1, |max|, |min|)``.  The floor of 1 makes the
    test absolute for maps whose values are all tiny (|values| < 1).  Last,
    saturated maps: when at least half of the pixels sit at the maximum (within
    the same tolerance) the map is clipped at an activation ceiling (ReLU6 = 6);
    the few pixels below the ceiling would otherwise give a misleadingly high
    Otsu score.  In natural maps the maximum is reached by one or a few pixels.
    (The score functions themselves only refuse the first three cases, so they
    stay plain formulas; ``score_map`` applies the whole policy.)
    """
    a = np.asarray(m, dtype=np.float64)
    reason = _unscorable_reason(a, rtol)
    if reason:
        return reason
    hi = float(a.max())
    at_max = float(np.mean(a >= hi - rtol * max(1.0, abs(hi))))
    if at_max >= SATURATED_SHARE:
        return f"saturated map ({100 * at_max:.0f}% of pixels at the maximum {hi:.6g})"
    return None


def _check(m: np.ndarray) -> np.ndarray | None:
    """Flattened float64 copy of ``m``, or None when it is degenerate."""
    a = np.asarray(m, dtype=np.float64)
    if _unscorable_reason(a, 1e-6) is not None:
        return None
    return a.ravel()


# --------------------------------------------------------------------------
# the three scores
# --------------------------------------------------------------------------

def _otsu(m: np.ndarray) -> tuple[float, float]:
    """(eta, threshold); class 0 is ``m <= threshold``.  NaNs if degenerate."""
    x = _check(m)
    if x is None:
        return math.nan, math.nan
    n = x.size
    mean = x.mean()
    total_var = float(np.mean((x - mean) ** 2))
    if not total_var > 0.0:
        return math.nan, math.nan
    uniq, counts = np.unique(x, return_counts=True)
    if uniq.size < 2:
        return math.nan, math.nan
    c = uniq - mean                      # centred values: better round-off
    cum_n = np.cumsum(counts)[:-1].astype(np.float64)
    cum_s = np.cumsum(c * counts)[:-1]
    tot_s = float(np.sum(c * counts))
    w0 = cum_n / n
    w1 = 1.0 - w0
    mu0 = cum_s / cum_n
    mu1 = (tot_s - cum_s) / (n - cum_n)
    between = w0 * w1 * (mu0 - mu1) ** 2
    i = int(np.argmax(between))          # first maximum on ties
    eta = float(np.clip(between[i] / total_var, 0.0, 1.0))
    return eta, float(uniq[i])


def otsu_separability(m: np.ndarray) -> float:
    """Otsu's eta in [0, 1] (exact, over sorted unique values); NaN if degenerate."""
    return _otsu(m)[0]


def otsu_threshold(m: np.ndarray) -> float:
    """The exact Otsu threshold: the largest value of the lower class (m <= t)."""
    return _otsu(m)[1]


def _top_k(n: int, frac: float) -> int:
    # the small slack stops e.g. 0.07 * 100 = 7.000000000000001 becoming 8
    return min(n, max(1, math.ceil(frac * n - 1e-9)))


def top_mass_share(m: np.ndarray, frac: float = 0.1) -> float:
    """Rescaled share of mass in the top ceil(frac*n) pixels of ``m - min(m)``.

    ``(share - k/n) / (1 - k/n)``: 0 for evenly spread mass, 1 when all mass is
    in the top k pixels.  NaN if degenerate.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"frac must be in (0, 1), got {frac}")
    x = _check(m)
    if x is None:
        return math.nan
    x = x - x.min()
    n = x.size
    k = _top_k(n, frac)
    total = float(x.sum())
    if k >= n or not total > 0.0:
        return math.nan
    top = float(np.sum(np.partition(x, n - k)[n - k:]))
    base = k / n
    return float(np.clip((top / total - base) / (1.0 - base), 0.0, 1.0))


def concentration(m: np.ndarray) -> float:
    """``1 - H(p)/log(n)`` with ``p = (m - min m)/sum``; NaN if degenerate."""
    x = _check(m)
    if x is None:
        return math.nan
    x = x - x.min()
    total = float(x.sum())
    if not total > 0.0:
        return math.nan
    p = x[x > 0] / total
    h = float(-np.sum(p * np.log(p)))
    return float(np.clip(1.0 - h / math.log(x.size), 0.0, 1.0))


def score_map(m: np.ndarray) -> MapScores:
    """All three scores; NaN scores plus the reason when the map is degenerate."""
    reason = degenerate_reason(m)
    if reason is not None:
        return MapScores(math.nan, math.nan, math.nan, reason)
    return MapScores(otsu_separability(m), top_mass_share(m, 0.1),
                     concentration(m), None)


# --------------------------------------------------------------------------
# aggregation over images
# --------------------------------------------------------------------------

def summarize(values, n_boot: int = 2000, level: float = 0.95,
              seed: int = 0) -> dict:
    """Mean and percentile-bootstrap CI of the mean over the finite values.

    Returns ``{"mean", "lo", "hi", "n", "n_missing"}``; NaN (and inf) entries
    are counted as missing.  n == 0 -> mean/lo/hi NaN; n == 1 -> lo = hi = mean.
    Deterministic for a given seed, and independent of the order of ``values``
    (they are sorted first), so a sharded-and-merged or renamed set of images
    gets exactly the same interval.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    v = np.asarray(values, dtype=np.float64).ravel()
    ok = np.isfinite(v)
    x = np.sort(v[ok])
    n, n_missing = int(x.size), int(v.size - x.size)
    if n == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan,
                "n": 0, "n_missing": n_missing}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "lo": mean, "hi": mean, "n": 1, "n_missing": n_missing}
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)       # bound memory of the index matrix
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return {"mean": mean, "lo": float(lo), "hi": float(hi),
            "n": n, "n_missing": n_missing}


def intervals_overlap(a: dict, b: dict) -> bool:
    """True when the [lo, hi] intervals of two ``summarize`` results overlap.

    An interval with a NaN (or, read back from JSON, null) end is unknown, and never counts as a tie.
    """
    alo, ahi, blo, bhi = (float("nan") if v is None else float(v)
                          for v in (a["lo"], a["hi"], b["lo"], b["hi"]))
    if any(math.isnan(t) for t in (alo, ahi, blo, bhi)):
        return False
    return alo <= bhi and blo <= ahi


# --------------------------------------------------------------------------
# channel statistics
# --------------------------------------------------------------------------

def channel_stats(gap: np.ndarray, gmp: np.ndarray, dead_eps: float = 1e-6,
                  rtol: float = 1e-6) -> dict:
    """Dead-channel share and effective rank of pooled features.

    ``gap``/``gmp``: [n_images, C] global-average / global-max pooled features.

    * ``dead_fraction``: share of channels with ``gmp <= dead_eps`` on every
      image.
    * ``effective_rank``: Roy & Vetterli (2007), exp of the Shannon entropy of
      the normalised eigenvalues of the channel covariance of ``gap`` across
      images.  Channels that are constant across images (same rule as
      ``degenerate_reason``) are dropped first, so float noise on a flat
      channel cannot inflate the rank.  The non-zero eigenvalues are taken
      from whichever of the C×C or n×n Gram matrix is smaller (same spectrum).
    * ``effective_rank_fraction``: effective_rank / min(n_images - 1, C).
    * ``note``: None, or why the rank is NaN.
    """
    gap = np.asarray(gap, dtype=np.float64)
    gmp = np.asarray(gmp, dtype=np.float64)
    if gap.ndim != 2 or gap.shape != gmp.shape:
        raise ValueError(f"gap and gmp must both be [n_images, C]; got "
                         f"{gap.shape} and {gmp.shape}")
    n, c = gap.shape
    out = {"n_images": int(n), "n_channels": int(c), "dead_fraction": math.nan,
           "n_dead": 0, "effective_rank": math.nan,
           "effective_rank_fraction": math.nan, "note": None}
    if c == 0 or n == 0:
        out["note"] = "no images or no channels"
        return out
    dead = np.all(gmp <= dead_eps, axis=0)
    out["n_dead"] = int(dead.sum())
    out["dead_fraction"] = float(dead.mean())
    if n < 2:
        out["note"] = "fewer than 2 images: covariance undefined"
        return out
    if not np.isfinite(gap).all():
        out["note"] = "non-finite pooled features"
        return out
    hi, lo = gap.max(axis=0), gap.min(axis=0)
    scale = np.maximum(1.0, np.maximum(np.abs(hi), np.abs(lo)))
    varying = (hi - lo) > rtol * scale
    if not varying.any():
        out["note"] = "pooled features are constant across images (zero covariance)"
        return out
    xc = gap[:, varying] - gap[:, varying].mean(axis=0)
    gram = xc.T @ xc if xc.shape[1] <= n else xc @ xc.T
    lam = np.clip(np.linalg.eigvalsh(gram / (n - 1)), 0.0, None)
    total = float(lam.sum())
    if not total > 0.0:
        out["note"] = "pooled features have zero covariance"
        return out
    p = lam[lam > 0] / total
    erank = float(math.exp(-np.sum(p * np.log(p))))
    out["effective_rank"] = erank
    out["effective_rank_fraction"] = erank / min(n - 1, c)
    return out


# --------------------------------------------------------------------------
# figure helpers
# --------------------------------------------------------------------------

def robust_limits(samples: np.ndarray, lo_pct: float = 1.0,
                  hi_pct: float = 99.0) -> tuple[float, float]:
    """(vmin, vmax) colour limits from pooled values, ignoring non-finite ones.

    Guaranteed vmax > vmin: a zero-width interval (e.g. a constant ReLU6 map)
    is widened by ``1e-6 * max(1, |v|)`` each side.  Raises ValueError when
    there is no finite sample.
    """
    if not 0.0 <= lo_pct < hi_pct <= 100.0:
        raise ValueError(f"need 0 <= lo_pct < hi_pct <= 100, got {lo_pct}, {hi_pct}")
    s = np.asarray(samples, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("robust_limits: no finite samples")
    vmin, vmax = (float(t) for t in np.percentile(s, [lo_pct, hi_pct]))
    if not vmax > vmin:
        mid = 0.5 * (vmin + vmax)
        eps = 1e-6 * max(1.0, abs(mid))
        vmin, vmax = mid - eps, mid + eps
    return vmin, vmax


def value_sample(m: np.ndarray, k: int = 256, seed: int = 0) -> np.ndarray:
    """Up to ``k`` values of ``m`` (flattened), drawn without replacement.

    Deterministic for a given seed; all values (in order) when size <= k.  The
    same seed picks the same pixel positions in equally sized maps, so vary
    the seed per image if that matters.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    flat = np.asarray(m).ravel()
    if flat.size <= k:
        return flat.copy()
    idx = np.random.default_rng(seed).choice(flat.size, size=k, replace=False)
    return flat[np.sort(idx)]
