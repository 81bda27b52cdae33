"""The figure behind neighbourhood stability: what "stable" looks like.

For a few images, one row per backbone: the image, its augmented view, then the image's nearest
neighbours among the originals and its view's nearest neighbours among the views (shown as their
original images). Neighbours found by both are framed green; the row title gives their Jaccard
overlap, the per-image value the score averages. Plain data in, a ``Figure`` out (no pyplot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

_GREEN = "#2e8b3d"
_GREY = "#9a9a9a"


@dataclass
class NeighbourRow:
    """One (image, backbone) row: neighbour image ids nearest first, and their overlap."""

    backbone: str
    image: str
    orig: list[str]
    view: list[str]
    jaccard: float


def neighbours_figure(rows: list[NeighbourRow], thumbs: dict[str, np.ndarray], views: dict[str, np.ndarray],
                      show: int = 5, title: str = "") -> Figure:
    """``thumbs``: image id -> small RGB array; ``views``: image id -> its augmented view (RGB)."""
    cols = 2 + 2 * show + 1  # image, view, neighbours of the image, a gap, neighbours of the view
    cell = 0.95
    head = 0.95 if title else 0.55  # inches above the first row: suptitle, then the first row's title
    fig = Figure(figsize=((cols - 0.7) * cell + 0.4, max(1, len(rows)) * (cell + 0.35) + head + 0.15))
    if not rows:
        fig.text(0.5, 0.5, "no neighbourhoods to show", ha="center", va="center")
        return fig
    top = 1 - head / fig.get_figheight()
    gs = fig.add_gridspec(len(rows), cols, left=0.01, right=0.99, top=top, bottom=0.02, wspace=0.06, hspace=0.55,
                          width_ratios=[1] * (show + 2) + [0.3] + [1] * show)
    headers = {0: "image", 1: "its view", 2: f"nearest {show} of the image", show + 3: f"nearest {show} of the view"}
    for r, row in enumerate(rows):
        both = set(row.orig) & set(row.view)
        panels = [(0, thumbs.get(row.image), None), (1, views.get(row.image), None)]
        panels += [(2 + i, thumbs.get(n), n in both) for i, n in enumerate(row.orig[:show])]
        panels += [(show + 3 + i, thumbs.get(n), n in both) for i, n in enumerate(row.view[:show])]
        first = None
        for c, img, shared in panels:
            ax = fig.add_subplot(gs[r, c])
            first = first or ax
            ax.set_xticks([])
            ax.set_yticks([])
            if img is not None:
                ax.imshow(img)
            if shared is not None:
                for s in ax.spines.values():
                    s.set_color(_GREEN if shared else _GREY)
                    s.set_linewidth(3 if shared else 1)
            if r == 0 and c in headers:
                ax.set_title(headers[c], fontsize=7, loc="left", color="0.35")
        fig.text(0.01, first.get_position().y1 + (0.22 if r == 0 else 0.04) / fig.get_figheight(),
                 f"{row.backbone} — {row.image}: {len(both)} of {len(row.orig)} neighbours survive "
                 f"(Jaccard {row.jaccard:.2f})", fontsize=8, va="bottom")
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, y=1 - 0.12 / fig.get_figheight(), ha="left", va="top")
    return fig
