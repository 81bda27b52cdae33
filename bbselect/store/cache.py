"""Content-addressed cache of per-image maps, so nothing is computed twice.

An entry is one image's maps file (the same ``.npz`` a run folder holds), stored under a key that
hashes everything that can change it:

    image content (sha256 of the file bytes) · backbone name and constructor options · requested
    layer · weights identity (``none:seed=S``, ``file:<md5>``, ``imagenet:keras-<version>``) ·
    input size · resize policy · bbselect's decoding/preprocessing version

Change any of these and the key changes (a miss); change anything else (figure settings, output
folder, file names, other backbones) and it stays (a hit). Per backbone, its costs (params, GFLOPs,
ms/image measured when it was computed) and layer facts are cached too, so a fully cached run builds
no model and does not even import TensorFlow.

Every entry is verified when it is read: a maps file by ``mapfiles.verify_maps`` (each array's
CRC-32, the expected arrays and shapes, and the image content hash stored in it), a backbone's facts
by the sha256 digest stored with them. A bad entry is deleted, logged once and recomputed; it never
fails a run. Eviction tolerates files that another run deletes at the same time.

Location: ``--cache-dir``, else ``$BBSELECT_CACHE``, else ``$XDG_CACHE_HOME/bbselect``, else
``~/.cache/bbselect``. Size cap: ``--cache-max-mb`` (default 2048); after a run the least recently
used entries are deleted until the cache fits. ``--no-cache`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from bbselect.common import file_digest
from bbselect.errors import UsageError
from bbselect.progress import log
from bbselect.store.mapfiles import verify_maps
from bbselect.store.rundir import atomic_write_bytes, atomic_write_text

# Bump when decoding, resizing or preprocessing changes what a map looks like (or the maps file
# format: version 2 stores the image content hash in every maps file).
PIPELINE_VERSION = 2
META_VERSION = 2  # of the cached backbone facts: 2 = params of the layers the extractor runs, timed batches
DEFAULT_MAX_MB = 2048


def default_dir() -> Path:
    if os.environ.get("BBSELECT_CACHE"):
        return Path(os.environ["BBSELECT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bbselect"


def check_dir(cache_dir: str | None) -> Path:
    """The cache folder for ``--cache-dir`` (None: ``default_dir``); UsageError (exit 2) when it, or the
    nearest existing folder above it, is a file: said before any work, not a crash at the first entry."""
    root = Path(cache_dir).expanduser() if cache_dir else default_dir()
    source = "--cache-dir" if cache_dir else "$BBSELECT_CACHE" if os.environ.get("BBSELECT_CACHE") else "cache folder"
    p = root
    while not p.exists() and not p.is_symlink() and p != p.parent:
        p = p.parent
    if p.exists() and not p.is_dir():
        raise UsageError(f"{source} {root}: {p} is a file, not a folder (name a folder, or pass --no-cache)")
    return root


def file_hash(path: Path) -> str:
    """sha256 of an image file's bytes: the content half of a cache key."""
    return file_digest(path, "sha256")


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def backbone_key(name: str, options: dict, layer: str, weights_id: str, input_size: int, resize: str,
                 views: str | None = None, precision: str = "float32") -> str:
    """Key of everything but the image: one backbone configuration (``views``: the augmented views saved
    with the maps, if any — a maps file with views is another file; ``precision``: the Keras dtype
    policy, in the key only when it is not float32, so float32 keys stay as they were)."""
    fields = {
        "backbone": name, "options": {k: options[k] for k in sorted(options)}, "layer": layer,
        "weights": weights_id, "input_size": input_size, "resize": resize, "pipeline": PIPELINE_VERSION,
    }
    if views is not None:
        fields["views"] = views
    if precision != "float32":
        fields["precision"] = precision
    return _digest(fields)


def entry_key(backbone: str, image_sha256: str) -> str:
    return _digest({"b": backbone, "image": image_sha256})


