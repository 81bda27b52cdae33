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


def _name(v, f: Path, where: str) -> str:
    """One class name: a scalar.  A list or mapping is refused before ``str`` could expand it: YAML
    aliases share one object, so nine levels of nine aliases cost nothing to load but ``str`` of them
    is 3 GB."""
    if isinstance(v, (str, int, float, bool)) or v is None:
        return str(v)
    raise UsageError(f"{f}: class name {where} must be a string, got a {type(v).__name__}")


def _names_from(f: Path) -> dict[int, str] | None:
    try:
        text = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read class names {f}: {exc}") from exc
    if f.suffix == ".txt":
        return dict(enumerate(ln.strip() for ln in text.splitlines() if ln.strip()))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot read class names {f}: {exc}") from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):  # ultralytics: {0: person, 1: bicycle, ...}; kept sparse (ids may be huge)
        try:
            ids = [int(k) for k in names if not isinstance(k, (bool, float))]
        except (TypeError, ValueError):
            ids = []
        if len(ids) != len(names) or any(i < 0 for i in ids):
            raise UsageError(f"{f}: 'names' keys must be class ids 0, 1, ...")
        return {int(k): _name(v, f, f"{k!r}") for k, v in names.items()}
    if isinstance(names, list):
        return {i: _name(v, f, f"#{i}") for i, v in enumerate(names)}
    return None


def yolo_names(label_file: Path, roots: list[Path]) -> dict[int, str] | None:
    """Class id -> name from ``classes.txt`` (labelImg) or a ``names:`` list/dict in ``classes.yaml`` /
    ``data.yaml`` / ``dataset.yaml`` (ultralytics), in the label file's folder, the label tree's
    parent or the roots; None keeps the ids.  A mapping, not a list: ``{0: a, 10**12: b}`` costs two
    entries."""
    folders = [label_file.parent, label_file.parent.parent, *roots]
    for folder in dict.fromkeys(folders):
        for name in NAME_FILES:
            f = folder / name
            if f.is_file():
                names = _names_from(f)
                if names:
                    return names
    return None


def parse_yolo(path: Path, names=None) -> list[Box]:
    """Boxes of one YOLO label file (normalised ``class cx cy w h`` lines).  ``names``: a list or an id ->
    name mapping (``yolo_names``); an id it skips below its largest keeps the id as its name."""
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    top = max(names, default=-1) if names is not None else -1
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
            if cls > top:
                raise UsageError(f"{where}: class id {cls} but the class names file's largest id is "
                                 f"{top} ({len(names)} names)")
            label = names.get(cls, str(cls))
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
