"""The detection-probe figure: held-out images, ground truth and each backbone's probe detections.

One row per sampled image, one column for the ground truth and one per probe (each backbone and
the prior baseline). Every detection drawn came from a head that never saw that image (k-fold).
Boxes are drawn in the fitted input's pixels over the image content (letterbox padding cropped),
each with its class (when there are several) and score. Pure rendering: plain data in, a
``matplotlib.figure.Figure`` out (object-oriented API, no pyplot), like ``figures``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn: a run without figures never loads it
    from matplotlib.figure import Figure

GT_COLOUR = "#00a000"
DET_COLOUR = "#d00000"


@dataclass
class DetectionPanel:
    """Boxes ``[k, 4]`` (x0, y0, x1, y1, input pixels), scores (None for ground truth), class ids."""

    boxes: np.ndarray
    scores: np.ndarray | None
    classes: np.ndarray


@dataclass
class DetectionRow:
    image: np.ndarray  # the fitted uint8 input [S, S, 3]
    valid_hw: tuple[int, int]  # the part of it that is image content
    name: str
    panels: dict[str, DetectionPanel]  # column title -> boxes; "ground truth" first


def shown(panel: DetectionPanel, min_score: float, at_least: int) -> np.ndarray:
    """Indices of the detections to draw: score >= ``min_score``, at least the best ``at_least``."""
    if panel.scores is None:
        return np.arange(len(panel.boxes))
    order = np.argsort(-np.asarray(panel.scores), kind="stable")
    keep = [i for i in order if panel.scores[i] >= min_score]
    return np.asarray(keep if len(keep) >= at_least else order[:at_least], dtype=np.int64)


def detections_figure(rows: list[DetectionRow], class_names: list[str], min_score: float = 0.3,
                      at_least: int = 1, panel_inches: float = 2.2) -> Figure:
    """Rows of images; columns: ground truth, then each probe's held-out detections with scores."""
    if not rows:
        raise ValueError("no images to draw")
    columns = list(rows[0].panels)
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(panel_inches * len(columns), panel_inches * len(rows) + 0.8))
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    multi = len(class_names) > 1
    for r, row in enumerate(rows):
        vh, vw = row.valid_hw
        for c, col in enumerate(columns):
            ax = axes[r][c]
            ax.imshow(row.image[:vh, :vw], interpolation="bilinear")
            ax.set_xlim(0, vw)
            ax.set_ylim(vh, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("\n".join(textwrap.wrap(col, 34, break_on_hyphens=False)) or col, fontsize=7)
            if c == 0:
                ax.set_ylabel(row.name if len(row.name) <= 24 else "…" + row.name[-23:], fontsize=7)
            panel = row.panels.get(col)
            if panel is None:
                continue
            truth = panel.scores is None
            colour = GT_COLOUR if truth else DET_COLOUR
            for i in shown(panel, min_score, at_least):
                x0, y0, x1, y1 = (float(v) for v in panel.boxes[i])
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.4, ec=colour))
                label = class_names[int(panel.classes[i])] if multi else ""
                if not truth:
                    label = f"{label} {panel.scores[i]:.2f}".strip()
                if label:
                    ax.text(x0, y0, label, fontsize=6, color="white", va="bottom",
                            bbox={"fc": colour, "ec": "none", "pad": 0.5, "alpha": 0.8})
    fig.suptitle(f"Detection probe on held-out images (green: ground truth; red: detections with "
                 f"score ≥ {min_score:g}, at least the best {at_least})", fontsize=8,
                 y=1 - 0.08 / fig.get_figheight(), va="top")
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.01, top=1 - 0.7 / fig.get_figheight(),
                        wspace=0.04, hspace=0.06)
    return fig


__all__ = ["DetectionPanel", "DetectionRow", "shown", "detections_figure"]
