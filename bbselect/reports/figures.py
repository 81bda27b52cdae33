"""Matplotlib figures for a run. Pure rendering: plain data in, a ``matplotlib.figure.Figure`` out.

Figures are built with the object-oriented API (``Figure(...)``, no pyplot), so no backend has to
be selected, no global state is touched, and drawing is safe from threads and worker processes.
The caller saves them: ``fig.savefig(path, dpi=...)``.

Colour scales: every map panel uses the (vmin, vmax) it is given, which the pipeline pools over the
whole dataset per backbone and aggregation, so a panel's colours can be compared across images.
Each panel in :func:`image_figure` carries its own colourbar to make that scale visible.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from bbselect.common import finite
from bbselect.reports.headline import shorten_end

AGGREGATIONS = ("max", "mean", "sum")
CONTACT_MAX = 24  # default number of images on a contact sheet

_HEADERS = {"max": "channel max", "mean": "channel mean", "sum": "channel sum"}
RED = "#c00000"


@dataclass
class MapRow:
    """One backbone's row in a per-image figure."""

    backbone: str
    layer: str
    stage: str | None
    random_weights: bool
    maps: dict[str, np.ndarray]
    limits: dict[str, tuple[float, float]]
    degenerate: dict[str, str | None] = field(default_factory=dict)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def backbone_header(label: str, n: int = 20) -> str:
    """A backbone label for a narrow column: options on a second line (``mobilenet:alpha=0.25,`` /
    ``layer=c4``), each line shortened at its end, never cut in the middle."""
    name, _, opts = str(label).partition(":")
    lines = [name + (":" if opts else "")] + ([opts] if opts else [])
    return "\n".join(shorten_end(line, n) for line in lines)


