"""From the maps on disk to the run summary: scores, channel statistics, ranking, verdict.

This is the one path from maps to numbers. ``compare`` runs it after inference, ``report`` runs it on
an existing run folder, ``merge`` on the union of shard folders — so the same maps always give the
same summary, bit for bit. Images are read in the manifest's order (sorted by relative path), so a
merged run sees exactly the order an unsharded run does.

The summary's deterministic part is everything except the top-level ``timing`` key, which holds
timestamps and measured speeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bbselect.models.extractor import MAP_KEYS
from bbselect.scoring import crossfamily, detection, evidence, ranking, registry, scoreinputs, stability_sample, stats
from bbselect.scoring.registry import SCORED_MAPS

SCHEMA_VERSION = 1


def _backbone(run_dir: Path, meta: dict, images: list[dict], settings: dict, classes: dict | None, boxes,
              probe: dict | None, progress=None) -> tuple[dict | None, scoreinputs.ScoreInputs, dict]:
    """One backbone's summary entry: its facts, then every registered section whose needs the run meets
    (``registry.sections()``), weakest tier first; and the per-image values of the paired sections."""
    inputs = scoreinputs.gather(run_dir, meta, images, settings, classes, boxes, probe, progress)
    if not inputs.n:
        return None, inputs, {}
    entry = {
        key: meta[key] for key in ("label", "name", "options", "layer", "stage", "map_shape", "channels", "weights")
    }
    entry.update({key: meta.get(key) for key in ("stride", "layer_note", "preprocess", "top1")})
    values = list(inputs.map_scores.values())
    entry.update(
        cost={"params": meta["params"], "gflops": meta["gflops"]},
        top1=meta.get("top1") or {"value": None, "source": "unknown: not recorded by this run"},
        degenerate={k: sum(1 for v in values if v[k].degenerate) for k in SCORED_MAPS},
        limits={k: list(_limits(inputs.samples[k])) for k in MAP_KEYS},
    )
    per_image = {}
    for spec in reversed(registry.sections()):
        key = spec.path[0]
        if set(spec.needs) <= inputs.available:
            got = spec.compute(inputs)
        else:
            got = spec.missing(inputs) if spec.missing else None
        if spec.paired and isinstance(got, tuple):
            got, per_image[key] = got
        if got is not None:
            entry[key] = got
    return entry, inputs, per_image


def _limits(parts: list[np.ndarray]) -> tuple[float, float]:
    pooled = np.concatenate(parts) if parts else np.zeros(0)
    pooled = pooled[np.isfinite(pooled)]
    return stats.robust_limits(pooled) if pooled.size else (0.0, 1.0)


def summarize_run(run_dir: Path, manifest: dict, progress=None) -> tuple[dict, dict]:
    """Return (summary, per-image MapScores by backbone label) for a run folder and its manifest.
    ``progress`` (a ``progress.Progress`` over images × backbones) advances per map file scored."""
    images = manifest["images"]
    # "random weights" is what ran, not the global --weights: a backbone may bring its own weights file
    kinds = [(m["label"], (m.get("weights") or {}).get("kind")) for m in manifest["backbones"]]
    settings = {**manifest["run"], "random_weights": bool(kinds) and all(k == "none" for _, k in kinds),
                "random_backbones": [lb for lb, k in kinds if k == "none"]}
    images_dir = Path(settings["images_dir"])
    classes, labels_how = evidence.find_labels(images_dir, [im["rel"] for im in images], settings.get("labels"))
    boxes = evidence.find_boxes(images_dir, images, settings.get("boxes"))
    probe = _probe(run_dir)
    untrained = (probe or {}).get("untrained")  # e.g. every image a copy of one: why there is no probe
    entries, per_image, paired = [], {}, {}
    for meta in manifest["backbones"]:
        entry, inputs, values = _backbone(run_dir, meta, images, settings, classes, boxes, probe, progress)
        if entry is not None:
            entries.append(entry)
            per_image[meta["label"]] = inputs.map_scores
            for key, v in values.items():
                paired.setdefault(key, {})[meta["label"]] = v
    for key, values in paired.items():  # e.g. stability: every two backbones compared on the same images
        stats.add_paired(entries, key, values)
    if probe is not None and not probe.get("backbones"):  # --probe cheap: box scores only, no detection head
        probe = None
    used = evidence.choose_primary(entries)
    sampled = _stability_sample(settings.get("stability"), entries)
    if sampled and used.get("score") == "stability":
        used["sample"] = sampled
    labels_how = evidence.labels_outcome(labels_how, entries)
    if used["evidence"] == "detection" and detection.at_floor(probe):
        used.update(supported=False, unsupported=detection.floor_sentence(probe))
    ordered = ranking.rank(entries, health_gate=used["evidence"] == "label-free")
    if used["evidence"] == "detection":
        detection.paired_ties(ordered, probe)
    cross = crossfamily.assess(ordered, used)
    timing = dict(manifest.get("timing", {}))
    timing.pop("pareto", None)  # older runs kept a Pareto set by measured speed here
    scored_ids = {i for s in per_image.values() for i in s}
    n_images = sum(1 for im in images if im["id"] in scored_ids)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "run": {**settings, "n_images": n_images, "n_skipped": len(manifest["skipped"])},
        "score_docs": registry.docs(("map", "boxes") if boxes is not None else ("map",)),
        "backbones": ordered,
        "images": [
            {
                "rel": im["rel"],
                "id": im["id"],
                "class": classes.get(im["rel"]) if classes else None,
                "figure": None,
                "scores": {
                    label: {k: s[im["id"]][k]._asdict() for k in SCORED_MAPS}
                    for label, s in per_image.items()
                    if im["id"] in s
                },
            }
            for im in images
            if im["id"] in scored_ids
        ],
        "boxes": {} if boxes is None else {rel: [list(b) for b in bs] for rel, bs in boxes.boxes.items()},
        "skipped": manifest["skipped"],
        "figures": {},
        "evidence": {
            **used,
            "labels": labels_how,
            "boxes": None if boxes is None else {
                "format": boxes.format, "source": str(boxes.source) if boxes.source else None,
                "n_boxes": boxes.n_boxes, "images_with_boxes": len(boxes.boxes),
                "images_without": len(boxes.missing), "layout": boxes.layout,
                "notes": boxes.notes + ([f"No detection probe: {untrained}."] if untrained else []),
            },
            "classes": sorted(set(classes.values())) if classes else None,
        },
        "cross_family": cross,
        "verdict": (detection.verdict(ordered, probe, settings.get("random_weights", False))
                    if used["evidence"] == "detection"
                    else ranking.verdict(ordered, n_images, settings.get("random_weights", False), used)),
        "detection": probe,
        "warnings": _warnings(settings, ordered),
        # by analytic GFLOPs, not measured ms/image: the same inputs give the same set
        "pareto": ranking.pareto_front(ordered, lambda b: b["cost"].get("gflops")),
        "timing": timing,
    }
    return summary, per_image


def _stability_sample(stab_settings: dict | None, entries: list[dict]) -> dict | None:
    """When stability ran on a sample: its size (images scored), the folder's and the limit, in words too."""
    sample = (stab_settings or {}).get("sample") or {}
    n = max(((e["stability"].get("n") or 0) + (e["stability"].get("n_missing") or 0)
             for e in entries if "stability" in e), default=0)
    if not sample.get("sampled") or not n:
        return None
    return {"n": n, "of": sample["of"], "max_images": sample["max_images"],
            "text": stability_sample.describe(n, sample["of"], sample["max_images"])}


def _probe(run_dir: Path) -> dict | None:
    """The detection probe's results (``probe.json``, written by the run), or None."""
    path = run_dir / detection.PROBE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _warnings(settings: dict, ordered: list[dict]) -> list[str]:
    out = []
    if settings.get("random_weights"):
        out.append("Weights are random (--weights none): the scores reflect architecture and "
                   "initialisation only, not pretrained features.")
    elif settings.get("random_backbones"):
        out.append(f"Random weights (--weights none) for {', '.join(settings['random_backbones'])}: their "
                   f"scores reflect architecture and initialisation only, not pretrained features.")
    if settings.get("shard"):
        out.append(f"This is shard {settings['shard']} of a sharded run: scores cover only its images; "
                   f"combine shards with `bbselect merge`.")
    if settings.get("partial"):
        out.append(settings["partial"]["note"] + " (merged with --allow-partial).")
    for b in ordered:
        for k, n in b["degenerate"].items():
            if n:
                out.append(f"{b['label']}: {n} {k} map(s) were degenerate (constant, saturated or too "
                           f"small) and were left out of the scores.")
    return out
