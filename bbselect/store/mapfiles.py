"""Maps on disk: one ``.npz`` per image and backbone, written atomically, read back whole.

A maps file holds the collapsed ``max`` / ``mean`` / ``sum`` maps (float32, cropped to the image),
the pooled ``gap`` / ``gmp`` features, ``valid_hw`` and ``image_sha256`` (the content hash of the
image it was made from); never the full feature tensor.

``verify_maps`` says whether a file can be trusted: a cache entry or a resumed run folder's file is
verified before it is used, and a bad one is recomputed instead of crashing the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bbselect.errors import OutputError


def save_maps(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write one image's maps atomically (temp name, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None


def load_maps(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


REQUIRED = ("max", "mean", "sum", "gap", "gmp", "valid_hw")
FEATURE_REQUIRED = ("features", "valid_hw")


def provenance(image_sha256: str | None, settings_key: str | None) -> dict[str, np.ndarray]:
    """The arrays that say what a file was made from: its image's content hash and the key of the
    backbone settings (backbone, options, layer, weights, input size, resize, views, precision)."""
    out = {}
    if image_sha256 is not None:
        out["image_sha256"] = np.asarray(image_sha256)
    if settings_key is not None:
        out["settings_key"] = np.asarray(settings_key)
    return out


def _read(path: Path) -> tuple[dict | None, str | None]:
    try:
        return load_maps(path), None
    except FileNotFoundError:
        return None, "missing"
    except Exception as err:  # noqa: BLE001 - whatever fails to read is a damaged file
        return None, f"unreadable ({type(err).__name__}: {err})"


def _made_from(arrays: dict, image_sha256: str | None, settings_key: str | None) -> str | None:
    if image_sha256 is not None:
        stored = arrays.get("image_sha256")
        if stored is None:
            return "made by an older bbselect (no image content hash)"
        if str(stored) != image_sha256:
            return "made from different image content (the image changed since)"
    if settings_key is not None:
        stored = arrays.get("settings_key")
        if stored is None or str(stored) != settings_key:
            return ("made with other settings (backbone, layer, weights, input size, resize or views "
                    "changed since, e.g. in config.yaml) or by an older bbselect")
    return None


def verify_maps(path: Path, image_sha256: str | None = None, settings_key: str | None = None) -> str | None:
    """Why the maps file at ``path`` cannot be used, or None if it can.

    Every array is read in full, so its CRC-32 (stored with it in the ``.npz``, a zip archive) is
    checked; then the expected arrays and their shapes. With ``image_sha256`` the file must also
    record that it was made from an image with exactly that content, with ``settings_key`` that it
    was made with exactly those backbone settings.
    """
    def shapes_ok(a: dict) -> bool:
        maps = {a[k].shape for k in ("max", "mean", "sum")}
        return len(maps) == 1 and len(maps.pop()) == 2 and a["gap"].ndim == 1 and a["gap"].shape == a["gmp"].shape

    return _verify(path, REQUIRED, shapes_ok, image_sha256, settings_key)


def verify_features(path: Path, image_sha256: str | None = None, settings_key: str | None = None) -> str | None:
    """``verify_maps`` for a feature file (``store/features.py``): ``features`` [h, w, C] and ``valid_hw``."""
    return _verify(path, FEATURE_REQUIRED, lambda a: a["features"].ndim == 3 and a["valid_hw"].shape == (2,),
                   image_sha256, settings_key)


def _verify(path: Path, required, shapes_ok, image_sha256: str | None, settings_key: str | None) -> str | None:
    """What is wrong with a saved ``.npz`` (None when nothing): unreadable, an array missing, shapes that
    do not fit (``shapes_ok``), or made from another image or other settings."""
    arrays, problem = _read(path)
    if problem:
        return problem
    missing = [k for k in required if k not in arrays]
    if missing:
        return f"incomplete (no {', '.join(missing)})"
    if not shapes_ok(arrays):
        return "inconsistent array shapes"
    return _made_from(arrays, image_sha256, settings_key)