def short_label(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters, keeping both ends (file names differ at either)."""
    text = " ".join(str(text).split())  # newlines/tabs in file names would break the layout
    if len(text) <= n:
        return text
    head = (n - 1) * 2 // 3
    return text[:head] + "…" + text[-(n - 1 - head):]



def _as_map(m) -> np.ndarray:
    """A drawable 2-D float array; anything empty or not 2-D becomes a single NaN cell."""
    a = np.asarray(m, dtype=np.float64) if m is not None else np.empty((0, 0))
    a = np.squeeze(a) if a.ndim > 2 else a
    if a.ndim != 2 or a.size == 0:
        return np.full((1, 1), np.nan)
    return a


def _limits(given, m: np.ndarray) -> tuple[float, float]:
    """The given (vmin, vmax) when usable, else the map's own finite range (widened if flat)."""
    if given is not None and len(given) == 2 and finite(given[0]) and finite(given[1]) \
            and float(given[1]) > float(given[0]):
        return float(given[0]), float(given[1])
    vals = m[np.isfinite(m)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    if not hi > lo:
        eps = 1e-6 * max(1.0, abs(lo))
        lo, hi = lo - eps, hi + eps
    return lo, hi


def _show_input(ax, image: np.ndarray, extent=None) -> None:
    img = np.asarray(image)
    kw = {"cmap": "gray"} if img.ndim == 2 else {}
    ax.imshow(img, extent=extent, interpolation="nearest", **kw)


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _stage_text(layer: str, stage: str | None) -> str:
    return f"{layer} ({stage})" if stage else layer


def _column_header(ax, text: str, color: str = "black", fontsize: float = 11, offset: float = 16) -> None:
    ax.annotate(text, xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, offset), textcoords="offset points",
                ha="center", va="bottom", fontsize=fontsize, fontweight="bold", color=color)


def _random_badge(ax) -> None:
    ax.text(0.5, 0.03, "RANDOM WEIGHTS", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=9, fontweight="bold", color="white",
            bbox={"boxstyle": "square,pad=0.25", "facecolor": RED, "edgecolor": RED})
    for spine in ax.spines.values():
        spine.set_edgecolor(RED)
        spine.set_linewidth(2.5)


def _grid(fig, rows: int, cols: int, *, left: float, right: float, top: float, bottom: float,
          wgap: float, hgap: float):
    """``rows`` x ``cols`` axes placed with margins and gaps given in inches."""
    w, h = fig.get_size_inches()
    cell_w = max(0.1, (w - left - right - (cols - 1) * wgap) / cols)
    cell_h = max(0.1, (h - top - bottom - (rows - 1) * hgap) / rows)
    return fig.subplots(rows, cols, squeeze=False, gridspec_kw={
        "left": left / w, "right": 1 - right / w, "top": 1 - top / h, "bottom": bottom / h,
        "wspace": wgap / cell_w, "hspace": hgap / cell_h})


# --------------------------------------------------------------------------
# per-image figure
# --------------------------------------------------------------------------

def _draw_boxes(ax, boxes, iw: int, ih: int) -> None:
    from matplotlib.patches import Rectangle

    for b in boxes or ():
        x0, y0, x1, y1 = (float(v) for v in b[:4])
        ax.add_patch(Rectangle((x0 * iw, y0 * ih), (x1 - x0) * iw, (y1 - y0) * ih, fill=False,
                               edgecolor="#ff3030", linewidth=1.4))


def image_figure(image: np.ndarray, title: str, rows: list[MapRow], overlay: bool = False,
                 cmap: str = "viridis", boxes=None) -> Figure:
    """Rows = backbones; columns = input | max | mean | sum, each map with its shared colour scale.

    Maps are drawn on the input image's extent (each cell stretched over the image region it
    covers, nearest-neighbour so the map's true resolution stays visible). ``overlay=True`` draws
    each map at alpha 0.5 over the input image. ``boxes`` (normalised ``(x0, y0, x1, y1, ...)``)
    are drawn in red over the input and every map.
    """
    if not rows:
        raise ValueError("image_figure needs at least one MapRow")
    image = np.asarray(image)
    ih, iw = image.shape[:2]
    n = len(rows)
    aspect = min(2.5, max(0.3, ih / iw if iw else 1.0))
    # A fixed layout in inches (no layout engine: it would double the drawing time of a figure
    # drawn for many images). Margins hold the row labels, colourbars, titles and headers.
    fig = Figure(figsize=(14.0, n * (2.5 * aspect + 0.5) + 1.25))
    axes = _grid(fig, n, 1 + len(AGGREGATIONS), left=0.75, right=0.65, top=1.05, bottom=0.4, wgap=0.85, hgap=0.5)
    fig.suptitle(short_label(title, 90), fontsize=13, y=1 - 0.12 / fig.get_figheight(), va="top")

    for r, row in enumerate(rows):
        ax_in = axes[r, 0]
        _show_input(ax_in, image)
        _bare(ax_in)
        ax_in.set_title(f"input · {ih}×{iw}", fontsize=9)
        label = (shorten_end(row.backbone, 32), shorten_end(_stage_text(row.layer, row.stage), 32))
        # Shrink the font for flat panels so the vertical label fits beside the panel (and its gap).
        fit = (2.5 * aspect + 0.4) * 72 / (0.62 * max(map(len, label)))
        ax_in.set_ylabel("\n".join(label), fontsize=max(6.0, min(10.0, fit)),
                         color=RED if row.random_weights else "black")
        if row.random_weights:
            _random_badge(ax_in)
        _draw_boxes(ax_in, boxes, iw, ih)

        for c, agg in enumerate(AGGREGATIONS, start=1):
            ax = axes[r, c]
            raw = row.maps.get(agg)
            m = _as_map(raw)
            vmin, vmax = _limits(row.limits.get(agg), m)
            shape = np.shape(raw) if raw is not None else (0, 0)
            size = "×".join(str(s) for s in shape) if len(shape) else "?"
            # The map covers the same image region as the input: draw it on the image's extent so
            # positions line up with the input column (cells stay visible: nearest, no smoothing).
            extent = (0, iw, ih, 0)
            if overlay:
                _show_input(ax, image, extent=extent)
            im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest",
                           alpha=0.5 if overlay else None)
            ax.set_xlim(0, iw)
            ax.set_ylim(ih, 0)
            _draw_boxes(ax, boxes, iw, ih)
            _bare(ax)
            ax.set_title(f"{agg} · {size}", fontsize=9)
            # An inset in axes coordinates follows the drawn (aspect-corrected) panel exactly.
            cb = fig.colorbar(im, cax=ax.inset_axes([1.03, 0.0, 0.05, 1.0]))
            cb.ax.tick_params(labelsize=7)
            reason = row.degenerate.get(agg) if row.degenerate else None
            if reason:
                text = textwrap.fill(short_label(reason, 90), 26, max_lines=4, placeholder=" …")
                ax.text(0.5, 0.5, f"degenerate:\n{text}", transform=ax.transAxes,
                        ha="center", va="center", fontsize=8.5, color=RED,
                        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.85,
                              "edgecolor": RED})

    _column_header(axes[0, 0], "input (what the network saw)")
    for c, agg in enumerate(AGGREGATIONS, start=1):
        _column_header(axes[0, c], _HEADERS[agg])
    fig.text(0.5, 0.1 / fig.get_figheight(), "Colour scales are shared across all images for each backbone and aggregation "
             "(1st–99th percentile of pooled values), so colours compare across figures.",
             ha="center", va="bottom", fontsize=8, color="0.35")
    return fig


