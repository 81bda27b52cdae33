"""Stream a folder of images through all selected backbones in one pass.

Each image is decoded once and fed to every backbone that still needs it, so with several
backbones (the default is three) decoding costs one JPEG/PNG decode per image, not one per
backbone. Decoding runs in a small thread pool ahead of the models (Pillow and TensorFlow both
release the GIL), so the CPU decodes the next images while the networks compute. Each backbone
collects its own batch of decoded images; the extractor runs them through the network one at a
time (see models/extractor.py), so an image's maps never depend on which other backbones, batches,
shards or resumed runs it shared a pass with.

Only the small maps leave a model; each image's maps are written to ``maps/<backbone>/<id>.npz``
(and to the cache) as soon as its batch is done, so memory does not grow with the folder. Scoring
reads the maps back from disk (scoring/summarize.py), the same way for a fresh, resumed, merged or
re-rendered run.

For the detection probe's sampled images (``Job.features``) the full ``[h, w, C]`` tensor is kept
too, in ``features/<backbone>/<id>.npz`` (and the cache, under its own key), from the same call:
no second decode or forward pass. An image whose maps exist but whose tensor does not is recomputed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bbselect.errors import OutputError
from bbselect.inputs import augment
from bbselect.inputs import decode as dec
from bbselect.inputs import images as imgs
from bbselect.inputs.augment import Views
from bbselect.models import device, timing
from bbselect.models.extractor import FEATURES, MAP_KEYS, Extractor
from bbselect.progress import log
from bbselect.store import mapfiles
from bbselect.store.features import FeatureJob


@dataclass
class BackboneRun:
    """What one backbone did over the folder (the maps themselves are on disk)."""

    done: list[str] = field(default_factory=list)  # image ids with a maps file in the run folder
    computed: int = 0  # by the network in this run
    cached: int = 0  # copied from the cache
    resumed: int = 0  # already in the run folder (``--resume``)
    infer_seconds: float = 0.0
    view_seconds: float = 0.0  # the augmented views' forward passes (neighbourhood stability)
    warmup_seconds: float = 0.0  # the first call, which traces the graph: a one-off per run
    image_seconds: list[float] = field(default_factory=list)  # seconds of each image's forward pass

    def cost(self) -> dict:
        """ms/image: the median over timed images, with their spread (``timing.summarize``)."""
        return timing.summarize(self.image_seconds)


@dataclass
class Job:
    """One backbone's part of the pass: where its maps go and how to get its model."""

    get_extractor: Callable[[], Extractor]  # built on first need: a fully cached backbone builds none
    maps_dir: Path
    cache_keys: dict[str, str] | None = None  # image id -> cache key
    key: str | None = None  # the backbone settings' key, stored in every maps file (a resume checks it)
    plain_key: str | None = None  # the same without views: an image outside the stability sample
    run: BackboneRun = field(default_factory=BackboneRun)
    todo: set[str] = field(default_factory=set)
    pending: list = field(default_factory=list)  # decoded images waiting for a full batch
    extractor: Extractor | None = None
    features: FeatureJob | None = None  # the detection probe's images: keep their feature tensors


def decoded(
    refs: list[imgs.ImageRef],
    work: Callable[[imgs.ImageRef], tuple],
    on_skip: Callable[[imgs.ImageRef, str], None],
    ahead: int = 16,
    workers: int | None = None,
) -> Iterator[tuple]:
    """Yield ``(ref, *work(ref))`` — ``(ref, array, valid_hw[, views])`` — in folder order, decoding up
    to ``ahead`` images in advance."""
    workers = workers or device.decode_threads()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending: deque = deque()
        it = iter(refs)

        def fill():
            while len(pending) < max(ahead, workers):
                ref = next(it, None)
                if ref is None:
                    return
                pending.append((ref, pool.submit(work, ref)))

        fill()
        while pending:
            ref, fut = pending.popleft()
            fill()
            try:
                result = fut.result()
            except dec.ImageDecodeError as err:
                on_skip(ref, err.reason)
                continue
            yield (ref, *result)


