"""The box model every annotation format shares: ``Box``, ``BoxSet`` and the checks each parser applies.

A ``Box(x0, y0, x1, y1, label)`` is in *normalised* coordinates of the upright image (0 = left/top
edge, 1 = right/bottom edge, x0 < x1, y0 < y1). A ``BoxSet`` is what ``annotations.load_boxes``
returns: the boxes of every annotated image, the format, the images without an annotation and notes.

Image size.  VOC ``<size>`` and COCO ``width``/``height`` give the frame the
annotator drew in; pixel boxes are normalised by it.  It must match the
upright image size given in ``image_sizes`` up to a uniform rescale (aspect
ratio within 1 %); a transposed size (typical of an image whose EXIF rotation
the annotation tool ignored) or any other mismatch is a ``UsageError``, since
the boxes would land in the wrong place (``check_size``).  When a VOC file has
no ``<size>``, the image size is used.

Boxes are clamped to the image.  A box with zero or negative width or height,
or one that lies entirely outside the image, is a ``UsageError`` naming the
file and the line (YOLO), element path (VOC) or annotation index and id (COCO)
(``make_box``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from bbselect.errors import UsageError

_ASPECT_TOL = 0.01


class Box(NamedTuple):
    x0: float
    y0: float
    x1: float
    y1: float
    label: str


@dataclass
class BoxSet:
    boxes: dict[str, list[Box]]
    format: str
    missing: list[str]
    source: Path | None = None
    notes: list[str] = field(default_factory=list)
    layout: str = ""  # how the annotations sit relative to the images, for the log and report

    @property
    def n_boxes(self) -> int:
        return sum(len(b) for b in self.boxes.values())


def make_box(x0: float, y0: float, x1: float, y1: float, label: str, where: str) -> Box:
    """Validate, clamp to [0, 1] and build a box; ``where`` names file + line/element."""
    vals = (x0, y0, x1, y1)
    if not all(math.isfinite(v) for v in vals):
        raise UsageError(f"{where}: non-finite box coordinate {vals}")
    if not (x1 > x0 and y1 > y0):
        raise UsageError(f"{where}: box has zero or negative size "
                         f"(width {x1 - x0:.6g}, height {y1 - y0:.6g}, normalised)")
    cx0, cy0 = min(max(x0, 0.0), 1.0), min(max(y0, 0.0), 1.0)
    cx1, cy1 = min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0)
    if not (cx1 > cx0 and cy1 > cy0):
        raise UsageError(f"{where}: box lies outside the image "
                         f"(x {x0:.6g}..{x1:.6g}, y {y0:.6g}..{y1:.6g}, normalised)")
    return Box(cx0, cy0, cx1, cy1, label)


def check_size(declared: tuple[float, float], actual: tuple[int, int] | None,
                where: str, notes: list[str]) -> tuple[float, float]:
    """The frame (W, H) to normalise pixel boxes by; raises on a size mismatch."""
    w, h = declared
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise UsageError(f"{where}: invalid image size {w:g}×{h:g}")
    if actual is None:
        return w, h
    aw, ah = actual
    if (w, h) == (aw, ah):
        return w, h
    if abs((w / h) / (aw / ah) - 1.0) <= _ASPECT_TOL:
        notes.append(f"{where}: annotated at {w:g}×{h:g}, image is {aw}×{ah} "
                     f"(same aspect ratio; boxes rescaled)")
        return w, h
    if (w, h) == (ah, aw):
        raise UsageError(f"{where}: annotation is for a {w:g}×{h:g} image but the upright "
                         f"image is {aw}×{ah}; the annotation tool probably ignored the "
                         f"image's EXIF rotation")
    raise UsageError(f"{where}: annotation is for a {w:g}×{h:g} image but the image "
                     f"is {aw}×{ah}")


def rel_stem(rel: str) -> PurePosixPath:
    return PurePosixPath(rel).with_suffix("")


def substituted(img: Path, suffix: str, folders: dict[str, tuple[str, ...]]) -> list[Path]:
    """The image path with its LAST folder named like a key of ``folders`` replaced by each of its
    values and the suffix changed (ultralytics' ``images/`` -> ``labels/`` rule, generalised)."""
    parts = list(img.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in folders:
            return [Path(*parts[:i], sub, *parts[i + 1:]).with_suffix(suffix) for sub in folders[parts[i]]]
    return []