# --------------------------------------------------------------------------
# contact sheet
# --------------------------------------------------------------------------

def contact_sheet(images: list[tuple[str, np.ndarray]], maps: dict[str, list[np.ndarray]], agg: str,
                  limits: dict[str, tuple[float, float]], random_weights: dict[str, bool] | None = None,
                  max_images: int = CONTACT_MAX, total: int | None = None, cmap: str = "viridis") -> Figure:
    """Rows = images, columns = input + one per backbone, all for one aggregation ``agg``.

    Shows the first ``max_images`` images. ``total`` is the number of images in the run when the
    caller already passes only the first few (default: ``len(images)``); when fewer than that are
    shown the title says "showing K of N".
    """
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    random_weights = random_weights or {}
    n_total = max(len(images), total or 0)
    shown = images[:max_images]
    labels = list(maps)
    k = len(shown)
    ncols = 1 + len(labels)
    aspects = [np.asarray(img).shape[0] / max(1, np.asarray(img).shape[1]) for _, img in shown]
    aspect = min(2.5, max(0.3, float(np.median(aspects))))
    fig = Figure(figsize=(1.9 * ncols + 1.6, k * (1.75 * aspect + 0.12) + 1.75))
    axes = _grid(fig, k, ncols, left=1.65, right=0.2, top=1.0, bottom=0.75, wgap=0.1, hgap=0.12)

    head = f"{_HEADERS.get(agg, agg)} maps"
    count = f"showing {k} of {n_total} images" if k < n_total else f"{k} images"
    fig.suptitle(f"{head} — {count}", fontsize=13, y=1 - 0.12 / fig.get_figheight(), va="top")

    last_im = {}
    for i, (name, img) in enumerate(shown):
        ax = axes[i, 0]
        ih, iw = np.asarray(img).shape[:2]
        extent = (0, iw, ih, 0)  # maps drawn over the same region as the image, as in image_figure
        _show_input(ax, img)
        _bare(ax)
        ax.set_ylabel(short_label(name, 24), fontsize=8, rotation=0, ha="right", va="center")
        for j, label in enumerate(labels, start=1):
            ax = axes[i, j]
            _bare(ax)
            series = maps[label]
            if i >= len(series) or series[i] is None:
                ax.text(0.5, 0.5, "no map", transform=ax.transAxes, ha="center", va="center", fontsize=8)
                continue
            m = _as_map(series[i])
            vmin, vmax = _limits(limits.get(label), m)
            last_im[label] = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                                       extent=extent)

    _column_header(axes[0, 0], "input", fontsize=9, offset=6)
    for j, label in enumerate(labels, start=1):  # headers sized to fit a 1.8-inch column
        rnd = random_weights.get(label, False)
        _column_header(axes[0, j], backbone_header(label) + ("\nRANDOM WEIGHTS" if rnd else ""),
                       color=RED if rnd else "black", fontsize=9, offset=6)
        if label in last_im:  # one colourbar per backbone, under its column
            w, h = fig.get_size_inches()
            pos = axes[-1, j].get_position()
            cax = fig.add_axes((pos.x0 + 0.05 * pos.width, 0.4 / h, 0.9 * pos.width, 0.12 / h))
            cb = fig.colorbar(last_im[label], cax=cax, orientation="horizontal")
            cb.ax.tick_params(labelsize=7)
    return fig
