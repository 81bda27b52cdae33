"""The box part's measurements: per configuration one forward pass gives the tapped layer's [h, w, C]
tensor for every image (letterboxed, cropped to the image content as bbselect's engine does); from it
the cheap scores (``cheap_scores``, row keys = the score registry's names, plus ``plan.BASELINES``) and
the ground truth, the detection probe's mAP@0.5 (``ground_truth``; ``bbselect.probes.detection``, a
small head trained on the frozen features, k-fold by image, COCOeval) with its prior-only baseline.
Also used by the cross-family study (``studies.zoo.measure``) and the fine-tuning study."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from bbselect.common import file_digest
from bbselect.inputs import augment
from bbselect.inputs import decode as dec
from bbselect.inputs import images as imgs
from bbselect.models import runtime
from bbselect.models.selection import parse_selection
from bbselect.models.stages import resolve_layer
from bbselect.models.weights import build_backbone
from bbselect.probes import cocometrics, detection, objectness, roilogme
from bbselect.probes import logme as lm
from bbselect.probes.study import probe_images
from bbselect.scoring import boxscores, evidence, mapscores, stability, stats
from bbselect.inputs.images import upright_size
from bbselect.scoring.ranking import separation
from studies.validation import plan


def load_box_data(root: Path) -> dict:
    """Images (sorted) and their boxes, read by bbselect's own loaders."""
    sub, setting = plan.BOX_DATASETS[root.name]
    images_dir = (root / sub).resolve()
    refs, _skipped = imgs.discover_images(images_dir)
    images = [{"rel": r.rel, "path": str(r.path), "id": imgs.image_id(r.rel)} for r in refs]
    boxset = evidence.find_boxes(images_dir, images, setting if setting == "auto" else str(root / setting))
    if boxset is None:
        raise SystemExit(f"{root}: no boxes found")
    if root.name in plan.CLASS_AGNOSTIC:
        boxset.boxes = {rel: [b._replace(label="object") for b in bs] for rel, bs in boxset.boxes.items()}
    return {"name": root.name, "images_dir": images_dir, "refs": refs, "images": images, "boxes": boxset}


def extract(data: dict, cfg: dict, weights: str) -> dict:
    """The tapped layer's [h_i, w_i, C] features of every image (cropped to content), one pass; and the
    pooled features of one augmented view per image (bbselect's own views: seed 0, view 0), for
    neighbourhood stability and augmentation retrieval."""
    keras = runtime.keras()
    sel = parse_selection(cfg["backbone"])
    model, _info = build_backbone(sel, weights, cfg["size"], seed=cfg["seed"])
    name = resolve_layer(model, sel.layer).name
    feat_model = keras.Model(model.input, model.get_layer(name).output)
    size = cfg["size"]
    feats, crops, valid, rels, view_gap = [], [], [], [], []
    batch, batch_meta = [], []

    def forward(arrays):
        return np.asarray(feat_model.predict_on_batch(sel.spec.preprocess(np.stack(arrays).astype(np.float32))))

    def flush():
        out = forward([a for a, _ in batch])
        out_v = forward([va for _, (va, _vv) in batch])
        for f, fv, (rel, v), (_, (_va, vv)) in zip(out, out_v, batch_meta, batch):
            r, c = dec.valid_map_region(v, size, f.shape[:2])
            feats.append(np.asarray(f, np.float32))
            crops.append(feats[-1][:r, :c])
            valid.append(v)
            rels.append(rel)
            rv, cv = dec.valid_map_region(vv, size, fv.shape[:2])
            view_gap.append(np.asarray(fv[:rv, :cv], np.float64).mean(axis=(0, 1)))
        batch.clear()
        batch_meta.clear()

    for ref in data["refs"]:
        img = dec.load_image(ref.path)
        arr, v = dec.fit_to_input(img, size, "letterbox")
        view = dec.fit_to_input(augment.augmented_view(img, 0, imgs.image_id(ref.rel), 0), size, "letterbox")
        batch.append((arr, view))
        batch_meta.append((ref.rel, v))
        if len(batch) == 32:
            flush()
    if batch:
        flush()
    keras.backend.clear_session()
    return {"feats": feats, "crops": crops, "valid": valid, "rels": rels, "size": size,
            "view_gap": np.stack(view_gap)}