@dataclass
class Content:
    """Image content hashes. ``keyed``: hashed before the pass (the cache keys were built from them);
    ``read``: of the bytes each decode actually read; ``hashes``: the run's, updated to what was read."""

    hashes: dict[str, str]
    keyed: dict[str, str]
    read: dict[str, str] = field(default_factory=dict)
    quiet: bool = False

    def settle(self, ref: imgs.ImageRef) -> tuple[str | None, bool]:
        """(the hash of the content the maps are made of, whether they may go to the cache). An image
        replaced since it was hashed gets the hash of the bytes decoded and is not cached: its cache key
        names the old content (storing it there would serve these maps for the original)."""
        got, was = self.read.get(ref.id), self.keyed.get(ref.id)
        if got is not None and was is not None and got != was and self.hashes.get(ref.id) != got:
            log(f"warning: {ref.rel} changed while the run was going: scored as read now, not cached", quiet=self.quiet)
        self.hashes[ref.id] = got or self.hashes.get(ref.id)
        return self.hashes[ref.id], got is not None and got == was


def _read_bytes(path: Path) -> bytes | None:
    """A regular file's bytes (decoded and hashed from this one read), else None: decoding from the
    path then reports why it cannot be read, and nothing of it is cached."""
    try:
        return path.read_bytes() if stat.S_ISREG(os.stat(path).st_mode) else None
    except OSError:
        return None


def _settings_key(job: Job, views: Views | None, image_id: str) -> str | None:
    """The key an image's maps file records: the job's, or without views for an image outside the sample."""
    return job.key if views is None or views.wants(image_id) or job.plain_key is None else job.plain_key


def _reuse(job: Job, refs: list[imgs.ImageRef], cache, progress, hashes: dict[str, str], quiet: bool,
           views: Views | None) -> None:
    """Count maps already in the run folder (resume) or in the cache; the rest is the job's to-do.
    A run folder's file is kept only if it verifies and was made from the image's current content
    with the job's settings (``job.key``: a hand-edited config.yaml changes it)."""
    try:
        job.maps_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {job.maps_dir}: {err.strerror or err}") from None
    if job.features is not None:
        try:
            job.features.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create {job.features.out_dir}: {err.strerror or err}") from None
    for ref in refs:
        dest = job.maps_dir / f"{ref.id}.npz"
        if job.features is not None and ref.id in job.features.ids \
                and not job.features.have(ref.id, cache, hashes.get(ref.id)):
            job.todo.add(ref.id)  # the maps are recomputed with it (bit for bit the same)
            continue
        sha = hashes.get(ref.id)
        if dest.exists():
            problem = mapfiles.verify_maps(dest, sha, _settings_key(job, views, ref.id))
            if problem is None:
                job.run.resumed += 1
                job.run.done.append(ref.id)
                if progress is not None:
                    progress.advance()
                continue
            log(f"warning: {dest} {problem}: recomputing {ref.rel}", quiet=quiet)
            dest.unlink(missing_ok=True)
        if cache is not None and job.cache_keys and ref.id in job.cache_keys \
                and cache.fetch(job.cache_keys[ref.id], dest, sha):
            job.run.cached += 1
        else:
            job.todo.add(ref.id)
            continue
        job.run.done.append(ref.id)
        if progress is not None:
            progress.advance()


def _flush(job: Job, input_size: int, cache, progress, content: Content, views: Views | None) -> None:
    """Run the job's pending images through its model and save their maps."""
    batch, job.pending = job.pending, []
    ex = job.extractor
    x = np.stack([item[1] for item in batch])
    t0 = time.perf_counter()
    out = ex(x)
    dt = time.perf_counter() - t0
    job.run.infer_seconds += dt
    job.run.image_seconds.extend(ex.last_image_seconds)  # one timing per image: the extractor runs them one by one
    view_gap = _view_features(job, batch)
    for i, (ref, _arr, valid, *_views) in enumerate(batch):
        rows, cols = dec.valid_map_region(valid, input_size, ex.map_shape)
        arrays = {k: np.asarray(out[k][i, :rows, :cols], np.float32) for k in MAP_KEYS}
        arrays.update(gap=out["gap"][i].astype(np.float32), gmp=out["gmp"][i].astype(np.float32),
                      valid_hw=np.asarray(valid, np.int32))
        if i in view_gap:
            arrays["view_gap"] = view_gap[i]
        sha, cacheable = content.settle(ref)
        arrays.update(mapfiles.provenance(sha, _settings_key(job, views, ref.id)))
        dest = job.maps_dir / f"{ref.id}.npz"
        mapfiles.save_maps(dest, arrays)
        if cache is not None and job.cache_keys and cacheable:
            cache.store(job.cache_keys[ref.id], dest)
        if job.features is not None and ref.id in job.features.ids:
            job.features.save(ref.id, out[FEATURES][i], valid, cache, sha, cacheable)
        job.run.done.append(ref.id)
        job.run.computed += 1
    if progress is not None:
        progress.advance(len(batch))


