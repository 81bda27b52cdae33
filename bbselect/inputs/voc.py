"""Pascal VOC annotations: one ``.xml`` per image with pixel ``<bndbox>`` coordinates.

The ``.xml`` is found beside the image, or in an ``Annotations`` /
``annotations`` folder under the image root, and holds
``<object><name/><bndbox><xmin/>...``.  VOC pixel coordinates are 1-based
and inclusive, so the box covers the pixel edges ``[xmin - 1, xmax]``:
``x0 = (xmin - 1) / W``, ``x1 = xmax / W``, with ``W`` from ``<size>`` (or the
image size when there is none).

XML is parsed with ``defusedxml`` when it is installed, otherwise with the
standard library's ``xml.etree.ElementTree``, which does not fetch external
entities but is exposed to entity-expansion ("billion laughs") attacks:
install ``defusedxml`` when the annotation files are not trusted.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath

from bbselect.errors import UsageError
from bbselect.inputs.boxmodel import Box, check_size, make_box, rel_stem, substituted

try:  # pragma: no cover - depends on the environment
    from defusedxml import ElementTree as _ET  # type: ignore
    XML_PARSER = "defusedxml"
except ImportError:  # pragma: no cover
    import xml.etree.ElementTree as _ET
    XML_PARSER = "xml.etree (stdlib; install defusedxml for untrusted files)"
from xml.etree.ElementTree import ParseError


def voc_candidates(images_root: Path, rel: str, source: Path | None) -> list[Path]:
    stem = str(rel_stem(rel))
    if source is not None:
        return [source / (stem + ".xml"), source / (PurePosixPath(stem).name + ".xml")]
    img = images_root / rel
    return [img.with_suffix(".xml"),
            images_root / "Annotations" / (stem + ".xml"),
            images_root / "annotations" / (stem + ".xml"),
            *substituted(img, ".xml", VOC_FOLDERS)]


# image folder name -> annotation folder names tried in its place (Pascal VOC and the usual variant)
VOC_FOLDERS = {"JPEGImages": ("Annotations",), "images": ("annotations", "Annotations"),
               "Images": ("Annotations", "annotations")}




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
        frame = check_size((_voc_number(size, "width", f"{path}: annotation/size"),
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
        boxes.append(make_box((xmin - 1) / w, (ymin - 1) / h, xmax / w, ymax / h,
                               name_el.text.strip(), bw))
    return boxes
