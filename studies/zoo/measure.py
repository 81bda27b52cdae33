"""The cross-family study's measurements: per network and data set, one pass for the pooled features
(and on the box set the full maps), then the ground truth under bbselect's head and head B
(``heads``), the scores under the registry's names and, on the box set, the within-family study's cheap
box scores (``studies.validation.measure_boxes``) on the same maps."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from bbselect.inputs import augment, labelfiles
from bbselect.inputs import decode as dec
from bbselect.inputs import images as imgs
from bbselect.inputs.images import discover_images
from bbselect.models import runtime
from bbselect.models.registry import get_spec
from bbselect.probes import cocometrics, detection
from bbselect.probes import labels as lab
from bbselect.probes import logme as lm
from bbselect.scoring import stability, stats
from studies.validation import measure_boxes
from studies.zoo import heads, networks, plan


def images_of(data_dir: Path, max_images: int | None):

    refs, _ = discover_images(data_dir)
    if max_images and len(refs) > max_images:
        step = len(refs) / max_images
        refs = [refs[int(i * step)] for i in range(max_images)]
    return refs


def extract(reg: str, n_stages: int, refs, mode: str, keep_maps: bool) -> list[dict]:
    """Per stage: pooled features (gap, gmp) of every image, gap of one augmented view (bbselect's own
    view 0, seed 0), and with ``keep_maps`` the full [h, w, C] maps, content crops and valid sizes."""
    spec = get_spec(reg)
    out = [{"gap": [], "gmp": [], "view_gap": [], "feats": [], "crops": [], "valid": [], "rels": []}
           for _ in range(n_stages)]

    def forward(arrays):
        res = spec.model.predict_on_batch(spec.preprocess(np.stack(arrays).astype(np.float32)))
        return [np.asarray(r) for r in (res if isinstance(res, (list, tuple)) else [res])]

    batch = []

    def flush():
        outs, outs_v = forward([b[0] for b in batch]), forward([b[2] for b in batch])
        for s in range(n_stages):
            for i, (_a, v, _va, vv, rel) in enumerate(batch):
                f, fv = outs[s][i], outs_v[s][i]
                r, c = dec.valid_map_region(v, networks.SIZE, f.shape[:2])
                crop = f[:r, :c].astype(np.float64)
                o = out[s]
                o["gap"].append(crop.mean(axis=(0, 1)))
                o["gmp"].append(crop.max(axis=(0, 1)))
                rv, cv = dec.valid_map_region(vv, networks.SIZE, fv.shape[:2])
                o["view_gap"].append(np.asarray(fv[:rv, :cv], np.float64).mean(axis=(0, 1)))
                o["rels"].append(rel)
                o["valid"].append(v)
                if keep_maps:
                    o["feats"].append(np.asarray(f, np.float32))
                    o["crops"].append(o["feats"][-1][:r, :c])
        batch.clear()

    for ref in refs:
        img = dec.load_image(ref.path)
        arr, v = dec.fit_to_input(img, networks.SIZE, mode)
        va, vv = dec.fit_to_input(augment.augmented_view(img, 0, imgs.image_id(ref.rel), 0), networks.SIZE, mode)
        batch.append((arr, v, va, vv, ref.rel))
        if len(batch) == 16:
            flush()
    if batch:
        flush()
    for o in out:
        for k in ("gap", "gmp", "view_gap"):
            o[k] = np.stack(o[k])
        o["size"] = networks.SIZE
    return out


# --------------------------------------------------------------------------
# one configuration's row
# --------------------------------------------------------------------------

def label_row(ex: dict, y: np.ndarray) -> dict:


    f = ex["gap"]
    probe = lab.probe_scores(f, y, folds=5, seed=0)
    try:
        logme = lm.logme(f, y)
    except (ValueError, np.linalg.LinAlgError):
        logme = math.nan
    st = stability.neighbourhood_stability(f, ex["view_gap"])
    ch = stats.channel_stats(f, ex["gmp"])
    b = heads.linear_b(f, y)
    return {"truth": probe["linear_probe"]["mean"], "truth_lo": probe["linear_probe"]["lo"],
            "truth_hi": probe["linear_probe"]["hi"], "correct": [bool(c) for c in probe["linear_probe"]["correct"]],
            "truth_b": b["acc"], "correct_b": b["correct"], "logme": logme, "knn": probe["knn"]["mean"],
            "stability": st["stability"], "augmentation_retrieval": st["retrieval"],
            "effective_rank": ch.get("effective_rank", math.nan), "channels": int(f.shape[1])}


N_PAIRED = 200


def replicates(ev) -> list[float]:
    """mAP@0.5 on N_PAIRED fixed resamples of the images (seed 0: the same resamples for every
    configuration, so the difference of two configurations' replicates is a paired image bootstrap,
    as ``cocometrics.paired_bootstrap``; stored in the row, so processes can be merged)."""
    idx = np.random.default_rng(0).integers(0, ev.n_images, (N_PAIRED, ev.n_images))
    return [cocometrics.resampled(ev.matches, i)[0] for i in idx]


def box_row(data: dict, ex: dict, evals: dict, key: str, with_pos: bool) -> dict:
    """Cheap scores (the box study's, on the same maps) and the two detection heads' mAP@0.5; with
    ``with_pos`` (the ImageNet and off-task networks: the budget) also bbselect's probe with per-position
    normalisation and head B."""


    t0 = time.perf_counter()
    row = measure_boxes.cheap_scores(data, ex)
    row["seconds"] = {"cheap": time.perf_counter() - t0}
    feats = np.stack(ex["feats"])
    pi = measure_boxes.probe_inputs(data, ex)
    norms = (("", "channel"), ("_pos", "position")) if with_pos else (("", "channel"),)
    for tag, norm in norms:
        t0 = time.perf_counter()
        res = detection.run_probe(feats, pi.boxes, pi.classes, len(pi.class_names), ex["size"],
                                  detection.ProbeConfig(seed=0, normalise=norm, **plan.PROBE), groups=pi.groups)
        gt_px = [cocometrics.to_image_pixels(b, g) for b, g in zip(pi.boxes, pi.geoms)]
        gt = cocometrics.coco_ground_truth(gt_px, pi.classes, pi.geoms, pi.class_names)
        ev = cocometrics.evaluate(gt, cocometrics.coco_detections(res.detections, pi.geoms))
        evals[key + tag] = ev
        row["boot" + tag] = replicates(ev)
        bs = cocometrics.bootstrap(ev, n_boot=200, seed=0)
        row[f"truth{tag}"], row[f"truth{tag}_lo"], row[f"truth{tag}_hi"] = bs["map50"], *bs["map50_ci"]
        row["seconds"]["probe" + tag] = time.perf_counter() - t0
    row["truth_b"] = math.nan
    if with_pos:  # head B too: the head comparison is about the trained networks (the budget)
        t0 = time.perf_counter()
        ev = heads.detection_b(feats, pi, ex["size"])
        evals[key + "_b"] = ev
        row["boot_b"] = replicates(ev)
        row["truth_b"] = ev.map50
        row["seconds"]["probe_b"] = time.perf_counter() - t0
    row["channels"] = int(feats.shape[-1])
    row["map_hw"] = list(feats.shape[1:3])
    return row


def measure(cfgs: list[dict], shared: Path, work: Path, max_images: int | None, t0: float,
            partial: Path | None) -> tuple[list[dict], dict]:


    keras = runtime.keras()
    rows, evals = [], {}
    sets = [(ds, shared / "data" / "labeled" / ds) for ds in plan.LABEL_SETS]
    box = measure_boxes.load_box_data(shared / "data" / "boxes" / plan.BOX_SET)
    if max_images:
        keep = {r.rel for r in images_of(box["images_dir"], max_images)}
        box["refs"] = [r for r in box["refs"] if r.rel in keep]
    for cfg in cfgs:
        for ds, data_dir in [*sets, (plan.BOX_SET, None)]:
            try:
                rows += measure_one(cfg, ds, data_dir, box, evals, shared, work, max_images, t0, len(rows))
            except Exception as err:  # noqa: BLE001 - one configuration's failure must not lose the others
                print(f"FAILED {ds} {cfg['id']}: {type(err).__name__}: {err}", flush=True)
            keras.backend.clear_session()
            if partial is not None:
                partial.write_text(json.dumps({"rows": rows}, default=str))
    return rows, evals


def measure_one(cfg, ds, data_dir, box, evals, shared, work, max_images, t0, done) -> list[dict]:
    """The rows of one network (one per stage) on one data set."""
    rows = []
    t1 = time.perf_counter()
    cal_dir = data_dir if data_dir is not None else box["images_dir"]
    reg, _, cost = networks.network(cfg, shared, work, cal_dir)
    refs = images_of(data_dir, max_images) if data_dir is not None else box["refs"]
    exs = extract(reg, len(cfg["stages"]), refs, "stretch" if data_dir is not None else "letterbox",
                  keep_maps=data_dir is None)
    for stage, ex in zip(cfg["stages"], exs):
        base = {"dataset": ds, "config": f"{cfg['id']}@{stage}", "stage": stage, **cost,
                **{k: cfg[k] for k in ("id", "net", "family", "kind", "seed", "k", "top1")},
                "n_images": len(ex["rels"])}
        if data_dir is not None:
            classes = labelfiles.class_folders(data_dir, ex["rels"])
            y = np.asarray([classes[r] for r in ex["rels"]])
            row = {**base, **label_row(ex, y)}
        else:
            row = {**base, **box_row(box, ex, evals, base["config"], cfg["kind"] in ("imagenet", "off-task"))}
        rows.append(row)
        print(f"[{done + len(rows)}] {ds} {row['config']}: truth={row['truth']:.3f} B={row['truth_b']:.3f}"
              + (f" pos={row['truth_pos']:.3f}" if "truth_pos" in row else "")
              + f" stability={row['stability']:.3f}  ({time.perf_counter() - t1:.0f}s, total "
              f"{time.perf_counter() - t0:.0f}s)", flush=True)
    return rows