def _view_features(job: Job, batch: list) -> dict[int, np.ndarray]:
    """Pooled features [m, C] of the augmented views of the batch's images that have them (by position;
    only the stability sample's); the extractor runs each view on its own, like the originals, so a
    view's features do not depend on its batch."""
    have = [i for i, item in enumerate(batch) if len(item) > 3]
    if not have:
        return {}
    vx = np.concatenate([batch[i][3] for i in have])  # [B * m, S, S, 3], image-major
    t0 = time.perf_counter()
    gaps = np.asarray(job.extractor(vx)["gap"], np.float32)
    job.run.view_seconds += time.perf_counter() - t0
    return dict(zip(have, gaps.reshape(len(have), -1, gaps.shape[-1])))


def run_backbones(
    jobs: list[Job],
    refs: list[imgs.ImageRef],
    *,
    input_size: int,
    resize: str,
    batch_size: int,
    max_pixels: int,
    on_skip: Callable[[imgs.ImageRef, str], None],
    cache=None,
    progress=None,
    views: Views | None = None,
    hashes: dict[str, str] | None = None,
    quiet: bool = False,
) -> float:
    """Make sure every readable image in ``refs`` has a maps file in every job's ``maps_dir``.

    Maps already there (an interrupted run being resumed) are kept; cache hits are copied; every
    image some backbone still needs is decoded once and given to each backbone that needs it.
    Returns the wall-clock seconds of the pass; per-backbone counts are in each ``job.run``.
    With ``views``, each decode thread also makes the image's augmented views, and their pooled
    features are saved with its maps (``view_gap``). ``hashes`` (image id -> sha256 of the file) is
    stored in every maps file made, and a resumed file must match it; an image that changed since it
    was hashed is scored as decoded and ``hashes`` updated (``Content``).
    """
    t_wall = time.perf_counter()
    hashes = hashes if hashes is not None else {}
    content = Content(hashes, dict(hashes), quiet=quiet)
    for job in jobs:
        _reuse(job, refs, cache, progress, hashes, quiet, views)
    needed = [r for r in refs if any(r.id in job.todo for job in jobs)]
    for job in jobs:
        if job.todo:
            job.extractor = job.get_extractor()
            # One warm-up call so graph tracing is not counted as inference time.
            t0 = time.perf_counter()
            job.extractor(np.zeros((1, input_size, input_size, 3), np.uint8))
            job.run.warmup_seconds = time.perf_counter() - t0

    def work(ref):
        data = _read_bytes(ref.path)  # hashed and decoded from one read: the maps are of these bytes
        if data is not None:
            content.read[ref.id] = hashlib.sha256(data).hexdigest()
        if views is not None and views.wants(ref.id):
            return augment.decode_with_views(ref, input_size, resize, max_pixels, views.m, views.seed, data)
        return dec.decode_input(ref, input_size, resize, max_pixels, data)

    # one decode thread per core, two batches decoded ahead, so a fast device is not starved
    for item in decoded(needed, work, on_skip, ahead=device.prefetch_images(batch_size),
                        workers=device.decode_threads()):
        for job in jobs:
            if item[0].id in job.todo:
                job.pending.append(item)
                if len(job.pending) == batch_size:
                    _flush(job, input_size, cache, progress, content, views)
    for job in jobs:
        if job.pending:
            _flush(job, input_size, cache, progress, content, views)
    wall = time.perf_counter() - t_wall
    # ms/image is the median over several timed images: a run of fewer images is topped up (timing.py)
    zero = np.zeros((1, input_size, input_size, 3), np.uint8)
    for job in jobs:
        if job.run.computed:
            job.run.image_seconds = timing.top_up(lambda ex=job.extractor: ex(zero), job.run.image_seconds)
    return wall


