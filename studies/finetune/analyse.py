"""The fine-tuning study's statistics.

* Every detection set (frozen probe, each fine-tuning schedule) is evaluated once by pycocotools
  (``cocometrics.evaluate``), with 95 % percentile bootstrap intervals over images.
* Kendall τ-b (``scipy.stats.kendalltau``) of each predictor against the fine-tuned mAP across networks,
  with a 95 % percentile bootstrap interval over NETWORKS (resampled with replacement; resamples in
  which τ is undefined are skipped).  Over all networks and over the pretrained ones only.
* The fine-tuned tie set: networks whose paired bootstrap difference from the fine-tuned best (same
  resampled images) holds 0; whether the frozen probe's pick is in it.
* Gain of pretrained over random init after fine-tuning: paired bootstrap over the same images.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from bbselect.common import finite
from bbselect.probes import cocometrics as cm
from bbselect.probes.detection import Detections
from studies.finetune import plan
from studies.finetune.plan import PROBE

N_BOOT_TAU = 2000


def detections(items: list) -> list[Detections]:
    return [Detections(np.asarray(d["boxes"], np.float64).reshape(-1, 4), np.asarray(d["scores"], np.float64),
                       np.asarray(d["classes"], np.int64)) for d in items]


def assemble(phase: dict, n: int) -> list | None:
    """Per-image detections of one schedule from its folds (None unless every image is covered)."""
    out: list = [None] * n
    for f in phase.get("folds", {}).values():
        for i, d in zip(f["test"], f["dets"]):
            out[i] = d
    return None if any(d is None for d in out) else out


def kendall(x, y, n_boot: int = N_BOOT_TAU, seed: int = 0) -> dict:
    """τ-b, its p, and a 95 % bootstrap interval over the paired points (networks)."""
    pts = [(a, b) for a, b in zip(x, y) if finite(a) and finite(b)]
    n = len(pts)
    if n < 3 or len({a for a, _ in pts}) < 2 or len({b for _, b in pts}) < 2:
        return {"tau": math.nan, "p": math.nan, "ci": [math.nan, math.nan], "n": n}
    a, b = np.array(pts).T
    res = kendalltau(a, b)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if len(set(a[idx])) < 2 or len(set(b[idx])) < 2:
            continue
        t = kendalltau(a[idx], b[idx]).statistic
        if math.isfinite(t):
            boots.append(t)
    lo, hi = np.percentile(boots, [2.5, 97.5]) if boots else (math.nan, math.nan)
    return {"tau": float(res.statistic), "p": float(res.pvalue), "ci": [float(lo), float(hi)], "n": n}


def analyse(cache: dict, data: dict, fold_of: np.ndarray, keys: list[str], n_boot: int = 500) -> dict:
    """Rows per network (predictors under ``plan.PREDICTORS``' keys, each phase's mAP), τ of every
    predictor against the fine-tuned mAP, the tie set, gains over random init, schedule stability and
    whether the probe is supported (τ interval above 0 and its pick in the fine-tuned tie set)."""
    pimg = data["pimg"]
    n = len(pimg.names)
    gt_px = [cm.to_image_pixels(b, g) for b, g in zip(pimg.boxes, pimg.geoms)]
    gt = cm.coco_ground_truth(gt_px, pimg.classes, pimg.geoms, pimg.class_names)
    zoo = {e["name"]: e for e in json.loads((Path(data["zoo_dir"]) / "zoo.json").read_text())["networks"]}
    nets = {k: (z, r) for k, z, r in plan.NETWORKS}
    rows, evals = {}, {}
    for key in keys:
        entry = cache["networks"].get(key) or {}
        zname, rnd = nets[key]
        row = {"key": key, "random": rnd, "top1": plan.TOP1_RANDOM if rnd else zoo[zname]["imagenet_top1"],
               "family": zoo[zname]["family"]}
        if "frozen" in entry:
            fz = entry["frozen"]
            if fz["fold_of"] != fold_of.tolist():
                raise SystemExit(f"{key}: the probe's folds differ from the study's")
            ev = cm.evaluate(gt, cm.coco_detections(detections(fz["dets"]), pimg.geoms))
            bs = cm.bootstrap(ev, n_boot, 0)
            evals[("frozen", key)] = ev
            row.update(det_map50=bs["map50"], det_map50_ci=bs["map50_ci"], det_map=bs["map"],
                       det_map_ci=bs["map_ci"], map_hw=fz["map_hw"], channels=fz["channels"],
                       frozen_seconds=sum(fz["seconds"].values()), **fz["cheap"])
        for phase in plan.PHASES:
            ph = entry.get(phase) or {}
            dets = assemble(ph, n)
            if dets is None:
                continue
            ev = cm.evaluate(gt, cm.coco_detections(detections(dets), pimg.geoms))
            bs = cm.bootstrap(ev, n_boot, 0)
            evals[(phase, key)] = ev
            row[phase] = {"map50": bs["map50"], "map50_ci": bs["map50_ci"], "map": bs["map"], "map_ci": bs["map_ci"],
                          "seconds": ph.get("build_seconds", 0.0) + sum(f["seconds"] for f in ph["folds"].values()),
                          "epochs": ph["schedule"]["epochs"]}
        if "proxy" in row:
            row["proxy_map50"] = row["proxy"]["map50"]
        if "short" in row and "long" in row:
            row["short_map50"] = row["short"]["map50"]
        rows[key] = row
    out = {"rows": rows, "n_images": n, "folds": int(fold_of.max()) + 1, "meta": cache.get("meta"),
           "wall_seconds": cache.get("wall_seconds"), "n_boot": n_boot}
    main = "long" if any("long" in r for r in rows.values()) else "short"
    out["main"] = main
    done = [k for k in keys if main in rows[k] and PROBE in rows[k]]
    pre = [k for k in done if not rows[k]["random"]]
    out["networks"], out["pretrained"] = done, pre
    taus = {}
    for target in ("map50", "map"):
        for pk, _ in plan.PREDICTORS:
            for scope, ks in (("all", done), ("pretrained", pre)):
                taus[(pk, target, scope)] = kendall([rows[k].get(pk, math.nan) for k in ks],
                                                    [rows[k][main][target] for k in ks])
    out["taus"] = taus
    if done:
        best = max(done, key=lambda k: (rows[k][main]["map50"], k))
        tie = []
        for k in done:
            pb = cm.paired_bootstrap(evals[(main, best)], evals[(main, k)], n_boot, 0)
            rows[k]["vs_ft_best"] = pb
            if k == best or pb["tied"]:
                tie.append(k)
        pick = max(done, key=lambda k: (rows[k][PROBE], k))
        pick_pre = max(pre, key=lambda k: (rows[k][PROBE], k)) if pre else None
        out.update(ft_best=best, tie=tie, probe_pick=pick, probe_pick_in_tie=pick in tie,
                   probe_pick_pretrained=pick_pre, probe_pick_pretrained_in_tie=pick_pre in tie if pick_pre else None,
                   top1_pick=max(pre, key=lambda k: rows[k]["top1"]) if pre else None)
        out["top1_pick_in_tie"] = out["top1_pick"] in tie if out["top1_pick"] else None
    gains = {}
    for k in done:
        if rows[k]["random"]:
            base = k.replace(" (random)", "")
            if base in done:
                g = {ph: cm.paired_bootstrap(evals[(ph, base)], evals[(ph, k)], n_boot, 0)
                     for ph in ("short", "long", "frozen") if (ph, base) in evals and (ph, k) in evals}
                gains[base] = g
    out["gains"] = gains
    both = [k for k in done if "short" in rows[k] and "long" in rows[k]]
    out["stability"] = {"tau": kendall([rows[k]["short"]["map50"] for k in both], [rows[k]["long"]["map50"] for k in both]),
                        "tau_pretrained": kendall([rows[k]["short"]["map50"] for k in both if not rows[k]["random"]],
                                                  [rows[k]["long"]["map50"] for k in both if not rows[k]["random"]]),
                        "probe_vs_short": kendall([rows[k][PROBE] for k in both],
                                                  [rows[k]["short"]["map50"] for k in both]),
                        "n": len(both)}
    probe = taus[(PROBE, "map50", "all")]
    out["supported"] = bool(finite(probe["tau"]) and finite(probe["ci"][0]) and probe["ci"][0] > 0
                            and out.get("probe_pick_in_tie"))
    return out
