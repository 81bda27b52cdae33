"""YOLO annotations: one ``.txt`` of normalised ``class cx cy w h`` lines per image.

The ``.txt`` is found beside the image (``a/b.jpg`` -> ``a/b.txt``) or in the
parallel ``labels`` tree of the usual YOLO layout (the last ``images``
component of the image's path replaced by ``labels``).  Each line:
``class cx cy w h``, all normalised to 0..1.  Segmentation lines
(``class x1 y1 x2 y2 x3 y3 ...``, at least 3 points) become their bounding
box.  Class ids are turned into names through a ``classes.txt`` (one name per
line, labelImg style) or an ultralytics ``classes.yaml`` / ``data.yaml`` (``names:``
as a list or an id -> name mapping) in the label file's folder, its parent or the
roots, else kept as the id string ("0", "1", ...).
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from bbselect.errors import UsageError
from bbselect.inputs.boxmodel import Box, make_box, rel_stem, substituted

_YOLO_TOL = 0.01  # YOLO values may stray this far outside 0..1 (rounding); then clamped


def yolo_candidates(images_root: Path, rel: str, source: Path | None) -> list[Path]:
    stem = rel_stem(rel)
    if source is not None:
        return [source / (str(stem) + ".txt")]
    img = images_root / rel
    return [img.with_suffix(".txt"), *substituted(img, ".txt", {"images": ("labels",)})]


NAME_FILES = ("classes.txt", "classes.yaml", "data.yaml", "dataset.yaml")


def _names_from(f: Path) -> list[str] | None:
    try:
        text = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read class names {f}: {exc}") from exc
    if f.suffix == ".txt":
        return [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot read class names {f}: {exc}") from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):  # ultralytics: {0: person, 1: bicycle, ...}
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise UsageError(f"{f}: 'names' keys must be class ids 0, 1, ...") from None
        lookup = {int(k): str(v) for k, v in names.items()}
        return [lookup.get(i, str(i)) for i in range(ids[-1] + 1)] if ids else None
    if isinstance(names, list):
        return [str(n) for n in names]
    return None


def yolo_names(label_file: Path, roots: list[Path]) -> list[str] | None:
    """Class names from ``classes.txt`` (labelImg) or a ``names:`` list/dict in ``classes.yaml`` /
    ``data.yaml`` / ``dataset.yaml`` (ultralytics), in the label file's folder, the label tree's
    parent or the roots; None keeps the ids."""
    folders = [label_file.parent, label_file.parent.parent, *roots]
    for folder in dict.fromkeys(folders):
        for name in NAME_FILES:
            f = folder / name
            if f.is_file():
                names = _names_from(f)
                if names:
                    return names
    return None


def parse_yolo(path: Path, names: list[str] | None = None) -> list[Box]:
    """Boxes of one YOLO label file (normalised ``class cx cy w h`` lines)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read YOLO label file {path}: {exc}") from exc
    boxes = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        where = f"{path}, line {lineno}"
        if not (len(tok) == 5 or (len(tok) >= 7 and len(tok) % 2 == 1)):
            raise UsageError(f"{where}: expected 'class cx cy w h' (5 fields) or a "
                             f"polygon 'class x1 y1 x2 y2 x3 y3 ...'; got {len(tok)} fields")
        try:
            cls = int(tok[0])
            vals = [float(t) for t in tok[1:]]
        except ValueError:
            raise UsageError(f"{where}: class must be an integer and coordinates numbers; "
                             f"got {line.strip()!r}") from None
        if cls < 0:
            raise UsageError(f"{where}: negative class id {cls}")
        if not all(math.isfinite(v) for v in vals):
            raise UsageError(f"{where}: non-finite coordinate in {line.strip()!r}")
        if any(v < -_YOLO_TOL or v > 1 + _YOLO_TOL for v in vals):
            raise UsageError(f"{where}: YOLO coordinates must be normalised to 0..1; got "
                             f"{line.strip()!r} (pixel coordinates?)")
        if names is not None:
            if cls >= len(names):
                raise UsageError(f"{where}: class id {cls} but classes.txt lists only "
                                 f"{len(names)} names")
            label = names[cls]
        else:
            label = str(cls)
        if len(tok) == 5:
            cx, cy, w, h = vals
            x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        else:
            xs, ys = vals[0::2], vals[1::2]
            x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        boxes.append(make_box(x0, y0, x1, y1, label, where))
    return boxes