class Cache:
    """Maps files by key, plus one JSON of facts per backbone key. ``Cache(None)`` is a no-op cache."""

    def __init__(self, root: Path | None, max_mb: int = DEFAULT_MAX_MB, quiet: bool = False):
        self.root = root
        self.max_bytes = max_mb * 1024 * 1024
        self.quiet = quiet
        self.hits = 0
        self.misses = 0
        self.discarded: set[Path] = set()

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> Path:
        return self.root / "maps" / key[:2] / f"{key}.npz"

    def has(self, key: str) -> bool:
        return self.enabled and self._path(key).exists()

    def _discard(self, path: Path, problem: str) -> None:
        """Delete a bad entry (another run may have done it already) and say so once. A cache that
        cannot be changed (read-only, shared, another user's) keeps the entry: it is skipped each time."""
        try:
            path.unlink(missing_ok=True)
            done = "deleted"
        except OSError as err:
            done = f"cannot delete it ({err.strerror or err}), skipping it"
        if path not in self.discarded:
            self.discarded.add(path)
            log(f"warning: corrupt cache entry {path} ({problem}): {done}, recomputing", quiet=self.quiet)

    def fetch(self, key: str, dest: Path, image_sha256: str | None = None, verify=verify_maps) -> bool:
        """Copy the entry into ``dest`` if it is present and verifies (``verify``: ``mapfiles.verify_maps``
        for maps, ``verify_features`` for feature tensors; made from an image with ``image_sha256`` when
        given); True on a hit. A bad entry is deleted and counts as a miss."""
        if not self.enabled:
            return False
        src = self._path(key)
        tmp = dest.with_name(dest.name + ".tmp")
        try:
            shutil.copyfile(src, tmp)
            problem = verify(tmp, image_sha256)
            if problem is None:
                os.replace(tmp, dest)
        except OSError:
            tmp.unlink(missing_ok=True)
            self.misses += 1
            return False
        if problem is not None:
            tmp.unlink(missing_ok=True)
            self._discard(src, problem)
            self.misses += 1
            return False
        try:
            os.utime(src)  # mark as recently used
        except OSError:
            pass  # evicted by another run meanwhile: the copy is good
        self.hits += 1
        return True

    def store(self, key: str, src: Path) -> None:
        if not self.enabled:
            return
        try:
            atomic_write_bytes(self._path(key), src.read_bytes())
        except Exception:  # a full or read-only cache must never fail a run
            pass

    def _meta_path(self, bkey: str) -> Path:
        return self.root / "backbones" / f"{bkey}.json"

    def meta(self, bkey: str) -> dict | None:
        """A backbone's cached facts (params, GFLOPs, speed), or None if absent, damaged (its digest does
        not match) or written by an older bbselect (``META_VERSION``; 1 counted params of the whole backbone)."""
        if not self.enabled:
            return None
        path = self._meta_path(bkey)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("meta"), dict) and doc.get("sha256") == _digest(doc["meta"]):
            return doc["meta"] if doc["meta"].get("meta_version") == META_VERSION else None
        self._discard(path, "digest mismatch" if isinstance(doc, dict) else "unreadable")
        return None

    def store_meta(self, bkey: str, meta: dict) -> None:
        if not self.enabled:
            return
        try:
            meta = {**meta, "meta_version": META_VERSION}
            atomic_write_text(self._meta_path(bkey), json.dumps({"sha256": _digest(meta), "meta": meta}, indent=1))
        except Exception:
            pass

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every maps entry; files deleted meanwhile by another run are left out."""
        out = []
        try:
            for p in (self.root / "maps").rglob("*.npz"):
                try:
                    st = p.stat()
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, p))
        except OSError:  # a folder removed while walking it
            pass
        return out

    def size_bytes(self) -> int:
        if not self.enabled:
            return 0
        return sum(size for _, size, _ in self._entries())

    def evict(self) -> int:
        """Delete least recently used entries until the cache fits its cap; return how many.
        Never raises: several runs may evict from one cache at the same time."""
        if not self.enabled:
            return 0
        files = self._entries()
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass  # another run deleted it: the space is free all the same
            except OSError:
                continue
            total -= size
        return removed
