"""YOLO annotations: one ``.txt`` of normalised ``class cx cy w h`` lines per image.

The ``.txt`` is found beside the image (``a/b.jpg`` -> ``a/b.txt``) or in the
parallel ``labels`` tree of the usual YOLO layout (the last ``images``
component of the image's path replaced by ``labels``).  Each line:
``class cx cy w h``, all normalised to 0..1.  Segmentation lines
(``class x1 y1 x2 y2 x3 y3 ...``, at least 3 points) become their bounding
box.  Class ids are turned into names through a ``classes.txt`` (one name per
line, labelImg style) in the label file's folder or the label root, else kept
as the id string ("0", "1", ...).
"""

from __future__ import annotations

import math
from pathlib import Path

from bbselect.errors import UsageError
from bbselect.inputs.boxmodel import Box, make_box, rel_stem

_YOLO_TOL = 0.01  # YOLO values may stray this far outside 0..1 (rounding); then clamped


def yolo_candidates(images_root: Path, rel: str, source: Path | None) -> list[Path]:
    stem = rel_stem(rel)
    if source is not None:
        return [source / (str(stem) + ".txt")]
    img = images_root / rel
    out = [img.with_suffix(".txt")]
    parts = list(img.parts)
    for i in range(len(parts) - 2, -1, -1):  # last "images" folder above the file
        if parts[i] == "images":
            parts[i] = "labels"
            out.append(Path(*parts).with_suffix(".txt"))
            break
    return out


def yolo_names(label_file: Path, roots: list[Path]) -> list[str] | None:
    for folder in [label_file.parent, *roots]:
        f = folder / "classes.txt"
        if f.is_file():
            try:
                return [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()
                        if ln.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read class names {f}: {exc}") from exc
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
