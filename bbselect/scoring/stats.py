"""Statistics over images and channels: bootstrap intervals of a mean, paired comparisons of two
scores on the same images, interval overlap, the
dead-channel share and effective rank of pooled features, and value samples for colour limits.

Pure numpy: no I/O, no plotting, no framework imports.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.common import CONSTANT_RTOL
from bbselect.scoring import registry
from bbselect.scoring.registry import ScoreSpec

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


def paired_bootstrap(a, b, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Paired comparison of two scores on the same items: mean of ``a - b`` with a percentile-bootstrap
    interval (items resampled with their pair). ``tied`` = the interval contains 0.

    Pairs where either value is not finite are dropped (counted in ``n_missing``). Deterministic for a
    seed and independent of the items' order (pairs are sorted first). Returns ``{"diff", "lo", "hi",
    "n", "n_missing", "tied"}``; with no pair everything is NaN and ``tied`` is None (unknown)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {a.size} and {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    order = np.lexsort((b[ok], a[ok]))
    d = (a[ok] - b[ok])[order]
    n, n_missing = int(d.size), int(a.size - d.size)
    if n == 0:
        return {"diff": math.nan, "lo": math.nan, "hi": math.nan, "n": 0, "n_missing": n_missing, "tied": None}
    mean = float(d.mean())
    if n == 1:
        lo = hi = mean
    else:
        rng = np.random.default_rng(seed)
        means = np.empty(n_boot)
        chunk = max(1, 2_000_000 // n)
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            means[start:stop] = d[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
        alpha = (1.0 - level) / 2.0
        lo, hi = (float(v) for v in np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)]))
    return {"diff": mean, "lo": lo, "hi": hi, "n": n, "n_missing": n_missing, "tied": bool(lo <= 0.0 <= hi)}


def mcnemar(correct_a, correct_b, level: float = 0.95) -> dict:
    """Exact McNemar test of two classifiers' per-image hits on the same images and folds.

    Only the discordant images count: ``only_a`` (A right, B wrong) and ``only_b``.  Under "equally
    accurate" each is Binomial(only_a + only_b, 1/2); ``p`` is the two-sided exact binomial p-value
    (``scipy.stats.binomtest``), 1 when there is no discordant image.  ``tied`` = p >= 1 - level.
    A paired test: two backbones 0.82 vs 0.75 on the same 240 images are told apart here even though
    their marginal 95 % intervals overlap.
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool).ravel()
    b = np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired hits need the same images, got {a.size} and {b.size}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p": p, "tied": bool(p >= 1.0 - level), "n": int(a.size)}


def paired_tie(a: dict, b: dict) -> bool:
    """Are two primary summaries tied?  Paired when both carry per-image hits (``correct``) on the
    same images (McNemar); otherwise their marginal 95 % intervals overlap (``intervals_overlap``)."""
    ca, cb = a.get("correct"), b.get("correct")
    if ca is not None and cb is not None and len(ca) == len(cb) and len(ca) > 0:
        return mcnemar(ca, cb)["tied"]
    return intervals_overlap(a, b)


# --------------------------------------------------------------------------
# channel statistics
# --------------------------------------------------------------------------

def channel_stats(gap: np.ndarray, gmp: np.ndarray, dead_rtol: float = CONSTANT_RTOL,
                  rtol: float = CONSTANT_RTOL) -> dict:
    """Dead-channel share and effective rank of pooled features.

    ``gap``/``gmp``: [n_images, C] global-average / global-max pooled features.

    * ``dead_fraction``: share of channels that never fire: ``gmp <= dead_rtol * peak`` on every
      image, where ``peak`` is the layer's largest pooled value over all channels and images.
      Scale-free: random-init networks whose activations are all ~1e-12 are not "dead" (a probe
      still finds signal in them); a layer that is zero everywhere is all dead.
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
    finite = gmp[np.isfinite(gmp)]
    peak = float(finite.max()) if finite.size else 0.0
    dead = np.all(gmp <= dead_rtol * max(peak, 0.0), axis=0)
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


# --------------------------------------------------------------------------
# registry entries of the channel statistics (health checks: they can demote, never promote)
# --------------------------------------------------------------------------

def channel_section(inputs) -> dict:
    """The ``channels_stats`` section of a backbone entry: ``channel_stats`` of its pooled features."""
    return channel_stats(inputs.gap, inputs.gmp)


def add_paired(entries: list[dict], key: str, per_image: dict[str, dict[str, float]], n_boot: int = 2000) -> None:
    """Compare every backbone's score ``key`` with each other backbone's on the images both have
    (``paired_bootstrap``): ``entry[key]["paired"][other] = {diff, lo, hi, n, tied}``. ``per_image``:
    label -> image id -> value."""
    for e in entries:
        mine = per_image.get(e["label"])
        if mine is None or key not in e:
            continue
        e[key]["paired"] = {}
        for o in entries:
            theirs = per_image.get(o["label"])
            if o is e or theirs is None:
                continue
            ids = sorted(set(mine) & set(theirs))
            res = paired_bootstrap([mine[i] for i in ids], [theirs[i] for i in ids], n_boot=n_boot)
            e[key]["paired"][o["label"]] = {k: res[k] for k in ("diff", "lo", "hi", "n", "tied")}


_CHANNELS = {"needs": ("pooled",), "compute": channel_section}

registry.register(ScoreSpec(
    name="effective_rank", title="effective rank", tier="health", range=(1.0, None), **_CHANNELS, kind="tenths",
    path=("channels_stats", "effective_rank"),
    doc="Effective rank (Roy & Vetterli 2007) of the pooled features' covariance across images: how many "
        "independent directions the features really use. Mostly tells a dead or random network from a live one.",
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="effective_rank_fraction", title="effective rank fraction", tier="health", range=(0.0, 1.0), **_CHANNELS, kind="percent",
    path=("channels_stats", "effective_rank_fraction"),
    doc="Effective rank divided by its maximum, min(images - 1, channels).",
))
registry.register(ScoreSpec(
    name="dead_fraction", title="dead channels", tier="health", higher_is_better=False, range=(0.0, 1.0), **_CHANNELS,
    kind="percent",
    path=("channels_stats", "dead_fraction"),
    doc="Share of channels that never fire (global max pool at or below the dead threshold) on any image.",
    studied=("validation",),
))
