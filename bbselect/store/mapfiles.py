"""Maps on disk: one ``.npz`` per image and backbone, written atomically, read back whole.

A maps file holds the collapsed ``max`` / ``mean`` / ``sum`` maps (float32, cropped to the image),
the pooled ``gap`` / ``gmp`` features and ``valid_hw``; never the full feature tensor.
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
