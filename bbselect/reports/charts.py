"""Summary charts of a run: the overview (primary evidence with intervals, and quality vs GFLOPs), class separability.

Pure rendering like figures.py: plain dicts in, a ``matplotlib.figure.Figure`` out; the caller saves.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bbselect.common import finite, float_or_nan
from bbselect.reports.figures import RED, short_label
from bbselect.common import fmt_gflops, fmt_interval
from bbselect.reports.headline import chance_of, evidence_of, shorten_end
from bbselect.scoring import registry


def _random(b: dict) -> bool:
    return bool(b.get("random_weights") or (b.get("weights") or {}).get("kind") == "none")



def _metric_limits(metric: str, values: list[float]) -> tuple[float, float]:
    """Axis limits for the primary evidence: the score's own range when the registry knows it is
    bounded, [0, 1] when every value lies in it (shares, accuracies, AUROC), else the data range with
    a margin: never a made-up 1.2 for an accuracy."""
    spec = registry.by_title(metric) or (registry.get(metric) if metric in registry.names() else None)
    vals = [v for v in values if finite(v)]
    if spec is not None and all(finite(x) for x in spec.range) and all(spec.range[0] <= v <= spec.range[1]
                                                                      for v in vals):
        return float(spec.range[0]), float(spec.range[1])
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    pad = 0.05 * (hi - lo or abs(hi) or 1.0)
    return min(0.0, lo - pad), hi + pad


def overview_chart(backbones: list[dict]) -> Figure:
    """The first-screen chart. Left: each backbone's primary evidence (mean and 95% interval), best on
    top, the backbones tied with it in a lighter shade, chance as a dashed line when known. Right:
    the same evidence against GFLOPs (analytic cost at the run's input size); Pareto-optimal
    backbones (``b["pareto"]``: nothing is both better and cheaper) filled and joined."""
    items = sorted(backbones, key=lambda b: b.get("rank") if isinstance(b.get("rank"), int) else 10**9)
    n = max(1, len(items))
    fig = Figure(figsize=(12.0, 1.5 + 0.5 * n + (0.6 if n < 4 else 0)), layout="constrained")
    ax_s, ax_c = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    if not items:
        ax_s.text(0.5, 0.5, "no backbones", transform=ax_s.transAxes, ha="center", va="center")
        return fig
    metric = evidence_of(items[0]).get("metric") or "score"
    best = items[0]
    tied = set(best.get("tied_with") or [])
    ev = [evidence_of(b) for b in items]
    lim = _metric_limits(metric, [v for s in ev for v in (s.get("mean"), s.get("lo"), s.get("hi"))])
    ys = np.arange(len(items))
    names = []
    for y, b, s in zip(ys, items, ev):
        rnd = _random(b)
        names.append(f"#{b.get('rank', '?')} {shorten_end(b.get('label', '?'), 40)}\n{fmt_interval(s)}")
        mean, lo, hi = float_or_nan(s.get("mean")), float_or_nan(s.get("lo")), float_or_nan(s.get("hi"))
        if math.isnan(mean):
            ax_s.text(lim[0] + 0.01 * (lim[1] - lim[0]), y, "n/a (not scored)", va="center", fontsize=9, color=RED)
            continue
        color = RED if rnd else ("#2f5597" if b is best else "#8faadc" if b.get("label") in tied else "0.65")
        xerr = None if math.isnan(lo) or math.isnan(hi) else [[max(0.0, mean - lo)], [max(0.0, hi - mean)]]
        ax_s.barh(y, mean - lim[0], left=lim[0], xerr=xerr, color=color, capsize=4, height=0.6)
    ax_s.set_yticks(ys, names, fontsize=8)
    for tick, b in zip(ax_s.get_yticklabels(), items):
        if _random(b):
            tick.set_color(RED)
    ax_s.set_ylim(len(items) - 0.5, -0.5)
    ax_s.set_xlim(*lim)
    chance = chance_of(best)
    if chance is not None and lim[0] <= chance <= lim[1]:
        ax_s.axvline(chance, color="0.3", ls="--", lw=1)
        ax_s.text(chance, len(items) - 0.5, " chance", va="bottom", ha="left", fontsize=8, color="0.3")
    ax_s.set_xlabel(registry.axis_label(metric))
    ax_s.set_title(f"{metric}: dark = ranked first, light = tied with it", fontsize=10)
    ax_s.grid(axis="x", alpha=0.3)

    pts, names_c = [], []
    for b, s in zip(items, ev):
        g = (b.get("cost") or {}).get("gflops")
        if not (finite(s.get("mean")) and finite(g) and g > 0):
            continue
        lo, hi = s.get("lo"), s.get("hi")
        yerr = [[s["mean"] - lo], [hi - s["mean"]]] if finite(lo) and finite(hi) else None
        front = bool(b.get("pareto"))
        col = RED if _random(b) else "#2f5597"
        ax_c.errorbar(g, s["mean"], yerr=yerr, fmt="none", ecolor="0.6", capsize=3, zorder=1)
        ax_c.scatter([g], [s["mean"]], s=60, zorder=2, facecolors=col if front else "white", edgecolors=col,
                     linewidths=1.5)
        pts.append((g, s["mean"], front))
        # numbered as in the left chart; names only where few points leave room for them
        names_c.append(f"#{b.get('rank', '?')}" + (f" {shorten_end(b.get('label', '?'), 28)}" if n <= 3 else ""))
    front = sorted((x, y) for x, y, f in pts if f)
    if len(front) > 1:
        ax_c.plot(*zip(*front), color="#2f5597", lw=1, ls="--", zorder=0)
    if not pts:
        ax_c.text(0.5, 0.5, "no backbone has both a score and a GFLOPs count", ha="center",
                  transform=ax_c.transAxes)
    xs = [x for x, _, _ in pts]
    if xs and max(xs) / min(xs) > 10:
        ax_c.set_xscale("log")
    else:  # a few ticks, written as the tables write GFLOPs (nine crowded ones over a narrow range before)
        ax_c.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax_c.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_gflops(v)))
    ax_c.set_ylim(*lim)
    if chance is not None and lim[0] <= chance <= lim[1]:
        ax_c.axhline(chance, color="0.3", ls="--", lw=1)
    _place_labels(ax_c, [(x, y) for x, y, _ in pts], names_c)
    ax_c.set_xlabel("GFLOPs per image at the run's input size" + (" (log scale)" if ax_c.get_xscale() == "log" else ""))
    ax_c.set_ylabel(metric)
    ax_c.set_title("quality vs cost — filled: Pareto-optimal", fontsize=10)
    ax_c.grid(alpha=0.3)
    return fig


def class_scatter(points: np.ndarray, classes: list[str], title: str) -> Figure:
    """2-D projection (e.g. PCA) of pooled features, one colour per class."""
    fig = Figure(figsize=(5.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    pts = np.asarray(points, dtype=float)
    names = sorted(set(classes))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    for i, name in enumerate(names):
        sel = np.array([c == name for c in classes])
        ax.scatter(pts[sel, 0], pts[sel, 1], s=12, color=cmap(i % cmap.N), label=short_label(name, 20), alpha=0.8)
    ax.set_title(short_label(title, 60), fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    return fig


def pca_2d(features: np.ndarray) -> np.ndarray:
    """First two principal-component scores [n, 2] of the (centred, unscaled) features.

    Uses ``sklearn.decomposition.PCA`` with the exact (full) SVD solver, so it
    is deterministic.  When fewer than two components exist (n < 3 or d < 2)
    the missing columns are 0.
    """
    from sklearn.decomposition import PCA

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [n, d]; got shape {f.shape}")
    n, d = f.shape
    out = np.zeros((n, 2))
    k = min(2, d, n - 1) if n > 1 else 0
    if k >= 1:
        out[:, :k] = PCA(n_components=k, svd_solver="full").fit_transform(f)
    return out


# label offsets to try, in points from the point: right, left, above, below, then further out
_OFFSETS = [(6, 3, "left", "bottom"), (6, -3, "left", "top"), (-6, 3, "right", "bottom"), (-6, -3, "right", "top"),
            (0, 8, "center", "bottom"), (0, -8, "center", "top"), (10, 14, "left", "bottom"),
            (10, -14, "left", "top"), (-10, 14, "right", "bottom"), (-10, -14, "right", "top")]


def _place_labels(ax, pts: list[tuple[float, float]], names: list[str], size: float = 8.0) -> None:
    """Label each point next to it where the label overlaps no other label, no point and stays in the
    axes: the first free offset of ``_OFFSETS`` (points in order of x), else the least crowded one."""
    if not pts:
        return
    ax.figure.draw_without_rendering()  # the constrained layout fixes where the axes sit first
    to_pt = 72.0 / ax.figure.dpi
    xy = [tuple(v * to_pt for v in ax.transData.transform(p)) for p in pts]  # in points
    x0, y0, x1, y1 = (v * to_pt for v in ax.get_window_extent().extents)
    placed: list[tuple[float, float, float, float]] = []

    def box(i, dx, dy, ha, va):
        w, h = 0.75 * size * len(names[i]), 1.3 * size  # a little over the glyphs, so "inside" holds
        left = xy[i][0] + dx - {"left": 0, "right": w, "center": w / 2}[ha]
        bottom = xy[i][1] + dy - {"bottom": 0, "top": h}[va]
        return left, bottom, left + w, bottom + h

    def cost(b, i):
        out = b[0] < x0 or b[2] > x1 or b[1] < y0 or b[3] > y1
        hits = sum(1 for q in placed if b[0] < q[2] and q[0] < b[2] and b[1] < q[3] and q[1] < b[3])
        dots = sum(1 for j, (px, py) in enumerate(xy) if j != i and b[0] - 4 < px < b[2] + 4 and b[1] - 4 < py < b[3] + 4)
        return 100 * out + 10 * hits + dots

    for i in sorted(range(len(pts)), key=lambda k: xy[k][0]):
        costs = [(cost(box(i, *o), i), k) for k, o in enumerate(_OFFSETS)]
        _, k = min(costs)
        dx, dy, ha, va = _OFFSETS[k]
        placed.append(box(i, *_OFFSETS[k]))
        ax.annotate(names[i], pts[i], textcoords="offset points", xytext=(dx, dy), ha=ha, va=va, fontsize=size)

