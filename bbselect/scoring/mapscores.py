"""Label-free scores of one collapsed feature map, and the test for degenerate maps.

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
from functools import partial

import numpy as np

from bbselect.common import CONSTANT_RTOL
from bbselect.scoring import registry, stats
from bbselect.scoring.registry import SCORED_MAPS, ScoreSpec

_MIN_PIXELS = 4
SATURATED_SHARE = 0.5  # a map with at least this share of pixels tied at its maximum is "saturated"


class MapScores:
    """One map's scores by name (every registered per-map shape score), and why it is degenerate.

    Read a score as an attribute (``s.otsu``); ``_asdict()`` gives the scores in registry order, then
    ``degenerate`` (the shape scores.json keeps)."""

    __slots__ = ("values", "degenerate")

    def __init__(self, *scores, degenerate: str | None = None, **values: float):
        """``MapScores(otsu=.., top10_mass=.., concentration=.., degenerate=..)``, or positionally in
        registry order with the reason last (``MapScores(0.6, 0.2, 0.1, None)``), as a tuple reads."""
        if scores:
            names = registry.map_score_names()
            if len(scores) == len(names) + 1:
                *scores, degenerate = scores
            if len(scores) != len(names):
                raise TypeError(f"MapScores takes {len(names)} scores ({', '.join(names)}) and the reason")
            values = {**dict(zip(names, scores)), **values}
        self.values = values
        self.degenerate = degenerate

    def __getattr__(self, name: str):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other) -> bool:
        return isinstance(other, MapScores) and self._asdict() == other._asdict()

    def __repr__(self) -> str:
        return f"MapScores({self._asdict()})"

    def _asdict(self) -> dict:
        return {**self.values, "degenerate": self.degenerate}


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


def degenerate_reason(m: np.ndarray, rtol: float = CONSTANT_RTOL) -> str | None:
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
    if _unscorable_reason(a, CONSTANT_RTOL) is not None:
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
    """Every registered shape score of one map; NaN scores plus the reason when it is degenerate."""
    reason = degenerate_reason(m)
    shape_scores = registry.specs("map", per_map=True)
    if reason is not None:
        return MapScores(degenerate=reason, **{spec.name: math.nan for spec in shape_scores})
    return MapScores(**{spec.name: spec.fn(m) for spec in shape_scores})


# --------------------------------------------------------------------------
def map_section(inputs) -> dict:
    """The ``scores`` section of a backbone entry: per scored map, each shape score's mean over the images
    with a 95% bootstrap interval (``stats.summarize``; degenerate maps are NaN and left out)."""
    values = list(inputs.map_scores.values())
    return {k: {n: stats.summarize([getattr(v[k], n) for v in values]) for n in registry.map_score_names()}
            for k in SCORED_MAPS}


# the registry entries of the three shape scores
# --------------------------------------------------------------------------

registry.register(ScoreSpec(
    name="otsu", title="Otsu separability", tier="map", range=(0.0, 1.0), per_map=True, needs=("maps",), compute=map_section,
    path=("scores", "{map}", "otsu"), fn=otsu_separability,
    doc=(
        "Otsu separability: share of the map's variance explained by the best "
        "two-level (region vs background) split; 0 to 1, higher = cleaner "
        "two-class separation."
    ),
    studied=("validation",),
))
registry.register(ScoreSpec(
    name="top10_mass", title="top-10% mass", tier="map", range=(0.0, 1.0), per_map=True, needs=("maps",), compute=map_section,
    path=("scores", "{map}", "top10_mass"), fn=partial(top_mass_share, frac=0.1),
    doc=(
        "Top-10% mass: how much of the map's activation (above its minimum) "
        "sits in its brightest 10% of pixels, rescaled so even spread = 0 and "
        "everything in those pixels = 1; 0 to 1, higher = more focused."
    ),
    studied=("validation",),
))
registry.register(ScoreSpec(
    name="concentration", title="concentration", tier="map", range=(0.0, 1.0), per_map=True, needs=("maps",), compute=map_section,
    path=("scores", "{map}", "concentration"), fn=concentration,
    doc=(
        "Concentration: 1 minus the normalised entropy of the activation "
        "(above its minimum) over pixels; 0 = spread evenly over the whole "
        "image, 1 = all in one pixel; higher = more concentrated."
    ),
    studied=("validation",),
))



def __getattr__(name: str):
    """``SCORE_NAMES`` / ``SCORE_DOCS``: read from the registry when asked (every map score, wherever registered)."""
    if name == "SCORE_NAMES":
        return registry.map_score_names()
    if name == "SCORE_DOCS":
        return registry.docs(("map",))
    raise AttributeError(name)
