"""Stream a folder of images through one backbone.

Decoding runs in a small thread pool a few batches ahead of the model (Pillow and TensorFlow both
release the GIL), so the CPU decodes the next batch while the network computes this one. Only the
small maps leave the model; each image's maps are written to ``maps/<backbone>/<image id>.npz`` (and
to the cache) as soon as its batch is done, so memory does not grow with the folder. Scoring reads
the maps back from disk (analysis.py), the same way for a fresh, resumed, merged or re-rendered run.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import images as imgs
from .cost import speed
from .errors import OutputError
from .extractor import MAP_KEYS, Extractor



@dataclass
class BackboneRun:
    """What one backbone did over the folder (the maps themselves are on disk)."""

    done: list[str] = field(default_factory=list)  # image ids with a maps file in the run folder
    computed: int = 0  # by the network in this run
    cached: int = 0  # copied from the cache
    resumed: int = 0  # already in the run folder (``--resume``)
    infer_seconds: float = 0.0
    wall_seconds: float = 0.0

    def cost(self) -> dict:
        return speed(self.computed, self.infer_seconds)


def decode(ref: imgs.ImageRef, input_size: int, resize: str, max_pixels: int):
    """Decode and fit one image: (uint8 [S,S,3], valid_hw). Raises ImageDecodeError."""
    img = imgs.load_image(ref.path, max_pixels=max_pixels, draft_size=input_size)
    return imgs.fit_to_input(img, input_size, resize)


def decoded_batches(
    refs: list[imgs.ImageRef],
    batch_size: int,
    work: Callable[[imgs.ImageRef], tuple],
    on_skip: Callable[[imgs.ImageRef, str], None],
    workers: int | None = None,
) -> Iterator[list[tuple[imgs.ImageRef, np.ndarray, tuple[int, int]]]]:
    """Yield batches of decoded images in folder order, decoding ahead in a thread pool."""
    workers = workers or min(4, os.cpu_count() or 1)
    ahead = max(2 * batch_size, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending: deque = deque()
        it = iter(refs)
        batch: list = []

        def fill():
            while len(pending) < ahead:
                ref = next(it, None)
                if ref is None:
                    return
                pending.append((ref, pool.submit(work, ref)))

        fill()
        while pending:
            ref, fut = pending.popleft()
            fill()
            try:
                arr, valid = fut.result()
            except imgs.ImageDecodeError as err:
                on_skip(ref, err.reason)
                continue
            batch.append((ref, arr, valid))
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


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


def run_backbone(
    get_extractor: Callable[[], Extractor],
    refs: list[imgs.ImageRef],
    *,
    input_size: int,
    resize: str,
    batch_size: int,
    max_pixels: int,
    maps_dir: Path,
    on_skip: Callable[[imgs.ImageRef, str], None],
    cache_keys: dict[str, str] | None = None,
    cache=None,
    progress=None,
) -> BackboneRun:
    """Make sure every readable image in ``refs`` has a maps file in ``maps_dir``.

    Maps already in ``maps_dir`` (an interrupted run being resumed) are kept; cache hits are
    copied; the rest goes through the network, built on first need by ``get_extractor`` — so a
    fully cached run builds no model at all.
    """
    try:
        maps_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {maps_dir}: {err.strerror or err}") from None
    run = BackboneRun()
    t_wall = time.perf_counter()
    todo = []
    for ref in refs:
        dest = maps_dir / f"{ref.id}.npz"
        if dest.exists():
            run.resumed += 1
        elif cache is not None and cache_keys and cache.fetch(cache_keys[ref.id], dest):
            run.cached += 1
        else:
            todo.append(ref)
            continue
        run.done.append(ref.id)
        if progress is not None:
            progress.advance()
    if todo:
        extractor = get_extractor()
        # One warm-up call so graph tracing is not counted as inference time.
        extractor(np.zeros((batch_size, input_size, input_size, 3), np.uint8))

        def work(ref):
            return decode(ref, input_size, resize, max_pixels)

        for batch in decoded_batches(todo, batch_size, work, on_skip):
            x = np.stack([arr for _, arr, _ in batch])
            if len(x) < batch_size:
                # Always run full batches: TensorFlow's CPU kernels may pick another algorithm for
                # another batch size, and an image's maps must not depend on which batch it is in
                # (a sharded or resumed run must give the same numbers, bit for bit).
                x = np.concatenate([x, np.repeat(x[-1:], batch_size - len(x), axis=0)])
            t0 = time.perf_counter()
            out = extractor(x)
            run.infer_seconds += time.perf_counter() - t0
            for i, (ref, _arr, valid) in enumerate(batch):
                rows, cols = imgs.valid_map_region(valid, input_size, extractor.map_shape)
                arrays = {k: np.asarray(out[k][i, :rows, :cols], np.float32) for k in MAP_KEYS}
                arrays.update(gap=out["gap"][i].astype(np.float32), gmp=out["gmp"][i].astype(np.float32),
                              valid_hw=np.asarray(valid, np.int32))
                dest = maps_dir / f"{ref.id}.npz"
                save_maps(dest, arrays)
                if cache is not None and cache_keys:
                    cache.store(cache_keys[ref.id], dest)
                run.done.append(ref.id)
                run.computed += 1
            if progress is not None:
                progress.advance(len(batch))
    run.wall_seconds = time.perf_counter() - t_wall
    return run


def load_maps(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
