"""The detection probe's feature tensors on disk: which images keep their full ``[h, w, C]`` tensor,
where (``features/<backbone>/<id>.npz``), under which cache key, and how each file is checked.

A feature file holds ``features`` (float16 where that keeps the values, else float32), ``valid_hw``,
and, like a maps file, the content hash of its image and the key of the settings it was made with
(``mapfiles.verify_features``): a resumed run keeps a file only if both still match, and a cache
entry is verified as a feature entry, never as a maps entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bbselect.store import mapfiles

# Feature tensors are stored as float16 when their peak |value| lies in this range, else float32.
HALF_RANGE = (1e-2, 6e4)
# Part of the features' cache key: changed whenever what a stored tensor holds changes (v2: no float16
# underflow), so older cache entries are never reused.
FEATURE_STORE = "features-v2"


@dataclass
class FeatureJob:
    """Which images' full feature tensors to keep (the probe's sample), where, and their cache keys;
    ``key``: the backbone settings' key, stored in every file and checked when a run is resumed."""

    ids: set[str]
    out_dir: Path
    cache_keys: dict[str, str] | None = None
    key: str | None = None

    def have(self, image_id: str, cache, image_sha256: str | None = None) -> bool:
        """True when the image's tensor is in the run folder (made from this content with these
        settings) or could be copied from the cache; a stale run-folder file is deleted."""
        dest = self.out_dir / f"{image_id}.npz"
        if dest.exists():
            if mapfiles.verify_features(dest, image_sha256, self.key) is None:
                return True
            dest.unlink(missing_ok=True)
        return bool(cache is not None and self.cache_keys and image_id in self.cache_keys
                    and cache.fetch(self.cache_keys[image_id], dest, verify=mapfiles.verify_features))

    def save(self, image_id: str, tensor: np.ndarray, valid, cache, image_sha256: str | None = None,
             cacheable: bool = True) -> None:
        dest = self.out_dir / f"{image_id}.npz"
        peak = float(np.max(np.abs(tensor), initial=0.0))
        # float16 halves the disk, but only where it keeps the values: it overflows above 6.5e4, and a
        # random-init MobileNet's activations (~1e-16) would all underflow to 0
        half = HALF_RANGE[0] <= peak < HALF_RANGE[1]
        arrays = {"features": tensor.astype(np.float16 if half else np.float32),
                  "valid_hw": np.asarray(valid, np.int32)}
        arrays.update(mapfiles.provenance(image_sha256, self.key))
        mapfiles.save_maps(dest, arrays)
        if cache is not None and self.cache_keys and cacheable and image_id in self.cache_keys:
            cache.store(self.cache_keys[image_id], dest)
