"""The labels part's measurements: one ``bbselect compare`` run per group of configurations on a
labelled folder, then the ground truth (linear-probe accuracy) and LogME / kNN on its pooled features.
Row keys are the score registry's names (``plan.label_scores``); the ground truth is ``plan.TRUTH``."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from bbselect.config.schema import CompareConfig
from bbselect.inputs import labelfiles
from bbselect.probes import labels as lab
from bbselect.probes import logme as lm
from bbselect.runs.pipeline import compare
from bbselect.scoring import registry
from studies.cascade import cascade_file
from studies.tables import fmt
from studies.validation import plan


def measure_group(data_dir: Path, group: dict, work: Path, tag: str) -> list[dict]:
    """The rows of one group (one per backbone) on one labelled data set."""
    weights = group["weights"]
    if group["kind"] == "cascade":
        weights = cascade_file(data_dir, *group["cascade"], group["base"], work)
    cfg = CompareConfig(
        images=str(data_dir), backbones=list(group["backbones"]), weights=weights,
        input_size=group["size"], seed=group["seed"], figures="none", output=str(work / "runs"),
        name=tag, cache=False, cache_dir=str(work / "cache"), labels="none", boxes="none",
    )
    outcome = compare(cfg, quiet=True)
    manifest = json.loads((outcome.run_dir / "run.json").read_text())
    maps_dir = {b["label"]: b["maps_dir"] for b in manifest["backbones"]}
    classes = labelfiles.class_folders(data_dir, [im["rel"] for im in manifest["images"]])
    if classes is None:
        raise SystemExit(f"{data_dir}: expected one sub-folder per class")
    rows = []
    for b in outcome.summary["backbones"]:
        feats, ys = [], []
        for im in manifest["images"]:
            path = outcome.run_dir / maps_dir[b["label"]] / f"{im['id']}.npz"
            if not path.exists():
                continue
            with np.load(path) as z:
                feats.append(np.asarray(z["gap"], dtype=np.float64).ravel())
            ys.append(classes[im["rel"]])
        rows.append(row(data_dir.name, group, b, np.stack(feats), np.asarray(ys)))
    shutil.rmtree(outcome.run_dir, ignore_errors=True)  # maps are no longer needed
    return rows


def row(dataset: str, group: dict, b: dict, f: np.ndarray, y: np.ndarray) -> dict:
    """One configuration: the run summary's label-free scores (read through the registry, so under its
    names) and the label-aware ones on the pooled features ``f``."""
    probe = lab.probe_scores(f, y, folds=5, seed=0)
    try:
        logme = lm.logme(f, y)
    except (ValueError, np.linalg.LinAlgError):
        logme = math.nan
    out = {
        "dataset": dataset, "kind": group["kind"], "backbone": b["label"].split(":")[0],
        "label": b["label"], "stage": b.get("stage"), "layer": b.get("layer"),
        "size": group["size"], "seed": group["seed"] if group["kind"] == "random" else None,
        "k": group["cascade"][1] if group["kind"] == "cascade" else None,
        "n_images": int(f.shape[0]), "channels": int(f.shape[1]),
        "logme": logme, "knn": probe["knn"]["mean"], plan.TRUTH: probe["linear_probe"]["mean"],
        "probe_lo": probe["linear_probe"]["lo"], "probe_hi": probe["linear_probe"]["hi"],
    }
    for key in plan.label_scores():
        if plan.spec_of(key).tier != "labels":
            out[key] = registry.value(b, key)
        if plan.spec_of(key).per_map:
            agg, _, name = key.partition(".")
            missing = ((b.get("scores") or {}).get(agg) or {}).get(name) or {}
            out[f"{key}.n_missing"] = missing.get("n_missing") if isinstance(missing, dict) else None
    return out


def measure_all(data: list[Path], groups: list[dict], work: Path, t0: float) -> list[dict]:
    rows: list[dict] = []
    step, total = 0, len(groups) * len(data)
    for d in data:
        for g in groups:
            step += 1
            t1 = time.perf_counter()
            got = measure_group(d, g, work, f"{d.name}-{g['kind']}-s{g['seed']}-{g['size']}-{step}")
            rows += got
            print(f"[{step}/{total}] {d.name} {g['kind']} seed={g['seed']} size={g['size']}: "
                  + ", ".join(f"{r['label']} probe={fmt(r[plan.TRUTH], 3)}" for r in got)
                  + f"  ({time.perf_counter() - t1:.0f}s, total {time.perf_counter() - t0:.0f}s)", flush=True)
    return rows
