"""The fine-tuning study's measurements: the data, the per-network cache, the frozen probe and cheap box
scores on the initial network, and every fold of each fine-tuning schedule (resumable per fold)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bbselect.common import file_digest
from bbselect.inputs import decode as dec
from bbselect.inputs.images import upright_size
from bbselect.probes import detection as det
from bbselect.probes import study
from bbselect.scoring import roiscores
from studies.finetune import plan, train
from studies.finetune.plan import SEED, SIZE, Schedule, schedule_dict
from studies.validation.measure_boxes import load_box_data


def load_data(shared: Path) -> dict:
    """raccoon letterboxed at SIZE (bbselect's fit), its boxes in input pixels, geometry and groups."""
    d = load_box_data(shared / "data" / "boxes" / "raccoon")
    imgs, valid, rels, sizes = [], [], [], {}
    for r in d["refs"]:
        a, v = dec.fit_to_input(dec.load_image(r.path), SIZE, "letterbox")
        imgs.append(a)
        valid.append(tuple(int(x) for x in v))
        rels.append(r.rel)
        sizes[r.rel] = upright_size(Path(r.path))
    groups = {r.rel: file_digest(r.path) for r in d["refs"]}
    pimg = study.probe_images(rels, d["boxes"].boxes, sizes, dict(zip(rels, valid)), SIZE, groups)
    images = np.stack(imgs)
    pick = np.sort(np.random.default_rng(SEED).choice(len(images), plan.BN_IMAGES, replace=False))
    return {"images": images, "boxes": pimg.boxes, "classes": pimg.classes, "valid": valid,
            "n_classes": len(pimg.class_names), "bn_images": images[pick], "pimg": pimg,
            "norm_boxes": [d["boxes"].boxes.get(r, []) for r in rels], "zoo_dir": shared / "weights" / "zoo"}


def fold_assignment(data: dict, folds: int) -> np.ndarray:
    """The detection probe's own folds of the images (same seed, duplicate images grouped)."""
    return det.fold_assignment(len(data["images"]), folds, SEED, data["pimg"].groups)


def dets_json(dets) -> list:
    return [{"boxes": np.round(d.boxes, 2).tolist(), "scores": np.round(d.scores, 5).tolist(),
             "classes": d.classes.tolist()} for d in dets]


class Cache:
    """The measurements so far, one JSON file; a phase whose schedule changed is measured again."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        old = json.loads(path.read_text()) if path.exists() else {}
        same = lambda m: {k: v for k, v in (m or {}).items() if k != "schedules"}  # noqa: E731
        if old and same(old.get("meta")) != same(meta):
            print(f"cache {path}: folds, seed or size changed, starting afresh", flush=True)
            old = {}
        self.data = old or {"networks": {}}
        self.data["meta"] = meta
        self.t_last = time.perf_counter()

    def net(self, key: str) -> dict:
        return self.data["networks"].setdefault(key, {})

    def save(self) -> None:
        """Write the file; the wall time since the last save is added to ``wall_seconds`` (so an
        interrupted run's time is counted too)."""
        now = time.perf_counter()
        self.data["wall_seconds"] = self.data.get("wall_seconds", 0.0) + now - self.t_last
        self.t_last = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def frozen_part(tuner: train.FineTuner, data: dict, folds: int, entry: dict) -> None:
    """bbselect's frozen detection probe and cheap box scores on the initial network's features."""
    t0 = time.perf_counter()
    feats = tuner.frozen_features()
    t1 = time.perf_counter()
    pimg = data["pimg"]
    res = det.run_probe(feats, pimg.boxes, pimg.classes, len(pimg.class_names), SIZE,
                        det.ProbeConfig(folds=folds, seed=SEED), groups=pimg.groups)
    t2 = time.perf_counter()
    cheap = roiscores.backbone_scores(feats, data["valid"], data["norm_boxes"], SIZE, seed=SEED)
    entry["frozen"] = {"dets": dets_json(res.detections), "fold_of": res.fold_of.tolist(),
                       "map_hw": list(feats.shape[1:3]), "channels": int(feats.shape[3]),
                       "seconds": {"features": t1 - t0, "probe": t2 - t1, "cheap": time.perf_counter() - t2},
                       "cheap": {k: cheap[k] for k in roiscores.NAMES}}


def finetune_part(net: dict, data: dict, fold_of: np.ndarray, sched: Schedule, entry: dict, tag: str,
                  cache: Cache, data_frozen: bool = False) -> None:
    """One schedule, every fold (resumable per fold)."""
    if (entry.get(tag) or {}).get("schedule") != schedule_dict(sched):
        entry[tag] = {"folds": {}, "schedule": schedule_dict(sched)}
    done = entry[tag]
    k = int(fold_of.max()) + 1
    if len(done["folds"]) == k and (not data_frozen or "frozen" in entry):
        return
    tuner = train.FineTuner(net, data["zoo_dir"], data, sched, int(np.sum(fold_of != 0)))
    done["build_seconds"] = tuner.build_seconds
    if data_frozen and "frozen" not in entry:
        frozen_part(tuner, data, k, entry)
        cache.save()
    for f in range(k):
        if str(f) in done["folds"]:
            continue
        tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        dets, sec = tuner.run(tr, te, SEED * 1000 + f)
        done["folds"][str(f)] = {"test": te.tolist(), "dets": dets_json(dets), "seconds": sec}
        cache.save()
        print(f"  {tag} fold {f}: {sec:.0f} s", flush=True)


def measure(cache: Cache, data: dict, fold_of: np.ndarray, keys: list[str], phases: list[str],
            scheds: dict[str, Schedule]) -> None:
    """Every phase named in ``phases`` (in the order given; "frozen" rides along with the first
    fine-tuning phase of each network) for every network of ``keys``, into ``cache``."""
    for phase in [p for p in phases if p in scheds]:
        for key in keys:
            print(f"{key}: {phase} ({scheds[phase].epochs} epochs)", flush=True)
            finetune_part(plan.network(key), data, fold_of, scheds[phase], cache.net(key), phase, cache,
                          data_frozen="frozen" in phases)
    cache.save()
