"""What a score's ``compute`` reads: one backbone's data over a run, gathered in one pass over its maps.

``gather`` reads each image's maps file once (the run's image order) and keeps what the registered
scores need (``registry.NEEDS``): the per-map shape scores, the pooled features, the augmented views'
pooled features, the labelled features, the maps of images with boxes, the probe's results. A score
never reads files itself; ``ScoreInputs.available`` says which needs this run meets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bbselect.errors import InputError
from bbselect.models.extractor import MAP_KEYS
from bbselect.scoring import mapscores, stability_sample, stats
from bbselect.scoring.registry import SCORED_MAPS
from bbselect.store.mapfiles import load_maps


@dataclass
class ScoreInputs:
    """One backbone's data over the run's images (ids in the manifest's order)."""

    label: str
    settings: dict  # the run's settings (manifest "run"): stability_k, stability sample, ...
    map_scores: dict[str, dict[str, mapscores.MapScores]] = field(default_factory=dict)  # id -> map -> scores
    gap: np.ndarray | None = None  # [n, C] global average pool of every image
    gmp: np.ndarray | None = None  # [n, C] global max pool
    labelled: tuple[np.ndarray, list[str]] | None = None  # (features [n, C], class of each) of labelled images
    box_maps: dict[str, dict[str, np.ndarray]] | None = None  # id -> map -> array, images with boxes
    boxes: dict[str, list] | None = None  # rel -> boxes
    rel_of: dict[str, str] = field(default_factory=dict)  # id -> relative path
    views: dict[str, tuple[np.ndarray, np.ndarray]] | None = None  # id -> (gap [C], view gap [m, C]): the sample
    probe: dict | None = None  # the run's probe.json (every backbone's), or None
    samples: dict[str, list[np.ndarray]] = field(default_factory=dict)  # map -> value samples (colour limits)

    @property
    def n(self) -> int:
        return len(self.map_scores)

    @property
    def available(self) -> set[str]:
        """The ``registry.NEEDS`` this backbone's data meets."""
        have = {"maps", "pooled"} if self.map_scores else set()
        if self.labelled is not None:
            have.add("labels")
        if self.box_maps is not None:
            have.add("boxes")
        if self.views:
            have.add("views")
        if self.probe is not None:
            have.add("probe")
        return have


def _read_maps(run_dir: Path, path: Path) -> dict:
    """One image's maps; a missing or damaged file is an input error that says how to recompute it."""
    try:
        return load_maps(path)
    except Exception as err:  # noqa: BLE001 - any failure to read is a damaged file
        what = "is missing" if isinstance(err, FileNotFoundError) else f"is unreadable ({type(err).__name__}: {err})"
        raise InputError(f"maps file {path} {what}; recompute it with `bbselect compare --resume {run_dir}`") from None


def gather(run_dir: Path, meta: dict, images: list[dict], settings: dict, classes: dict | None, boxes,
           probe: dict | None, progress=None) -> ScoreInputs:
    """Read one backbone's maps (``meta``: its manifest entry) for ``images`` and keep what scores need.
    ``progress`` (a ``progress.Progress``) advances per maps file read."""
    out = ScoreInputs(label=meta["label"], settings=settings, probe=probe,
                      rel_of={im["id"]: im["rel"] for im in images},
                      boxes=None if boxes is None else boxes.boxes)
    maps_dir = run_dir / meta["maps_dir"]
    out.samples = {k: [] for k in MAP_KEYS}
    gap, gmp, labelled, box_maps, views = [], [], [], {}, {}
    stab_ids = {im["id"] for im in stability_sample.members(images, settings.get("stability"))}
    for im in images:
        m = _read_maps(run_dir, maps_dir / f"{im['id']}.npz")
        if progress is not None:
            progress.advance()
        out.map_scores[im["id"]] = {k: mapscores.score_map(m[k]) for k in SCORED_MAPS}
        if classes and im["rel"] in classes:
            labelled.append((m["gap"], classes[im["rel"]]))
        if boxes is not None and im["rel"] in boxes.boxes:
            box_maps[im["id"]] = {k: m[k] for k in SCORED_MAPS}  # the maps box scores read
        for k in MAP_KEYS:
            out.samples[k].append(stats.value_sample(m[k]))
        gap.append(m["gap"])
        gmp.append(m["gmp"])
        if im["id"] in stab_ids:
            views[im["id"]] = (m["gap"], m.get("view_gap"))
    if gap:
        out.gap, out.gmp = np.stack(gap), np.stack(gmp)
    if labelled:
        out.labelled = (np.stack([f for f, _ in labelled]).astype(np.float64), [c for _, c in labelled])
    if boxes is not None:
        out.box_maps = box_maps
    if views and all(v is not None for _g, v in views.values()):  # the run made augmented views (--stability)
        out.views = views
    return out
