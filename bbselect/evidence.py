"""Label- and box-aware evidence for a run, and the choice of which evidence ranks the backbones.

Labels (``--labels auto|none|FILE.csv``): ``auto`` uses class sub-folders when every image sits in
a first-level folder and there are at least two (``labels.class_folders``); a CSV with columns
``image,label`` names them explicitly. Per backbone: LogME, linear-probe and kNN accuracy of the
pooled features (global average of the chosen layer) with 95% intervals.

Boxes (``--boxes auto|none|PATH``): YOLO txt, Pascal VOC xml or COCO json, auto-detected next to the
images (``annotations.load_boxes``); ``PATH`` is a COCO file or a folder of per-image files. Per
backbone and map: activation mass inside boxes relative to their area, AUROC of map values against
the box mask, and the pointing game, each with a bootstrap CI. Images without annotation are counted.

Strongest evidence ranks: boxes (mean AUROC over the max and mean maps) > labels (linear-probe
accuracy) > label-free maps (separation). The report says which one was used and why.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import annotations, boxscores, labels, scores
from .errors import UsageError

BOX_MAPS = ("max", "mean")


# ---------------------------------------------------------------- inputs

def find_labels(images_dir: Path, rels: list[str], setting: str | None) -> tuple[dict | None, str]:
    """(rel -> class, how found); (None, why not) when there are no labels."""
    setting = (setting or "auto").strip()
    if setting.lower() == "none":
        return None, "labels turned off (--labels none)"
    if setting.lower() == "auto":
        found = labels.class_folders(images_dir, rels)
        if found is None:
            return None, "no class sub-folders (give --labels FILE.csv to use labels)"
        return found, f"class sub-folders ({len(set(found.values()))} classes)"
    table = labels.labels_csv(Path(setting))
    found = {r: table[r] for r in rels if r in table}
    if len(set(found.values())) < 2:
        raise UsageError(f"--labels {setting}: fewer than two classes among the run's images")
    return found, f"{setting} ({len(found)} of {len(rels)} images labelled)"


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header only."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def find_boxes(images_dir: Path, images: list[dict], setting: str | None):
    """A ``BoxSet`` or None. ``auto`` finding nothing is not an error; an explicit PATH is."""
    setting = (setting or "auto").strip()
    if setting.lower() == "none":
        return None
    rels = [im["rel"] for im in images]
    source = None if setting.lower() == "auto" else Path(setting)
    if source is not None and not source.exists():
        raise UsageError(f"--boxes {setting}: no such file or folder")
    found = annotations.detect_format(images_dir, rels, source)
    if found is None:
        if source is None:
            return None
        return annotations.load_boxes(images_dir, rels, {}, source=source)  # raises: says what is missing
    sizes = {}  # read only when there are boxes: a header read per image (PNG EXIF means a full decode)
    for im in images:
        try:
            sizes[im["rel"]] = upright_size(Path(im["path"]))
        except OSError:
            continue
    fmt, coco_file = found
    return annotations.load_boxes(images_dir, rels, sizes, source=coco_file or source, fmt=fmt)


# ---------------------------------------------------------------- scores

def label_scores(features: np.ndarray, classes: list[str], seed: int = 0) -> dict:
    probe = labels.probe_scores(features, np.asarray(classes), seed=seed)
    try:
        lm = labels.logme(features, np.asarray(classes))
    except (ValueError, np.linalg.LinAlgError):
        lm = float("nan")
    keep = ("mean", "lo", "hi", "reason")
    return {
        "n": probe["n"], "n_classes": probe["n_classes"], "chance": probe["chance"],
        "logme": lm,
        "linear_probe": {**{k: probe["linear_probe"].get(k) for k in keep}, "n": probe["n"]},
        "knn": {**{k: probe["knn"].get(k) for k in keep}, "n": probe["n"]},
        "reason": probe.get("reason"),
    }


def box_scores(maps_by_image: dict[str, dict], boxes_by_rel: dict[str, list], rel_of: dict[str, str]) -> dict:
    """Per map kind and score: a bootstrap summary over images that have boxes."""
    per = {k: {n: [] for n in boxscores.BOX_SCORE_NAMES} for k in BOX_MAPS}
    auroc_mean = []
    for image_id, maps in maps_by_image.items():
        rel = rel_of[image_id]
        if rel not in boxes_by_rel:
            continue
        vals = []
        for k in BOX_MAPS:
            s = boxscores.score_boxes(maps[k], boxes_by_rel[rel])
            for n in boxscores.BOX_SCORE_NAMES:
                per[k][n].append(s[n])
            vals.append(s["auroc"])
        finite = [v for v in vals if v is not None and math.isfinite(v)]
        auroc_mean.append(float(np.mean(finite)) if finite else float("nan"))
    return {
        "maps": {k: {n: scores.summarize(v) for n, v in d.items()} for k, d in per.items()},
        "auroc": scores.summarize(auroc_mean),
    }


# ---------------------------------------------------------------- which evidence ranks

def choose_primary(entries: list[dict]) -> dict:
    """Set ``entry["primary"]`` (metric name and summary) on every backbone; return what was used."""
    have_boxes = any(np.isfinite(_mean(e.get("boxes", {}).get("auroc"))) for e in entries)
    have_labels = any(np.isfinite(_mean((e.get("labels") or {}).get("linear_probe"))) for e in entries)
    if have_boxes:
        used = {"evidence": "boxes", "metric": "box AUROC",
                "why": "box annotations were found: how well each map picks out the annotated objects "
                       "is the most direct evidence for a detector"}
        pick = lambda e: e["boxes"]["auroc"]  # noqa: E731
    elif have_labels:
        used = {"evidence": "labels", "metric": "linear-probe accuracy",
                "why": "class labels were found (no boxes): how well a linear classifier on the pooled "
                       "features separates your classes is the best available evidence"}
        pick = lambda e: e["labels"]["linear_probe"]  # noqa: E731
    else:
        used = {"evidence": "label-free", "metric": "separation",
                "why": "no labels or boxes were given, so only the label-free map scores are available"}
        pick = lambda e: e["separation"]  # noqa: E731
    for e in entries:
        e["primary"] = {"metric": used["metric"], **pick(e)}
    return used


def _mean(s) -> float:
    if not s or s.get("mean") is None:
        return float("nan")
    return float(s["mean"])