def cheap_scores(data: dict, ex: dict, seed: int = 0) -> dict:
    """Every cheap score of one configuration (see the module docstring)."""
    boxes = data["boxes"].boxes
    feats, rels = ex["crops"], ex["rels"]
    # ROI-LogME on the whole map with the letterbox geometry; the rest on the content crop
    items = [(f, boxes[rel], ex["size"], v) for f, v, rel in zip(ex["feats"], ex["valid"], rels) if rel in boxes]
    roi = roilogme.roi_scores(roilogme.collect(items, seed=seed))
    masks = [boxscores.box_mask(f.shape[:2], boxes[r]) if r in boxes else None for f, r in zip(feats, rels)]
    obj = objectness.objectness_probe(feats, masks, folds=5, seed=seed)
    gap = np.stack([f.reshape(-1, f.shape[2]).mean(axis=0) for f in feats]).astype(np.float64)
    gmp = np.stack([f.reshape(-1, f.shape[2]).max(axis=0) for f in feats]).astype(np.float64)
    ch = stats.channel_stats(gap, gmp)
    per_image, box_maps, rel_of = [], {}, {}
    for i, (f, rel) in enumerate(zip(feats, rels)):
        m = {"max": f.max(axis=2).astype(np.float64), "mean": f.mean(axis=2).astype(np.float64)}
        per_image.append(separation({k: mapscores.score_map(m[k]) for k in ("max", "mean")}))
        if rel in boxes:
            box_maps[str(i)] = m
            rel_of[str(i)] = rel
    bs = evidence.box_scores(box_maps, boxes, rel_of)
    dominant = []
    for rel in rels:
        labs = [str(b.label) for b in boxes.get(rel, [])]
        dominant.append(max(sorted(set(labs)), key=labs.count) if labs else "(none)")
    y = roilogme.class_labels(dominant)
    pooled = lm.logme(gap, y) if len(set(y.tolist())) >= 2 else math.nan
    scored = [v for v in per_image if math.isfinite(v)]
    st = stability.neighbourhood_stability(gap, ex["view_gap"])
    return {
        "stability": st["stability"], "augmentation_retrieval": st["retrieval"],
        **{k: roi[k] for k in roilogme.ROI_SCORE_NAMES}, "n_objects": roi["n_objects"],
        "n_background": roi["n_background"],
        "objectness": obj["auroc"], "objectness_prior": obj["auroc_prior"], "objectness_gain": obj["gain"],
        "pooled_logme": pooled,
        "box_auroc": bs["auroc"]["mean"],
        "mean.mass_ratio": bs["maps"]["mean"]["mass_ratio"]["mean"],
        "mean.pointing": bs["maps"]["mean"]["pointing"]["mean"],
        "effective_rank": ch.get("effective_rank", math.nan),
        "dead_fraction": ch.get("dead_fraction", math.nan),
        "separation": float(np.mean(scored)) if scored else math.nan,
    }


def measure(data: dict, cfg: dict, weights: str, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    ex = extract(data, cfg, weights)
    t1 = time.perf_counter()
    row = {"dataset": data["name"], **{k: cfg[k] for k in ("kind", "backbone", "stage", "size", "seed", "k")},
           "n_images": len(ex["feats"]), "channels": int(ex["feats"][0].shape[2]),
           "map_hw": list(ex["feats"][0].shape[:2])}
    row.update(cheap_scores(data, ex, seed))
    t2 = time.perf_counter()
    gt = ground_truth(data, ex, seed)
    row.update({plan.BOX_TRUTH: gt["map50"], "map50_lo": gt.get("lo", math.nan), "map50_hi": gt.get("hi", math.nan),
                "map50_prior": gt.get("prior", math.nan), "resolvable": gt.get("resolvable", math.nan)})
    row["seconds"] = {"forward": t1 - t0, "cheap": t2 - t1, "probe": time.perf_counter() - t2}
    return row


_PRIOR_CACHE: dict = {}


def probe_inputs(data: dict, ex: dict):
    """The detection probe's images (``bbselect.probes.study.probe_images``), duplicates grouped by digest."""
    if "sizes" not in data:
        data["sizes"] = {r.rel: upright_size(r.path) for r in data["refs"]}
        data["digest"] = {r.rel: file_digest(r.path) for r in data["refs"]}
    return probe_images(ex["rels"], data["boxes"].boxes, data["sizes"], dict(zip(ex["rels"], ex["valid"])),
                        ex["size"], groups=data["digest"])


def _map50(features: np.ndarray, pi, data: dict, size: int, seed: int, n_boot: int) -> dict:

    res = detection.run_probe(features, pi.boxes, pi.classes, len(pi.class_names), size,
                              detection.ProbeConfig(seed=seed, **plan.STUDY_PROBE), groups=pi.groups)
    gt_px = [cocometrics.to_image_pixels(b, g) for b, g in zip(pi.boxes, pi.geoms)]
    gt = cocometrics.coco_ground_truth(gt_px, pi.classes, pi.geoms, pi.class_names)
    ev = cocometrics.evaluate(gt, cocometrics.coco_detections(res.detections, pi.geoms))
    bs = cocometrics.bootstrap(ev, n_boot=n_boot, seed=seed)
    return {"map50": bs["map50"], "lo": bs["map50_ci"][0], "hi": bs["map50_ci"][1], "seconds": res.seconds}


def ground_truth(data: dict, ex: dict, seed: int = 0, n_boot: int = 200) -> dict:
    """Detection-probe mAP@0.5 with its image-bootstrap interval, and the prior-only baseline (the
    same head on constant features, computed once per data set and map size)."""
    feats = np.stack(ex["feats"])
    pi = probe_inputs(data, ex)
    out = _map50(feats, pi, data, ex["size"], seed, n_boot)
    key = (data["name"], ex["size"], feats.shape[1:3])
    if key not in _PRIOR_CACHE and ex["size"] in plan.PRIOR_SIZES:
        _PRIOR_CACHE[key] = _map50(detection.prior_features(feats), pi, data, ex["size"], seed, n_boot)["map50"]
    out["prior"] = _PRIOR_CACHE.get(key, math.nan)
    ok, total = detection.resolvable(pi.boxes, feats.shape[1:3], ex["size"])
    out["resolvable"] = ok / total if total else math.nan
    return out
