"""Stream a folder of images through one backbone.

Decoding runs in a small thread pool a few batches ahead of the model (Pillow and TensorFlow both
release the GIL), so the CPU decodes the next batch while the network computes this one. Only the
small maps leave the model; each image's maps are written to ``maps/<backbone>/<image id>.npz``
as soon as its batch is done, and its scores are computed right away, so memory does not grow
with the folder (apart from one pooled feature vector per image, needed for channel statistics).
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import images as imgs
from . import scores
from .cost import speed
from .extractor import MAP_KEYS, Extractor

SCORED_MAPS = ("max", "mean")  # sum = C × mean: the scale-free scores are identical (see scores.py)


@dataclass
class BackboneRun:
    """What one backbone produced over the folder (maps themselves are on disk)."""

    image_ids: list[str] = field(default_factory=list)
    image_scores: dict[str, dict[str, scores.MapScores]] = field(default_factory=dict)
    samples: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in MAP_KEYS})
    gap: list[np.ndarray] = field(default_factory=list)
    gmp: list[np.ndarray] = field(default_factory=list)
    infer_seconds: float = 0.0
    wall_seconds: float = 0.0

    def cost(self) -> dict:
        return speed(len(self.image_ids), self.infer_seconds)


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
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def run_backbone(
    extractor: Extractor,
    refs: list[imgs.ImageRef],
    *,
    input_size: int,
    resize: str,
    batch_size: int,
    max_pixels: int,
    maps_dir: Path,
    on_skip: Callable[[imgs.ImageRef, str], None],
    progress=None,
) -> BackboneRun:
    """Run ``extractor`` over ``refs``; save maps under ``maps_dir``; return scores and timings."""
    maps_dir.mkdir(parents=True, exist_ok=True)
    run = BackboneRun()
    t_wall = time.perf_counter()
    # One warm-up call so graph tracing is not counted as inference time.
    extractor(np.zeros((batch_size, input_size, input_size, 3), np.uint8))

    def work(ref):
        return decode(ref, input_size, resize, max_pixels)

    for batch in decoded_batches(refs, batch_size, work, on_skip):
        x = np.stack([arr for _, arr, _ in batch])
        t0 = time.perf_counter()
        out = extractor(x)
        run.infer_seconds += time.perf_counter() - t0
        for i, (ref, _arr, valid) in enumerate(batch):
            rows, cols = imgs.valid_map_region(valid, input_size, extractor.map_shape)
            maps = {k: np.asarray(out[k][i, :rows, :cols], np.float32) for k in MAP_KEYS}
            arrays = dict(maps, gap=out["gap"][i].astype(np.float32), gmp=out["gmp"][i].astype(np.float32),
                          valid_hw=np.asarray(valid, np.int32))
            save_maps(maps_dir / f"{ref.id}.npz", arrays)
            run.image_ids.append(ref.id)
            run.image_scores[ref.id] = {k: scores.score_map(maps[k]) for k in SCORED_MAPS}
            for k in MAP_KEYS:
                run.samples[k].append(scores.value_sample(maps[k]))
            run.gap.append(arrays["gap"])
            run.gmp.append(arrays["gmp"])
        if progress is not None:
            progress.advance(len(batch))
    run.wall_seconds = time.perf_counter() - t_wall
    return run


def load_maps(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def iter_existing(maps_dir: Path, ids: Iterable[str]) -> Iterator[tuple[str, dict]]:
    for image_id in ids:
        p = maps_dir / f"{image_id}.npz"
        if p.exists():
            yield image_id, load_maps(p)
