"""Where class labels come from: first-level class folders, or a CSV with ``image`` and ``label`` columns."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

from bbselect.common import special_file
from bbselect.errors import UsageError


def class_folders(root: Path, image_rels: list[str]) -> dict[str, str] | None:
    """Map rel -> class name when the images are sorted into class sub-folders.

    Applies only when *every* image lies inside a first-level sub-folder of
    ``root`` (rels are POSIX paths relative to ``root``; deeper nesting is
    fine, the first-level folder is the class) and there are at least two
    such folders.  Otherwise returns None (no labels).  ``root`` is not read.
    """
    del root  # the rels already say everything; kept for a uniform call site
    if not image_rels:
        return None
    out: dict[str, str] = {}
    for rel in image_rels:
        parts = PurePosixPath(rel).parts
        if len(parts) < 2:
            return None
        out[rel] = parts[0]
    return out if len(set(out.values())) >= 2 else None


def normalise_rel(s: str) -> str:
    s = s.strip().replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return s


def labels_csv(path: Path) -> dict[str, str]:
    """Read a CSV with a header row containing ``image`` and ``label`` columns.

    Other columns are ignored; header names are matched case-insensitively;
    a UTF-8 BOM is accepted; blank lines are skipped.  ``image`` is a path
    relative to the image folder (``\\`` is read as ``/``, a leading ``./`` is
    dropped).  Raises ``UsageError`` naming the file and line for a missing
    header, a row with too few fields, an empty image or label, or an image
    listed twice with different labels.
    """
    path = Path(path)
    kind = special_file(path)
    if kind:  # /dev/zero never ends, a FIFO blocks: refuse before opening
        raise UsageError(f"--labels {path}: not a regular file ({kind})")
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read labels file {path}: {exc.strerror or exc}") from exc
    out: dict[str, str] = {}
    where: dict[str, int] = {}
    with fh:
        reader = csv.reader(fh)
        try:
            header = None
            for row in reader:
                if any(c.strip() for c in row):
                    header = [c.strip().lower() for c in row]
                    break
            if header is None:
                raise UsageError(f"{path}: empty labels file (need a header 'image,label')")
            if "image" not in header or "label" not in header:
                raise UsageError(f"{path}, line {reader.line_num}: header must have columns "
                                 f"'image' and 'label'; got {','.join(header)!r}")
            ii, il = header.index("image"), header.index("label")
            need = max(ii, il) + 1
            for row in reader:
                line = reader.line_num
                if not any(c.strip() for c in row):
                    continue
                if len(row) < need:
                    raise UsageError(f"{path}, line {line}: expected at least {need} fields "
                                     f"(image,label), got {len(row)}: {','.join(row)!r}")
                img, lab = normalise_rel(row[ii]), row[il].strip()
                if not img or not lab:
                    raise UsageError(f"{path}, line {line}: empty "
                                     f"{'image' if not img else 'label'} field")
                if img in out and out[img] != lab:
                    raise UsageError(f"{path}, line {line}: {img!r} already has label "
                                     f"{out[img]!r} (line {where[img]}), now {lab!r}")
                out[img] = lab
                where.setdefault(img, line)
        except csv.Error as exc:
            raise UsageError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    return out
