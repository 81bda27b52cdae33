"""Summary charts of a run: score per backbone, quality vs cost, class separability.

Pure rendering like figures.py: plain dicts in, a ``matplotlib.figure.Figure`` out; the caller saves.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from bbselect.common import finite, float_or_nan
from bbselect.report.figures import RED, short_label
from bbselect.scoring import registry


def _random(b: dict) -> bool:
    return bool(b.get("random_weights") or (b.get("weights") or {}).get("kind") == "none")



def score_chart(backbones: list[dict]) -> Figure:
    """Separation (mean with 95% CI) per backbone, next to its measured cost (ms / image)."""
    fig = Figure(figsize=(12.0, 1.0 + 0.55 * max(1, len(backbones))), layout="constrained")
    ax_s, ax_c = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    if not backbones:
        ax_s.text(0.5, 0.5, "no backbones", transform=ax_s.transAxes, ha="center", va="center")
        return fig

    def order(b):
        r = b.get("rank")
        return (0, r) if isinstance(r, int) else (1, 0)

    items = sorted(backbones, key=order)
    ys = np.arange(len(items))
    names = []
    for y, b in zip(ys, items):
        rnd = bool(b.get("random_weights") or (b.get("weights") or {}).get("kind") == "none")
        rank = b.get("rank")
        names.append((f"#{rank} " if rank is not None else "") + short_label(b.get("label", "?"), 28)
                     + (" (RANDOM WEIGHTS)" if rnd else ""))
        sep = b.get("primary") or b.get("separation") or {}
        mean, lo, hi = float_or_nan(sep.get("mean")), float_or_nan(sep.get("lo")), float_or_nan(sep.get("hi"))
        color = RED if rnd else "#4472c4"
        if math.isnan(mean):
            ax_s.text(0.005, y, "n/a (degenerate)", va="center", ha="left", fontsize=9, color=RED,
                      transform=ax_s.get_yaxis_transform())
        else:
            xerr = None
            if not (math.isnan(lo) or math.isnan(hi)):
                xerr = [[max(0.0, mean - lo)], [max(0.0, hi - mean)]]
            ax_s.barh(y, mean, xerr=xerr, color=color, alpha=0.85, capsize=4, height=0.6)
            tip = hi if not math.isnan(hi) else mean
            ci = f" [{lo:.2f}, {hi:.2f}]" if xerr is not None else ""
            ax_s.text(tip, y, f"  {mean:.2f}{ci}  n={sep.get('n', '?')}", va="center", fontsize=8)

        cost = b.get("cost") or {}
        ms = float_or_nan(cost.get("ms_per_image"))
        extra = []
        if finite(cost.get("gflops")):
            extra.append(f"{float(cost['gflops']):.2f} GFLOPs")
        if finite(cost.get("params")):
            extra.append(f"{float(cost['params']) / 1e6:.2f} M params")
        if math.isnan(ms):
            ax_c.text(0.005, y, "n/a  " + " · ".join(extra), va="center", ha="left", fontsize=8,
                      transform=ax_c.get_yaxis_transform())
        else:
            ax_c.barh(y, ms, color="0.55", height=0.6)
            ax_c.text(ms, y, "  " + " · ".join([f"{ms:.1f} ms"] + extra), va="center", fontsize=8)

    ax_s.set_yticks(ys, names)
    for tick, b in zip(ax_s.get_yticklabels(), items):
        if b.get("random_weights") or (b.get("weights") or {}).get("kind") == "none":
            tick.set_color(RED)
            tick.set_fontweight("bold")
    ax_s.set_ylim(len(items) - 0.5, -0.5)  # rank 1 on top; also keeps rows without a bar in view
    ax_s.set_xlim(0, 1.25)  # separation is a mean of [0, 1] scores; room for the labels
    metric = (items[0].get("primary") or {}).get("metric", "separation")
    ax_s.set_xlabel(registry.axis_label(metric))
    ax_s.set_title(f"Ranking score: {metric} — higher is better", fontsize=11)
    ax_s.grid(axis="x", alpha=0.3)
    ms_all = [float_or_nan((b.get("cost") or {}).get("ms_per_image")) for b in items]
    ms_max = max([v for v in ms_all if not math.isnan(v)], default=1.0)
    ax_c.set_xlim(0, ms_max * 1.9 if ms_max > 0 else 1.0)  # room for the text after the bars
    ax_c.set_xlabel("ms / image (measured)")
    ax_c.set_title("Cost — lower = cheaper", fontsize=11)
    ax_c.grid(axis="x", alpha=0.3)
    return fig


def quality_cost_chart(backbones: list[dict]) -> Figure:
    """Primary score (with 95% interval) against measured ms/image; marker area ∝ parameters;
    Pareto-optimal backbones (``b["pareto"]``) are filled and joined by a line."""
    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    pts = []
    for b in backbones:
        s = b.get("primary") or b.get("separation") or {}
        ms = (b.get("cost") or {}).get("ms_per_image")
        if not (finite(s.get("mean")) and finite(ms)):
            continue
        params = float((b.get("cost") or {}).get("params") or 1e6)
        size = 30 + 400 * math.sqrt(params / 25e6)
        lo, hi = s.get("lo"), s.get("hi")
        yerr = [[s["mean"] - lo], [hi - s["mean"]]] if finite(lo) and finite(hi) else None
        front = bool(b.get("pareto"))
        ax.errorbar(ms, s["mean"], yerr=yerr, fmt="none", ecolor="0.6", capsize=3, zorder=1)
        ax.scatter([ms], [s["mean"]], s=size, zorder=2, alpha=0.85,
                   facecolors=(RED if _random(b) else "#4472c4") if front else "white",
                   edgecolors=RED if _random(b) else "#4472c4", linewidths=1.5)
        ax.annotate(short_label(b.get("label", "?"), 30) + ("  (Pareto)" if front else ""), (ms, s["mean"]),
                    textcoords="offset points", xytext=(8, 6), fontsize=8)
        pts.append((ms, s["mean"], front))
    front = sorted((x, y) for x, y, f in pts if f)
    if len(front) > 1:
        ax.plot(*zip(*front), color="#4472c4", lw=1, ls="--", zorder=0)
    if not pts:
        ax.text(0.5, 0.5, "no backbone has both a score and a measured speed", ha="center",
                transform=ax.transAxes)
    metric = next(((b.get("primary") or {}).get("metric") for b in backbones if b.get("primary")), "separation")
    xs = [x for x, _, _ in pts]
    if xs and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    ax.set_xlabel("measured ms / image on this machine" + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(f"{metric} (95% interval)")
    ax.set_title("Quality vs cost — filled: Pareto-optimal (nothing is both better and faster); "
                 "marker area ∝ parameters", fontsize=9)
    ax.grid(alpha=0.3)
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
