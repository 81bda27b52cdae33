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
One module each, which says where its files are looked for and how they are read:

``yolo``  ``annotations_yolo``: one ``.txt`` per image, normalised ``class cx cy w h`` lines
``voc``   ``annotations_voc``: one ``.xml`` per image, pixel ``<bndbox>`` coordinates
``coco``  ``annotations_coco``: one ``.json`` for all images, pixel ``bbox = [x, y, w, h]``

This module finds which format the images have (``detect_format``) and loads it. The box model,
the image-size check and the clamping of boxes are in ``boxmodel``; any malformed file is a
``UsageError`` naming the file and where in it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from bbselect.errors import UsageError
from bbselect.inputs.boxmodel import Box, BoxSet
from bbselect.inputs.coco import coco_candidates, parse_coco
from bbselect.inputs.voc import parse_voc, voc_candidates
from bbselect.inputs.yolo import parse_yolo, yolo_candidates, yolo_names

FORMATS = ("yolo", "voc", "coco")


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
    n_yolo = sum(_first_existing(yolo_candidates(images_root, r, source)) is not None
                 for r in image_rels)
    n_voc = sum(_first_existing(voc_candidates(images_root, r, source)) is not None
                for r in image_rels)
    if n_yolo:
        found["yolo"] = f"{n_yolo} .txt files"
    if n_voc:
        found["voc"] = f"{n_voc} .xml files"
    coco = coco_candidates(source if source is not None else images_root)
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
            cands = coco_candidates(source if source is not None else images_root)
            if len(cands) != 1:
                raise UsageError(f"need exactly one COCO .json file; found {len(cands)}")
            coco_file = cands[0]
    notes: list[str] = []
    boxes: dict[str, list[Box]] = {}
    layout = ""
    if fmt == "coco":
        boxes = parse_coco(coco_file, image_rels, image_sizes, notes)
        used = coco_file
        layout = layout_of("coco", coco_file, images_root, "", source)
    else:
        used = source
        roots = [p for p in (source, images_root) if p is not None]
        for rel in image_rels:
            if fmt == "yolo":
                f = _first_existing(yolo_candidates(images_root, rel, source))
                if f is not None:
                    boxes[rel] = parse_yolo(f, yolo_names(f, roots))
            else:
                f = _first_existing(voc_candidates(images_root, rel, source))
                if f is not None:
                    boxes[rel] = parse_voc(f, image_sizes.get(rel), notes)
            if f is not None and not layout:
                layout = layout_of(fmt, f, images_root, rel, source)
    missing = [r for r in image_rels if r not in boxes]
    if missing:
        notes.append(f"{len(missing)} of {len(image_rels)} images have no annotation"
                     + (" (YOLO: no label file = no objects)" if fmt == "yolo" else ""))
    return BoxSet(boxes=boxes, format=fmt, missing=missing, source=used, notes=notes, layout=layout)


def disk_rels(images_root: Path, images: list[dict]) -> dict[str, str]:
    """Image rel -> its path under ``images_root`` as the file system spells it, to find annotation
    files beside it. They differ only for names with bytes that are not UTF-8, which a rel writes
    ``\\xNN`` (``common.readable``); ``images``: dicts with ``rel`` and ``path``."""
    root = os.path.abspath(images_root)
    return {im["rel"]: (Path(os.path.relpath(im["path"], root)).as_posix()
                        if "\\" in im["rel"] and im.get("path") else im["rel"]) for im in images}


def rekeyed(found: BoxSet, rel_of: dict[str, str]) -> BoxSet:
    """``found`` with its image keys mapped by ``rel_of`` (the inverse of ``disk_rels``)."""
    return dataclasses.replace(found, boxes={rel_of.get(r, r): b for r, b in found.boxes.items()},
                               missing=[rel_of.get(r, r) for r in found.missing])


_FORMAT_NAMES = {"yolo": "YOLO", "voc": "Pascal VOC", "coco": "COCO"}


def layout_of(fmt: str, found: Path, images_root: Path, rel: str, source: Path | None) -> str:
    """A short description of where annotation ``found`` (of image ``rel``) sits."""
    name = _FORMAT_NAMES[fmt]
    if source is not None:
        return f"{name} from {source}"
    if fmt == "coco":
        try:
            return f"{name} json {found.relative_to(images_root).as_posix()} in the image folder"
        except ValueError:
            return f"{name} json {found.parent.name}/{found.name} beside the image folder"
    img = images_root / rel
    if found.parent == img.parent:
        return f"{name}: annotation files beside the images"
    changed = [(a, b) for a, b in zip(img.parts, found.parts) if a != b]
    if len(img.parts) == len(found.parts) and len(changed) == 2:  # one folder swapped + the file name
        return f"{name}: {changed[0][0]}/ <-> {changed[0][1]}/ (path substitution)"
    return f"{name}: {found.parent.relative_to(images_root).as_posix()}/ under the image folder"


__all__ = ["FORMATS", "detect_format", "load_boxes", "layout_of", "disk_rels", "rekeyed"]
