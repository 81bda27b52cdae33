"""Bounding boxes for each image, read from YOLO, Pascal VOC or COCO files.

``load_boxes`` finds and parses the annotations and returns a ``BoxSet``:
``boxes[rel]`` is a list of ``Box(x0, y0, x1, y1, label)`` in *normalised*
coordinates of the upright image (0 = left/top edge, 1 = right/bottom edge,
x0 < x1, y0 < y1).  Images without any annotation are listed in
``BoxSet.missing`` and have no entry in ``boxes``; an image whose annotation
exists but holds no object (an empty YOLO file, a VOC file without
``<object>``, a COCO image without annotations) maps to an empty list.

Formats
-------
``yolo``
    One ``.txt`` per image, found beside the image (``a/b.jpg`` ->
    ``a/b.txt``) or in the parallel ``labels`` tree of the usual YOLO layout
    (the last ``images`` component of the image's path replaced by
    ``labels``).  Each line: ``class cx cy w h``, all normalised to 0..1.
    Segmentation lines (``class x1 y1 x2 y2 x3 y3 ...``, at least 3 points)
    become their bounding box.  Class ids are turned into names through a
    ``classes.txt`` (one name per line, labelImg style) in the label file's
    folder or the label root, else kept as the id string ("0", "1", ...).
``voc``
    One ``.xml`` per image (beside it, or in an ``Annotations`` /
    ``annotations`` folder under the image root), with
    ``<object><name/><bndbox><xmin/>...``.  VOC pixel coordinates are 1-based
    and inclusive, so the box covers the pixel edges ``[xmin - 1, xmax]``:
    ``x0 = (xmin - 1) / W``, ``x1 = xmax / W``.
``coco``
    One ``.json`` with ``images`` (``id``, ``file_name``, ``width``,
    ``height``), ``annotations`` (``image_id``, ``category_id``,
    ``bbox = [x, y, w, h]`` in pixels) and ``categories`` (``id``, ``name``).
    ``file_name`` is matched to an image rel exactly, else as a path suffix,
    else by unique base name.  Crowd annotations are kept.

Image size.  VOC ``<size>`` and COCO ``width``/``height`` give the frame the
annotator drew in; pixel boxes are normalised by it.  It must match the
upright image size given in ``image_sizes`` up to a uniform rescale (aspect
ratio within 1 %); a transposed size (typical of an image whose EXIF rotation
the annotation tool ignored) or any other mismatch is a ``UsageError``, since
the boxes would land in the wrong place.  When a VOC file has no ``<size>``,
the image size is used.

Boxes are clamped to the image.  A box with zero or negative width or height,
or one that lies entirely outside the image, is a ``UsageError`` naming the
file and the line (YOLO), element path (VOC) or annotation index and id (COCO).

XML is parsed with ``defusedxml`` when it is installed, otherwise with the
standard library's ``xml.etree.ElementTree``, which does not fetch external
entities but is exposed to entity-expansion ("billion laughs") attacks:
install ``defusedxml`` when the annotation files are not trusted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from bbselect.errors import UsageError

try:  # pragma: no cover - depends on the environment
    from defusedxml import ElementTree as _ET  # type: ignore
    XML_PARSER = "defusedxml"
except ImportError:  # pragma: no cover
    import xml.etree.ElementTree as _ET
    XML_PARSER = "xml.etree (stdlib; install defusedxml for untrusted files)"
from xml.etree.ElementTree import ParseError

FORMATS = ("yolo", "voc", "coco")
_YOLO_TOL = 0.01  # YOLO values may stray this far outside 0..1 (rounding); then clamped
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

    @property
    def n_boxes(self) -> int:
        return sum(len(b) for b in self.boxes.values())


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------


def _make_box(x0: float, y0: float, x1: float, y1: float, label: str, where: str) -> Box:
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


def _check_size(declared: tuple[float, float], actual: tuple[int, int] | None,
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


def _rel_stem(rel: str) -> PurePosixPath:
    return PurePosixPath(rel).with_suffix("")


# --------------------------------------------------------------------------
# YOLO
# --------------------------------------------------------------------------


def _yolo_candidates(images_root: Path, rel: str, source: Path | None) -> list[Path]:
    stem = _rel_stem(rel)
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


def _yolo_names(label_file: Path, roots: list[Path]) -> list[str] | None:
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
        boxes.append(_make_box(x0, y0, x1, y1, label, where))
    return boxes


# --------------------------------------------------------------------------
# Pascal VOC
# --------------------------------------------------------------------------


def _voc_candidates(images_root: Path, rel: str, source: Path | None) -> list[Path]:
    stem = str(_rel_stem(rel))
    if source is not None:
        return [source / (stem + ".xml"), source / (PurePosixPath(stem).name + ".xml")]
    return [(images_root / rel).with_suffix(".xml"),
            images_root / "Annotations" / (stem + ".xml"),
            images_root / "annotations" / (stem + ".xml")]


def _voc_number(obj, tag: str, where: str) -> float:
    el = obj.find(tag)
    if el is None or el.text is None or not el.text.strip():
        raise UsageError(f"{where}/{tag}: missing")
    try:
        v = float(el.text.strip())
    except ValueError:
        raise UsageError(f"{where}/{tag}: not a number ({el.text.strip()!r})") from None
    if not math.isfinite(v):
        raise UsageError(f"{where}/{tag}: not a finite number ({el.text.strip()!r})")
    return v


def parse_voc(path: Path, image_size: tuple[int, int] | None = None,
              notes: list[str] | None = None) -> list[Box]:
    """Boxes of one Pascal VOC xml file; ``image_size`` = upright (w, h) to check against."""
    notes = [] if notes is None else notes
    try:
        root = _ET.parse(str(path)).getroot()
    except ParseError as exc:
        line = getattr(exc, "position", (None, None))[0]
        raise UsageError(f"{path}, line {line}: malformed XML ({exc})") from None
    except OSError as exc:
        raise UsageError(f"cannot read VOC file {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # defusedxml's forbidden-construct errors
        raise UsageError(f"{path}: refused XML ({exc})") from None
    if root.tag != "annotation":
        raise UsageError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is not None:
        frame = _check_size((_voc_number(size, "width", f"{path}: annotation/size"),
                             _voc_number(size, "height", f"{path}: annotation/size")),
                            image_size, str(path), notes)
    elif image_size is not None:
        frame = (float(image_size[0]), float(image_size[1]))
    else:
        raise UsageError(f"{path}: no <size> element and the image size is unknown")
    w, h = frame
    boxes = []
    for i, obj in enumerate(root.findall("object"), start=1):
        where = f"{path}: annotation/object[{i}]"
        name_el = obj.find("name")
        if name_el is None or not (name_el.text or "").strip():
            raise UsageError(f"{where}/name: missing")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise UsageError(f"{where}/bndbox: missing")
        bw = where + "/bndbox"
        xmin, ymin = _voc_number(bnd, "xmin", bw), _voc_number(bnd, "ymin", bw)
        xmax, ymax = _voc_number(bnd, "xmax", bw), _voc_number(bnd, "ymax", bw)
        boxes.append(_make_box((xmin - 1) / w, (ymin - 1) / h, xmax / w, ymax / h,
                               name_el.text.strip(), bw))
    return boxes


# --------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------


def _is_coco(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError):
        return False
    return '"images"' in head or '"annotations"' in head


def _coco_candidates(images_root: Path) -> list[Path]:
    out = []
    for folder in (images_root, images_root / "annotations", images_root / "Annotations"):
        if folder.is_dir():
            out += sorted(p for p in folder.glob("*.json") if p.is_file() and _is_coco(p))
    return out


def _match_coco_name(file_name: str, by_suffix: dict[str, list[str]]) -> str | None:
    """The rel a COCO ``file_name`` refers to: exact, else unique path suffix, else
    unique base name; None when nothing (or more than one image) matches."""
    fn = file_name.replace("\\", "/")
    while fn.startswith("./"):
        fn = fn[2:]
    for key in (fn, PurePosixPath(fn).name):
        cands = by_suffix.get(key, [])
        if fn in cands:
            return fn
        if len(cands) == 1:
            return cands[0]
    return None


def _suffix_index(image_rels: list[str]) -> dict[str, list[str]]:
    """Every trailing run of path components of every rel -> the rels ending so."""
    idx: dict[str, list[str]] = {}
    for r in image_rels:
        parts = PurePosixPath(r).parts
        for i in range(len(parts)):
            idx.setdefault("/".join(parts[i:]), []).append(r)
    return idx


def parse_coco(path: Path, image_rels: list[str],
               image_sizes: dict[str, tuple[int, int]],
               notes: list[str] | None = None) -> dict[str, list[Box]]:
    """rel -> boxes for every image of ``image_rels`` that the COCO file lists."""
    notes = [] if notes is None else notes
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}, line {exc.lineno}: malformed JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read COCO file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise UsageError(f"{path}: not a COCO file (needs lists 'images' and 'annotations')")
    cats = {}
    for i, c in enumerate(data.get("categories") or []):
        if not isinstance(c, dict) or "id" not in c:
            raise UsageError(f"{path}: categories[{i}] has no 'id'")
        cats[c["id"]] = str(c.get("name", c["id"]))
    by_suffix = _suffix_index(image_rels)
    frames: dict[object, tuple[str, tuple[float, float]]] = {}
    out: dict[str, list[Box]] = {}
    unmatched = 0
    for i, im in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise UsageError(f"{where}: needs 'id' and 'file_name'")
        rel = _match_coco_name(str(im["file_name"]), by_suffix)
        if rel is None:
            unmatched += 1
            continue
        where += f" (id {im['id']}, {im['file_name']})"
        if rel in out:
            raise UsageError(f"{where}: a second COCO image entry for {rel}")
        actual = image_sizes.get(rel)
        if "width" in im and "height" in im:
            try:
                declared = (float(im["width"]), float(im["height"]))
            except (TypeError, ValueError):
                raise UsageError(f"{where}: width/height are not numbers") from None
            frame = _check_size(declared, actual, where, notes)
        elif actual is not None:
            frame = (float(actual[0]), float(actual[1]))
        else:
            raise UsageError(f"{where}: no width/height and the image size is unknown")
        frames[im["id"]] = (rel, frame)
        out[rel] = []
    if unmatched:
        notes.append(f"{path}: {unmatched} COCO image entries match no image in the folder")
    ids = {im.get("id") for im in data["images"] if isinstance(im, dict)}
    for i, ann in enumerate(data["annotations"]):
        aid = ann.get("id", "?") if isinstance(ann, dict) else "?"
        where = f"{path}: annotations[{i}] (id {aid})"
        if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann:
            raise UsageError(f"{where}: needs 'image_id' and 'bbox'")
        if ann["image_id"] not in ids:
            raise UsageError(f"{where}: image_id {ann['image_id']!r} is not in 'images'")
        if ann["image_id"] not in frames:
            continue
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise UsageError(f"{where}: bbox must be [x, y, width, height] numbers; got {bbox!r}")
        cid = ann.get("category_id")
        if cats and cid not in cats:
            raise UsageError(f"{where}: category_id {cid!r} is not in 'categories'")
        label = cats.get(cid, str(cid))
        rel, (w, h) = frames[ann["image_id"]]
        x, y, bw, bh = (float(v) for v in bbox)
        out[rel].append(_make_box(x / w, y / h, (x + bw) / w, (y + bh) / h, label, where))
    return out


# --------------------------------------------------------------------------
# detection and loading
# --------------------------------------------------------------------------


def _first_existing(paths: list[Path]) -> Path | None:
    for p in paths:
        if p.is_file():
            return p
    return None


def detect_format(images_root: Path, image_rels: list[str],
                  source: Path | None = None) -> tuple[str, Path | None] | None:
    """(format, COCO file or None) found for these images, or None if there is none.

    A ``.json`` source is COCO.  Otherwise per-image ``.txt`` (YOLO) and
    ``.xml`` (VOC) files are looked for (under ``source`` when it is a folder,
    else beside the images / in the usual parallel folders), and COCO files
    in the image root and its ``annotations`` folder.  More than one format,
    or more than one COCO file, is a ``UsageError`` asking for an explicit
    source or format.
    """
    if source is not None and source.is_file():
        if source.suffix.lower() == ".json":
            return "coco", source
        raise UsageError(f"annotation source {source}: a single file must be a COCO .json")
    if source is not None and not source.is_dir():
        raise UsageError(f"annotation source {source} does not exist")
    found = {}
    n_yolo = sum(_first_existing(_yolo_candidates(images_root, r, source)) is not None
                 for r in image_rels)
    n_voc = sum(_first_existing(_voc_candidates(images_root, r, source)) is not None
                for r in image_rels)
    if n_yolo:
        found["yolo"] = f"{n_yolo} .txt files"
    if n_voc:
        found["voc"] = f"{n_voc} .xml files"
    coco = _coco_candidates(source if source is not None else images_root)
    if len(coco) > 1:
        raise UsageError("several COCO files found (" + ", ".join(str(p) for p in coco)
                         + "); pass the one to use")
    if coco:
        found["coco"] = str(coco[0])
    if len(found) > 1:
        raise UsageError("annotations in more than one format: "
                         + "; ".join(f"{k}: {v}" for k, v in found.items())
                         + ". Say which to use.")
    if not found:
        return None
    fmt = next(iter(found))
    return fmt, (coco[0] if fmt == "coco" else None)


def load_boxes(images_root: Path, image_rels: list[str],
               image_sizes: dict[str, tuple[int, int]],
               source: Path | None = None, fmt: str | None = None) -> BoxSet:
    """Find, parse and normalise the boxes of every image in ``image_rels``.

    ``image_sizes``: rel -> (width, height) of the upright image.  ``source``:
    a COCO .json file, or a folder holding per-image .txt / .xml files laid out
    like the images (``a/b.jpg`` -> ``source/a/b.txt``); None = auto-detect.
    ``fmt`` forces "yolo", "voc" or "coco".  Raises ``UsageError`` when no
    annotation is found at all, or on any malformed file.
    """
    images_root = Path(images_root)
    source = None if source is None else Path(source)
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown annotation format {fmt!r}; use one of {', '.join(FORMATS)}")
    coco_file = None
    if fmt is None:
        det = detect_format(images_root, image_rels, source)
        if det is None:
            where = source if source is not None else images_root
            raise UsageError(f"no YOLO (.txt), Pascal VOC (.xml) or COCO (.json) annotations "
                             f"found for the images in {where}")
        fmt, coco_file = det
    elif fmt == "coco":
        if source is not None and source.is_file():
            coco_file = source
        else:
            cands = _coco_candidates(source if source is not None else images_root)
            if len(cands) != 1:
                raise UsageError(f"need exactly one COCO .json file; found {len(cands)}")
            coco_file = cands[0]
    notes: list[str] = []
    boxes: dict[str, list[Box]] = {}
    if fmt == "coco":
        boxes = parse_coco(coco_file, image_rels, image_sizes, notes)
        used = coco_file
    else:
        used = source
        roots = [p for p in (source, images_root) if p is not None]
        for rel in image_rels:
            if fmt == "yolo":
                f = _first_existing(_yolo_candidates(images_root, rel, source))
                if f is not None:
                    boxes[rel] = parse_yolo(f, _yolo_names(f, roots))
            else:
                f = _first_existing(_voc_candidates(images_root, rel, source))
                if f is not None:
                    boxes[rel] = parse_voc(f, image_sizes.get(rel), notes)
    missing = [r for r in image_rels if r not in boxes]
    if missing:
        notes.append(f"{len(missing)} of {len(image_rels)} images have no annotation")
    return BoxSet(boxes=boxes, format=fmt, missing=missing, source=used, notes=notes)


__all__ = ["Box", "BoxSet", "FORMATS", "XML_PARSER", "detect_format", "load_boxes",
           "parse_coco", "parse_voc", "parse_yolo"]
