"""COCO annotations: one ``.json`` for all images, with pixel ``bbox = [x, y, w, h]`` boxes.

The file (in the image root or its ``annotations`` folder, or given) has
``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations``
(``image_id``, ``category_id``, ``bbox``) and ``categories`` (``id``,
``name``).  ``file_name`` is matched to an image rel exactly, else as a path
suffix, else by unique base name.  Crowd annotations are kept.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from bbselect.errors import UsageError
from bbselect.inputs.boxmodel import Box, check_size, make_box


def _is_coco(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError):
        return False
    return '"images"' in head or '"annotations"' in head


def coco_candidates(images_root: Path) -> list[Path]:
    """COCO files in the image root or its ``annotations/``; when the root is itself an ``images``
    folder, also beside it and in its sibling ``annotations/``."""
    folders = [images_root, images_root / "annotations", images_root / "Annotations"]
    if images_root.name in ("images", "Images", "JPEGImages"):
        folders += [images_root.parent, images_root.parent / "annotations", images_root.parent / "Annotations"]
    out = []
    for folder in folders:
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


def _id(v, where: str):
    """A COCO id: a number or a string (a list or mapping cannot name an image or category)."""
    if isinstance(v, (int, float, str)) and not isinstance(v, bool):
        return v
    raise UsageError(f"{where}: expected a number or a string, got {v!r}")


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
    except RecursionError:  # [[[[...]]]] 100,000 deep: json recurses once per level
        raise UsageError(f"{path}: JSON nested too deeply to be a COCO file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read COCO file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise UsageError(f"{path}: not a COCO file (needs lists 'images' and 'annotations')")
    categories = data.get("categories") or []
    if not isinstance(categories, list):
        raise UsageError(f"{path}: 'categories' must be a list, got {type(categories).__name__}")
    cats = {}
    for i, c in enumerate(categories):
        if not isinstance(c, dict) or "id" not in c:
            raise UsageError(f"{path}: categories[{i}] has no 'id'")
        cats[_id(c["id"], f"{path}: categories[{i}]/id")] = str(c.get("name", c["id"]))
    by_suffix = _suffix_index(image_rels)
    frames: dict[object, tuple[str, tuple[float, float]]] = {}
    out: dict[str, list[Box]] = {}
    unmatched = 0
    for i, im in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise UsageError(f"{where}: needs 'id' and 'file_name'")
        _id(im["id"], f"{where}/id")
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
            frame = check_size(declared, actual, where, notes)
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
        _id(ann["image_id"], f"{where}/image_id")
        if ann.get("category_id") is not None:
            _id(ann["category_id"], f"{where}/category_id")
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
        out[rel].append(make_box(x / w, y / h, (x + bw) / w, (y + bh) / h, label, where))
    return out
