"""Run the detection probe for several backbones and the prior baseline; compare them paired.

``sample_images`` picks at most ``max_images`` annotated images: stratified by how many boxes an
image has (0, 1, 2-3, 4+) and within a stratum by a stable hash of its name, so the same folder
always gives the same sample and no kind of image is squeezed out.

``probe_study`` runs ``run_probe`` on each backbone's feature tensor and on constant features of
each distinct map size (the prior baseline: where boxes usually are and how big), evaluates each
with COCOeval and returns plain dicts: mAP@0.5 and mAP@[.5:.95] with bootstrap intervals, the gain
over the prior of the same map size with a *paired* bootstrap interval, the paired comparison with
the best backbone (``tied`` when the difference interval holds 0), resolvable boxes and seconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bbselect.probes import cocometrics as cm
from bbselect.probes import detection as det

STRATA = ((0, 0), (1, 1), (2, 3), (4, 10**9))


@dataclass
class ProbeImages:
    """The probe's images: boxes in input pixels, class ids, how each was fitted, duplicate groups."""

    names: list[str]
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    class_names: list[str]
    geoms: list[cm.Geometry]
    groups: list[str]
    input_size: int


def probe_images(rels: list[str], boxes: dict[str, list], sizes: dict[str, tuple[int, int]],
                 valid: dict[str, tuple[int, int]], input_size: int,
                 groups: dict[str, str] | None = None) -> ProbeImages:
    """``ProbeImages`` from normalised boxes (``Box`` tuples with a ``label``) per image rel.

    ``sizes``: rel -> upright (width, height); ``valid``: rel -> content (rows, cols) of the fitted
    input (top-left, as ``fit_to_input`` places it). Images absent from ``boxes`` have no objects.
    Classes are the sorted distinct labels.
    """
    names = sorted({str(b.label) for r in rels for b in boxes.get(r, [])})
    index = {n: i for i, n in enumerate(names)}
    geoms, bxs, cls = [], [], []
    for r in rels:
        w, h = sizes[r]
        g = cm.Geometry(int(w), int(h), input_size, tuple(int(v) for v in valid[r]))
        own = boxes.get(r, [])
        px = cm.normalised_to_image([[b.x0, b.y0, b.x1, b.y1] for b in own], g)
        geoms.append(g)
        bxs.append(cm.to_input_pixels(px, g))
        cls.append(np.array([index[str(b.label)] for b in own], np.int64))
    grp = [(groups or {}).get(r, r) for r in rels]
    return ProbeImages(list(rels), bxs, cls, names, geoms, grp, input_size)


def _stable(name: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()


def sample_images(names: list[str], n_boxes: list[int], max_images: int, seed: int = 0) -> list[int]:
    """Indices (in input order) of a deterministic stratified sample of at most ``max_images``."""
    n = len(names)
    if n <= max_images:
        return list(range(n))
    strata = [[i for i in range(n) if lo <= n_boxes[i] <= hi] for lo, hi in STRATA]
    quota = [len(s) * max_images / n for s in strata]
    take = [int(q) for q in quota]
    for k in sorted(range(len(strata)), key=lambda k: quota[k] - take[k], reverse=True):
        if sum(take) >= max_images:
            break
        if take[k] < len(strata[k]):
            take[k] += 1
    chosen = []
    for s, t in zip(strata, take):
        chosen += sorted(s, key=lambda i: _stable(names[i], seed))[:t]
    return sorted(chosen)


def _scored(result: det.ProbeResult, images: ProbeImages, gt: dict, n_boot: int, seed: int):
    ev = cm.evaluate(gt, cm.coco_detections(result.detections, images.geoms))
    return ev, cm.bootstrap(ev, n_boot, seed)


def probe_study(features: dict, images: ProbeImages,
                config: det.ProbeConfig = det.ProbeConfig(), n_boot: int = 500) -> dict:
    """Per backbone (and per prior) results as plain dicts; see the module docstring.

    ``features``: label -> ``[n, h, w, C]`` array, or a function returning it (loaded when needed)."""
    gt_px = [cm.to_image_pixels(b, g) for b, g in zip(images.boxes, images.geoms)]
    gt = cm.coco_ground_truth(gt_px, images.classes, images.geoms, images.class_names)
    run = lambda f: det.run_probe(f, images.boxes, images.classes, len(images.class_names),
                                  images.input_size, config, groups=images.groups)
    priors, evals, out = {}, {}, {"backbones": {}, "priors": {}}
    for name, f in features.items():
        f = f() if callable(f) else f  # a loader: one backbone's tensor in memory at a time
        hw = tuple(f.shape[1:3])
        if hw not in priors:
            res = run(det.prior_features(f))
            ev, summary = _scored(res, images, gt, n_boot, config.seed)
            priors[hw] = ev
            out["priors"][f"{hw[0]}x{hw[1]}"] = {**summary, "seconds": res.seconds, "detections": res.detections}
        res = run(f)
        ev, summary = _scored(res, images, gt, n_boot, config.seed)
        evals[name] = ev
        ok, total = det.resolvable(images.boxes, hw, images.input_size)
        gain = cm.paired_bootstrap(ev, priors[hw], n_boot, config.seed)
        out["backbones"][name] = {**summary, "seconds": res.seconds, "map_hw": list(hw),
                                  "prior": f"{hw[0]}x{hw[1]}", "gain50": gain["diff"],
                                  "gain50_ci": gain["ci"], "beats_prior": gain["ci"][0] > 0,
                                  "resolvable": ok, "n_boxes": total, "detections": res.detections,
                                  "fold_of": res.fold_of}
    if evals:
        best = max(evals, key=lambda k: (evals[k].map50, k))
        for name, ev in evals.items():
            pb = cm.paired_bootstrap(evals[best], ev, n_boot, config.seed)
            out["backbones"][name]["vs_best"] = {"best": best, "diff": pb["diff"], "ci": pb["ci"],
                                                 "tied": name == best or pb["tied"]}
        out["best"] = best
    out.update(n_images=len(images.names), n_boot=n_boot, interval=cm.INTERVAL_METHOD,
               paired="paired percentile bootstrap over the same images",
               folds=config.folds, seed=config.seed)
    return out


__all__ = ["STRATA", "ProbeImages", "probe_images", "sample_images", "probe_study"]
