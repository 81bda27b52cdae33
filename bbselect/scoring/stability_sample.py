"""Which images neighbourhood stability is computed on: all of them, or a deterministic stratified sample.

Stability costs a second forward pass per image (its augmented view) and a neighbour search over all
pairs of images. Beyond ``--stability-max-images N`` (0 = no limit) it runs on a sample of N images:

* **strata**: an image's sub-folder (the parent of its relative path; the folder itself for files
  at the top): class folders, cameras, days, whatever the folder's layout says;
* **allocation**: proportional to each stratum's size, the next slot always to the stratum furthest
  below its share (ties to the first by name), and at least one image per stratum when there are no
  more strata than N;
* **within a stratum**: images ranked by sha256 of ``"<stability seed>:<relative path>"``; the first
  ones are taken.

The sample depends only on the folder's relative paths, N and the seed: not on shards, the order of
files on disk or the run. Every shard computes the same sample from the whole folder's listing, which
it already has, so each shard makes views only for its sampled images and a merge reproduces the
unsharded stability exactly. (Ranking by a hash of the image *content* would make every shard read
every file of the folder.) A folder of at most N images is not sampled: the score is the full one.
Pure functions.
"""

from __future__ import annotations

import hashlib
import heapq
import posixpath

OPTION = "--stability-max-images"


def stratum(rel: str) -> str:
    """An image's stratum: the sub-folder it is in ("" at the top of the folder)."""
    return posixpath.dirname(rel)


def _rank(rel: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{rel}".encode()).hexdigest()


def allocate(sizes: list[int], n: int) -> list[int]:
    """How many of each stratum's ``sizes`` a sample of ``n`` takes: proportional to size (largest
    deficit first, ties to the lower index), at least one per non-empty stratum when they number at most
    ``n``; never more than a stratum holds. All of every stratum when ``n`` covers them."""
    total = sum(sizes)
    if n >= total:
        return list(sizes)
    take = [0] * len(sizes)
    if sum(1 for s in sizes if s) <= n:
        take = [min(1, s) for s in sizes]
    quota = [s * n / total for s in sizes]
    heap = [(-(quota[i] - take[i]), i) for i in range(len(sizes)) if take[i] < sizes[i]]
    heapq.heapify(heap)
    for _ in range(n - sum(take)):
        _, i = heapq.heappop(heap)
        take[i] += 1
        if take[i] < sizes[i]:
            heapq.heappush(heap, (-(quota[i] - take[i]), i))
    return take


def sample(rels: list[str], max_images: int, seed: int = 0) -> list[str]:
    """The relative paths stability uses, sorted: all of ``rels`` when ``max_images`` is 0 or covers them,
    else the stratified sample of ``max_images`` described in the module docstring."""
    rels = sorted(set(rels))
    if max_images <= 0 or len(rels) <= max_images:
        return rels
    groups: dict[str, list[str]] = {}
    for r in rels:
        groups.setdefault(stratum(r), []).append(r)
    names = sorted(groups)
    take = allocate([len(groups[g]) for g in names], max_images)
    chosen = []
    for g, t in zip(names, take):
        chosen += sorted(groups[g], key=lambda r: (_rank(r, seed), r))[:t]
    return sorted(chosen)


def record(rels: list[str], max_images: int, seed: int = 0) -> dict:
    """What a run's manifest keeps (``run.stability.sample``): the limit, the folder's size and, when it
    sampled, the sampled relative paths (``rels``; None = every image)."""
    chosen = sample(rels, max_images, seed)
    sampled = len(chosen) < len(set(rels))
    return {"max_images": int(max_images), "of": len(set(rels)), "sampled": sampled,
            "rels": chosen if sampled else None}


def members(images: list[dict], stability_settings: dict | None) -> list[dict]:
    """The run's images (dicts with ``rel``) that stability uses, in their order: all unless it sampled."""
    rels = ((stability_settings or {}).get("sample") or {}).get("rels")
    if rels is None:
        return list(images)
    keep = set(rels)
    return [im for im in images if im["rel"] in keep]


def describe(n: int, of: int, max_images: int) -> str:
    """The report's words for a sample of ``n`` images out of a folder of ``of``."""
    return f"a stratified sample of {n:,} of {of:,} images ({OPTION} {max_images:,})"
