"""The detection probe's part of a ``compare`` run (I/O at the edges of probes/study.py).

``plan`` (before the pass): find the boxes (``--boxes``), log which layout was found and how many
images have boxes, decide whether the probe runs (``--probe auto|detection|cheap|none``) and pick its
images (at most ``--probe-max-images``, stratified and deterministic). The engine then keeps those
images' feature tensors in the same pass that computes the maps.

``run`` (after the pass): load each backbone's tensors, run the probe for every backbone and the box
prior (not with ``--probe cheap``), compute the cheap box scores (``scoring.roiscores``: ROI-LogME,
TLogME, objectness) on the same tensors, one backbone at a time, write ``probe.json`` (read by the
summary, so ``bbselect report`` re-renders without training) and draw ``figures/detections.png``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bbselect.common import file_digest, fmt_num
from bbselect.errors import UsageError
from bbselect.inputs import decode as dec
from bbselect.inputs.boxmodel import BoxSet
from bbselect.probes import study
from bbselect.probes.detection import ProbeConfig
from bbselect.progress import log
from bbselect.reports.detections import DetectionPanel, DetectionRow, detections_figure
from bbselect.scoring import roiscores
from bbselect.scoring.detection import PROBE_FILE
from bbselect.inputs.images import upright_size
from bbselect.scoring.evidence import find_boxes
from bbselect.store import mapfiles, rundir
from bbselect.store.cache import entry_key
from bbselect.store.features import FEATURE_STORE, FeatureJob

FIGURE = "detections.png"
FIGURE_ROWS = 6


@dataclass
class ProbePlan:
    boxes: BoxSet
    images: list[dict]  # {rel, id, path} of the probe's images, in folder order
    candidates: int  # annotated images before sampling
    max_images: int
    train: bool = True  # False (--probe cheap): keep the features for the training-free box scores only

    @property
    def ids(self) -> set[str]:
        return {im["id"] for im in self.images}

    @property
    def sampled(self) -> bool:
        return len(self.images) < self.candidates


def plan(images_dir: Path, refs: list, cfg, quiet: bool = False) -> ProbePlan | None:
    """Find boxes (``cfg.boxes``), log the layout, pick the probe's images (``cfg.probe``,
    ``cfg.probe_max_images``) among ``refs`` (``ImageRef``); None when the probe does not run."""
    images = [{"rel": r.rel, "id": r.id, "path": str(r.path)} for r in refs]
    boxes_setting, probe, max_images = cfg.boxes, cfg.probe, cfg.probe_max_images
    if probe == "none" or str(boxes_setting).strip().lower() == "none":
        return None
    boxes = find_boxes(images_dir, images, boxes_setting)
    if boxes is None:
        if probe == "detection":
            raise UsageError(f"--probe detection: no box annotations found for the images in {images_dir} "
                             f"(YOLO .txt, Pascal VOC .xml or COCO .json; see --boxes)")
        log("boxes: none found next to the images; no detection probe", quiet=quiet)
        return None
    log(f"boxes: {boxes.layout or boxes.format}; {len(boxes.boxes)} of {len(images)} images have "
        f"annotations ({boxes.n_boxes} boxes)", quiet=quiet)
    # YOLO: an image without a label file has no objects (a negative); other formats: unknown, left out
    cands = [im for im in images if im["rel"] in boxes.boxes or boxes.format == "yolo"]
    if len(cands) < 2 or not boxes.n_boxes:
        if probe == "detection":
            raise UsageError("--probe detection: fewer than 2 annotated images, or no boxes")
        return None
    n_boxes = [len(boxes.boxes.get(im["rel"], [])) for im in cands]
    pick = study.sample_images([im["rel"] for im in cands], n_boxes, max_images)
    chosen = [cands[i] for i in pick]
    note = (f"a stratified sample of {len(chosen)} of {len(cands)} annotated images (--probe-max-images "
            f"{max_images})" if len(chosen) < len(cands) else f"all {len(cands)} annotated images")
    train = probe != "cheap"
    log(f"{'detection probe' if train else 'cheap box scores (--probe cheap, no detection head)'}: {note}",
        quiet=quiet)
    return ProbePlan(boxes, chosen, len(cands), max_images, train)


def _load(feature_dir: Path, ids: list[str]) -> np.ndarray:
    return np.stack([mapfiles.load_maps(feature_dir / f"{i}.npz")["features"].astype(np.float32) for i in ids])


def feature_job(run_dir: Path, plan: dict, probe_plan: ProbePlan | None, hashes: dict[str, str]) -> FeatureJob | None:
    """Keep the probe's images' feature tensors (``plan``: the pipeline's backbone plan), cached under
    their own key beside the maps'."""
    if probe_plan is None:
        return None
    keys = {i: entry_key(plan["bkey"] + "/" + FEATURE_STORE, h) for i, h in hashes.items()} if hashes else None
    return FeatureJob(probe_plan.ids, run_dir / "features" / rundir.safe_name(plan["sel"].label), keys, plan["bkey"])


def run(run_dir: Path, p: ProbePlan, feature_dirs: dict[str, Path], cfg, hashes: dict[str, str] | None = None,
        quiet: bool = False) -> dict:
    """Run the probe for every backbone (``label -> features folder``) and the prior; write the outputs.
    ``cfg``: the run's settings (input_size, resize, seed)."""
    input_size, resize, seed = cfg.input_size, cfg.resize, cfg.seed
    t0 = time.perf_counter()
    first = next(iter(feature_dirs.values()))
    ready = [im for im in p.images if all((d / f"{im['id']}.npz").exists() for d in feature_dirs.values())]
    ids = [im["id"] for im in ready]
    rels = [im["rel"] for im in ready]
    valid = [tuple(int(v) for v in mapfiles.load_maps(first / f"{i}.npz")["valid_hw"]) for i in ids]
    sizes = {im["rel"]: upright_size(Path(im["path"])) for im in ready}
    groups = {im["rel"]: (hashes or {}).get(im["id"]) or file_digest(im["path"]) for im in ready}
    pimg = study.probe_images(rels, p.boxes.boxes, sizes, dict(zip(rels, valid)), input_size, groups)
    result, figure = {"backbones": {}, "priors": {}, "n_images": len(ready)}, None
    untrained = _too_few_distinct(groups) if p.train else None
    if untrained:
        log(f"detection probe: not trained: {untrained}", quiet=quiet)
    if p.train and not untrained:
        loaders = {label: (lambda d=d: _load(d, ids)) for label, d in feature_dirs.items()}
        result = study.probe_study(loaders, pimg, ProbeConfig(seed=seed))
        for label, b in result["backbones"].items():
            prior = result["priors"][b["prior"]]
            log(f"detection probe {label}: mAP@0.5 {b['map50']:.3f} [{b['map50_ci'][0]:.3f}, "
                f"{b['map50_ci'][1]:.3f}] (box prior {prior['map50']:.3f}); {b['seconds']:.0f} s", quiet=quiet)
        figure = _figure(run_dir, pimg, ready, result, input_size, resize)
    roi = {}
    for label, d in feature_dirs.items():  # one backbone's tensors in memory at a time
        roi[label] = roiscores.backbone_scores(_load(d, ids), valid, [p.boxes.boxes.get(r, []) for r in rels],
                                               input_size, seed=seed, groups=[groups[r] for r in rels])
        s = {k: fmt_num(v, 3) for k, v in roi[label].items() if k in roiscores.NAMES}
        log(f"cheap box scores {label}: ROI-LogME {s['roi_logme']}, TLogME {s['tlogme']}, objectness "
            f"AUROC {s['objectness']} (position prior {s['objectness_prior']})", quiet=quiet)
    out = _plain(result)
    out.update(roi=roi, trained=p.train and not untrained, untrained=untrained, layout=p.boxes.layout,
               sampled=p.sampled, candidates=p.candidates, max_images=p.max_images,
               class_names=pimg.class_names, figure=figure, seconds=time.perf_counter() - t0)
    rundir.write_json(run_dir / PROBE_FILE, out)
    return out


def _too_few_distinct(groups: dict[str, str]) -> str | None:
    """Why the probe cannot be cross-validated on these images (``groups``: rel -> content hash), or None.
    Copies of an image always share a fold (a copy in another fold would be scored by a head trained on
    it), so two folds need two distinct images."""
    distinct = len(set(groups.values()))
    if distinct >= 2:
        return None
    return (f"the {len(groups)} probe images are byte-identical copies of {distinct} distinct image; "
            f"copies must share a fold (else the probe is scored on images it was trained on), so "
            f"cross-validation needs at least 2 distinct images")


def _plain(result: dict) -> dict:
    """The study's result without arrays (JSON-safe)."""
    drop = ("detections", "fold_of")
    return {**result,
            "backbones": {k: {a: b for a, b in v.items() if a not in drop} for k, v in result["backbones"].items()},
            "priors": {k: {a: b for a, b in v.items() if a not in drop} for k, v in result["priors"].items()}}


def _figure(run_dir: Path, pimg: study.ProbeImages, ready: list[dict], result: dict, input_size: int,
            resize: str) -> str:
    """Draw up to FIGURE_ROWS held-out images (those with boxes first, in a stable order)."""
    order = sorted(range(len(ready)), key=lambda i: (len(pimg.boxes[i]) == 0,
                                                     hashlib.sha1(ready[i]["rel"].encode()).hexdigest()))
    first_prior = next(iter(result["priors"]))
    rows = []
    for i in order[:FIGURE_ROWS]:
        img = dec.load_image(Path(ready[i]["path"]), draft_size=input_size)
        arr, _ = dec.fit_to_input(img, input_size, resize)
        panels = {"ground truth": DetectionPanel(pimg.boxes[i], None, pimg.classes[i])}
        for label, b in result["backbones"].items():
            d = b["detections"][i]
            panels[label] = DetectionPanel(d.boxes, d.scores, d.classes)
        d = result["priors"][first_prior]["detections"][i]
        panels[f"box prior ({first_prior})"] = DetectionPanel(d.boxes, d.scores, d.classes)
        rows.append(DetectionRow(arr, pimg.geoms[i].valid_hw, ready[i]["rel"], panels))
    path = run_dir / "figures" / FIGURE
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = detections_figure(rows, pimg.class_names)
    fig.savefig(path, dpi=100)
    return f"figures/{FIGURE}"


__all__ = ["ProbePlan", "plan", "feature_job", "run"]
