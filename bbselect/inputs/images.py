"""Find images in a folder: sorted, stable ids, and every file skipped listed with its reason.

Discovery: the search is recursive and sorted by relative POSIX path. Extensions are matched
case-insensitively (see ``IMAGE_EXTENSIONS``). Hidden files and directories (names that start
with ".") are ignored. Symlinks to directories are not followed, so symlink loops cannot hang
the search; they are listed as skipped. Broken symlinks, non-regular files and unreadable
directories are also listed as skipped, each with a reason. A directory whose name looks like
an image (``fake.jpg/``) is searched like any other directory.

Decoding and fitting to the network input live in ``inputs.decode``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bbselect.common import readable, special_file

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

_ID_SLUG_MAX = 60


@dataclass(frozen=True)
class ImageRef:
    path: Path  # absolute path
    rel: str  # POSIX path relative to the root folder
    id: str  # filesystem-safe, unique, stable id derived from rel


@dataclass(frozen=True)
class Skipped:
    rel: str
    reason: str


def image_id(rel: str) -> str:
    """Return an ASCII slug of ``rel`` (at most 60 characters), "-", and the first 8 hex digits of sha1(rel)."""
    ascii_rel = unicodedata.normalize("NFKD", rel).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9._]+", "-", ascii_rel.lower())
    slug = re.sub(r"-{2,}", "-", slug)[:_ID_SLUG_MAX].strip("-._") or "image"
    return f"{slug}-{hashlib.sha1(rel.encode('utf-8')).hexdigest()[:8]}"


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def discover_images(root: Path) -> tuple[list[ImageRef], list[Skipped]]:
    """Find the image files under ``root``. Returns (images, skipped), both sorted by ``rel``.

    If ``root`` is a file, it is returned alone with ``rel`` = its name, whatever its extension:
    the caller named it explicitly.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        name = readable(root.name)
        if special_file(root):  # a FIFO or device named directly: opening it would hang or never end
            return [], [Skipped(name, f"not a regular file ({special_file(root)})")]
        return [ImageRef(root, name, image_id(name))], []
    images: list[ImageRef] = []
    skipped: list[Skipped] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except PermissionError:
            skipped.append(Skipped(prefix.rstrip("/") or ".", "permission denied (directory not readable)"))
            continue
        except OSError as exc:
            skipped.append(Skipped(prefix.rstrip("/") or ".", f"cannot list directory ({exc.strerror or exc})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + readable(entry.name)
            try:
                if entry.is_symlink():
                    try:
                        st = os.stat(entry.path)  # follows the link
                    except FileNotFoundError:
                        if _is_image_name(entry.name):
                            skipped.append(Skipped(rel, "broken symlink"))
                        continue
                    except OSError as exc:  # e.g. ELOOP for a link pointing to itself
                        skipped.append(Skipped(rel, f"cannot follow symlink ({exc.strerror or exc})"))
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        skipped.append(Skipped(rel, "symlink to a directory (not followed)"))
                        continue
                    is_regular = stat.S_ISREG(st.st_mode)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                    continue
                else:
                    is_regular = entry.is_file(follow_symlinks=False)
            except OSError as exc:
                skipped.append(Skipped(rel, f"cannot inspect ({exc.strerror or exc})"))
                continue
            if not _is_image_name(entry.name):
                continue
            if not is_regular:  # FIFOs, sockets, devices: opening a FIFO would block forever
                skipped.append(Skipped(rel, "not a regular file"))
                continue
            images.append(ImageRef(Path(entry.path), rel, image_id(rel)))
    images, clashes = _unique(images)
    skipped.extend(clashes)
    images.sort(key=lambda r: r.rel)
    skipped.sort(key=lambda s: s.rel)
    return images, skipped


def _unique(images: list[ImageRef]) -> tuple[list[ImageRef], list[Skipped]]:
    """One image per ``rel``: a name whose non-UTF-8 bytes, written ``\\xNN``, spell another file's
    name is skipped (the file whose name is what it says is kept)."""
    by_rel: dict[str, list[ImageRef]] = {}
    for r in images:
        by_rel.setdefault(r.rel, []).append(r)
    keep, skipped = [], []
    for rel, refs in by_rel.items():
        refs.sort(key=lambda r: (readable(str(r.path)) != str(r.path), os.fsencode(r.path)))
        keep.append(refs[0])
        skipped += [Skipped(rel, "its name has bytes that are not UTF-8, and written as \\xNN it is the "
                                 "name of another file") for _ in refs[1:]]
    return keep, skipped


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header only."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
