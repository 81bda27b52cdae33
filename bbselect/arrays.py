"""In-memory images for the API: accept a list, iterable or batch array of images and save them as a
folder of lossless PNG files named by their content, so the run, its cache and its figures treat them
like any folder (``bbselect.compare(list_of_arrays)``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from bbselect.errors import UsageError

ARRAY_FOLDER = ".arrays"  # in-memory images are written here (under ``output``), named by content


def image_list(images) -> list | None:
    """The in-memory images ``images`` holds, as a list; None for a folder path or None.

    A list, tuple, generator or other iterable of arrays; an N×H×W×3 (or ×4, ×1) batch array; an
    N×H×W grayscale batch. A 3-D array ending in 3 or 4 is refused as ambiguous (one colour image, or
    a batch of N images 3 or 4 pixels wide?). Anything else is a ``UsageError``."""
    if images is None or isinstance(images, (str, bytes, os.PathLike)):
        return None
    if isinstance(images, np.ndarray):
        if images.dtype == object and images.ndim == 1:
            return list(images)
        if images.dtype == object:
            raise UsageError(f"images: an object array of shape {images.shape}; give a list of image arrays "
                             f"or a numeric N×H×W×3 batch")
        if images.ndim == 3 and images.shape[-1] in (3, 4):
            raise UsageError(f"images: a 3-D array of shape {images.shape} could be one image or a batch of "
                             f"grayscale images; for one image pass [image], for a batch an N×H×W×3 array")
        if images.ndim not in (3, 4):
            raise UsageError(f"images: a {images.ndim}-D array of shape {images.shape}; expected an N×H×W×3 "
                             f"or N×H×W batch")
        return list(images)
    if isinstance(images, (list, tuple)) or (hasattr(images, "__iter__") and not isinstance(images, (dict, set))):
        return list(images)
    raise UsageError(f"images: expected a folder, a list (or iterable, or N×H×W×3 batch) of image arrays, or "
                     f"None; got {type(images).__name__} {images!r:.60}")


def as_uint8(a, i: int) -> np.ndarray:
    if isinstance(a, (str, bytes, os.PathLike)):
        raise UsageError(f"images[{i}]: {a!r:.80} is a path; give the folder as images=..., or every image as "
                         f"an array")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as err:  # a ragged nested list
        raise UsageError(f"images[{i}]: not an image array ({err})") from None
    if arr.dtype.kind not in "buif":
        raise UsageError(f"images[{i}]: expected numbers (uint8, or floats in [0, 1]); got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))) or min(arr.shape[:2]) < 1:
        raise UsageError(f"images[{i}]: expected an H×W×3 or H×W array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise UsageError(f"images[{i}]: contains NaN or infinite values")
    scale = 255.0 if arr.max() <= 1.0 else 1.0
    return np.clip(arr * scale, 0, 255).round().astype(np.uint8)


def write_arrays(images, output: Path) -> Path:
    """Save in-memory images as PNG files (lossless) in a folder named by their content, so the run,
    its cache and its figures treat them like any folder, and re-running the same arrays reuses it."""
    from PIL import Image

    if not images:
        raise UsageError("images: the list is empty")
    arrays = [as_uint8(a, i) for i, a in enumerate(images)]
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    folder = output / ARRAY_FOLDER / h.hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        path = folder / f"image_{i:04d}.png"
        if not path.exists():
            Image.fromarray(a).save(path)
    return folder
