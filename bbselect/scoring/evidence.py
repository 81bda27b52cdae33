"""Label- and box-aware evidence for a run, and the choice of which evidence ranks the backbones.

Labels (``--labels auto|none|FILE.csv``): ``auto`` uses class sub-folders when every image sits in
a first-level folder and there are at least two (``labels.class_folders``); a CSV with columns
``image,label`` names them explicitly. Per backbone: LogME, linear-probe and kNN accuracy of the
pooled features (global average of the chosen layer) with 95% intervals.

Boxes (``--boxes auto|none|PATH``): YOLO txt, Pascal VOC xml or COCO json, auto-detected next to the
images (``annotations.load_boxes``); ``PATH`` is a COCO file or a folder of per-image files. Per
backbone and map: activation mass inside boxes relative to their area, AUROC of map values against
the box mask, and the pointing game, each with a bootstrap CI. Images without annotation are counted.

Strongest evidence ranks: boxes > labels (linear-probe accuracy) > label-free. Boxes rank only by a
cheap box score the validation study supports against detection-probe mAP@0.5 (``validated``); with
none supported the box scores are shown but do not rank, and the verdict says so. The report says
which evidence was used and why.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bbselect.errors import UsageError
from bbselect.inputs import annotations, labelfiles
from bbselect.inputs.images import upright_size
from bbselect.probes import labels
from bbselect.probes.logme import logme
from bbselect.scoring import boxscores, registry, roiscores, stability, stability_summary, stats, validated
from bbselect.scoring.registry import SCORED_MAPS as BOX_MAPS
from bbselect.scoring.registry import ScoreSpec

# ---------------------------------------------------------------- inputs

def find_labels(images_dir: Path, rels: list[str], setting: str | None) -> tuple[dict | None, str]:
    """(rel -> class, how found); (None, why not) when there are no labels."""
    setting = (setting or "auto").strip()
    if setting.lower() == "none":
        return None, "labels turned off (--labels none)"
    if setting.lower() == "auto":
        found = labelfiles.class_folders(images_dir, rels)
        if found is None:
            return None, "no class sub-folders (give --labels FILE.csv to use labels)"
        return found, f"class sub-folders ({len(set(found.values()))} classes)"
    table = labelfiles.labels_csv(Path(setting))
    found = {r: table[r] for r in rels if r in table}
    if len(set(found.values())) < 2:
        raise UsageError(f"--labels {setting}: fewer than two classes among the run's images")
    return found, f"{setting} ({len(found)} of {len(rels)} images labelled)"


def find_boxes(images_dir: Path, images: list[dict], setting: str | None):
    """A ``BoxSet`` or None. ``auto`` finding nothing is not an error; an explicit PATH is."""
    setting = (setting or "auto").strip()
    if setting.lower() == "none":
        return None
    disk = annotations.disk_rels(images_dir, images)  # names with non-UTF-8 bytes: found as spelt on disk
    rels = list(disk.values())
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
            sizes[disk[im["rel"]]] = upright_size(Path(im["path"]))
        except OSError:
            continue
    fmt, coco_file = found
    return annotations.rekeyed(annotations.load_boxes(images_dir, rels, sizes, source=coco_file or source, fmt=fmt),
                               {d: r for r, d in disk.items()})


def stability_wanted(setting: str, images_dir: Path, rels: list[str], labels_setting: str | None,
                     boxes_setting: str | None, k: int = stability.DEFAULT_K) -> tuple[bool, str, str | None]:
    """Whether to make augmented views for neighbourhood stability, why (``--stability``), and, when it
    is off only because the score is not defined for so few images, that reason (else None).

    ``auto``: on when there are no labels and no boxes (then stability is what the verdict rests on),
    and the folder (``rels``: all of it, so every shard agrees) has enough images for the score to be
    defined: a second forward pass per image for a score that cannot be computed would be wasted."""
    if setting == "off":
        return False, "turned off (--stability off)", None
    if setting == "on":
        return True, "turned on (--stability on)", None
    classes, _ = find_labels(images_dir, rels, labels_setting)
    counts = np.unique(list((classes or {}).values()), return_counts=True)[1]
    if (counts >= 2).sum() >= 2:  # labels a probe can score (a class of one image is left out)
        return False, "class labels were found, so the verdict rests on them (--stability on computes it too)", None
    b = (boxes_setting or "auto").strip()
    if b.lower() != "none" and (b.lower() != "auto" or annotations.detect_format(images_dir, rels, None)):
        return False, "box annotations were found, so the verdict rests on them (--stability on computes it too)", None
    too_few = stability.undefined_reason(len(rels), k)
    if too_few:
        return False, f"{too_few}; so no augmented views were made (--stability on makes them anyway)", too_few
    return True, "no labels and no boxes: the label-free verdict rests on it", None


# ---------------------------------------------------------------- scores

def label_scores(features: np.ndarray, classes: list[str], seed: int = 0) -> dict:
    """Probe, kNN and LogME on the labelled images. A class with a single image cannot be
    cross-validated: its images are left out (``left_out`` says which) when two classes of two images
    remain; otherwise every score is NaN with the reason."""
    classes = np.asarray(classes)
    names, counts = np.unique(classes, return_counts=True)
    single, left_out = names[counts < 2], None
    if single.size and (counts >= 2).sum() >= 2:
        keep = ~np.isin(classes, single)
        features, classes = np.asarray(features)[keep], classes[keep]
        shown = ", ".join(str(c) for c in single[:5]) + (" ..." if single.size > 5 else "")
        left_out = (f"left out {single.size} class(es) with a single image ({shown}): cross-validation needs "
                    f"at least 2 images per class")
    probe = labels.probe_scores(features, classes, seed=seed)
    try:
        lm = logme(features, np.asarray(classes))
    except (ValueError, np.linalg.LinAlgError):
        lm = float("nan")
    keep = ("mean", "lo", "hi", "reason")
    return {
        "n": probe["n"], "n_classes": probe["n_classes"], "chance": probe["chance"],
        "logme": lm,
        "linear_probe": {**{k: probe["linear_probe"].get(k) for k in (*keep, "C", "correct")},
                         "n": probe["n"]},
        "knn": {**{k: probe["knn"].get(k) for k in keep}, "n": probe["n"]},
        "reason": probe.get("reason"),
        "left_out": left_out,
    }


def labels_outcome(how: str, entries: list[dict]) -> str:
    """``find_labels``' description with what became of the labels: classes left out, or why no label
    score could be computed (then the ranking falls back and ``choose_primary`` says why)."""
    lab = next((e["labels"] for e in entries if e.get("labels")), None)
    if lab is None:
        return how
    if lab.get("reason"):
        return f"{how}; not scored: {lab['reason']}"
    return f"{how}; {lab['left_out']}" if lab.get("left_out") else how


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
        "maps": {k: {n: stats.summarize(v) for n, v in d.items()} for k, d in per.items()},
        "auroc": stats.summarize(auroc_mean),
    }


# ---------------------------------------------------------------- which evidence ranks

def ranked_by(entries: list[dict], study: dict | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """The ranking order for these entries, and a note when boxes exist but may not rank.

    Boxes rank only through a score the validation study supports (``validated.box_choice``)."""
    study = validated.load() if study is None else study
    ranked = registry.ranking_order()
    last = ranked[-1][0]  # the last resort always stays, marked unsupported when it is
    order = [(n, w) for n, w in ranked
             if registry.get(n).tier != "label-free" or n == last or validated.label_free(n, study)["supported"]]
    n_det = sum(1 for n, _ in order if registry.get(n).tier == "detection")
    if any(np.isfinite(registry.value(e, n)) for e in entries for n, _ in order[:n_det]):
        return order, None  # the detection probe ran: it ranks
    has_boxes = any(np.isfinite(registry.value(e, n)) for e in entries for n in registry.names(tier="boxes"))
    choice = validated.box_choice(entries, study) if has_boxes else None
    if choice is not None:
        title = registry.get(choice["name"]).title
        order.insert(n_det, (choice["name"], f"box annotations were found and the detection probe did not run; "
                         f"{title} is the cheap box score bbselect's validation study supports best against "
                         f"detection-probe mAP@0.5 ({validated.tau_text(choice)}; docs/validation.md)"))
        return order, None
    note = ("box annotations were found, but no cheap box score is supported by bbselect's validation study "
            "against a trained detector (docs/validation.md), so the box scores are shown and do not rank"
            if has_boxes else None)
    return order, note


def choose_primary(entries: list[dict], study: dict | None = None) -> dict:
    """Set ``entry["primary"]`` (metric name and summary) on every backbone; return what was used.

    ``study``: the validation study's verdict (default: ``validated.load()``)."""
    study = validated.load() if study is None else study
    order, note = ranked_by(entries, study)
    skipped = []  # would have ranked, but no backbone has a value for them here
    for name, why in order:  # noqa: B007 - the loop stops at the score used; why is read after it
        spec = registry.get(name)
        if name == order[-1][0] or any(np.isfinite(registry.value(e, name)) for e in entries):
            break
        skipped.append(spec)
    dropped = next((e["labels"]["reason"] for e in entries if (e.get("labels") or {}).get("reason")), None)
    if dropped and spec.tier == "label-free":  # labels were given, but no label score exists
        why = why.replace("no labels or boxes were given", f"class labels were found but cannot be scored ({dropped})")
    used = {"evidence": spec.tier, "score": name, "metric": spec.title, "why": why, "supported": supported(spec, study)}
    missed = [s for s in skipped if s.tier == "label-free"]
    if not used["supported"] and missed:
        used["unsupported"] = missing_sentence(missed[0], entries)
    if note:
        used["note"] = note
    if name in roiscores.NAMES:
        used["limits"] = roiscores.LIMITS
    if spec.tier == "detection" and (ft := validated.finetune_text(study)):
        used["finetune"] = ft
    if name == "stability":
        used["how_sure"] = stability_summary.how_sure(validated.label_free("stability", study)["tau"])
    for e in entries:
        e["primary"] = {"metric": spec.title, "higher_is_better": spec.higher_is_better, **_summary_at(e, spec)}
    if name in roiscores.NAMES:
        roiscores.add_intervals(entries, name)
    return used


def missing_sentence(spec, entries: list[dict]) -> str:
    """Why a run ranks by an unsupported score although the study supports ``spec``: it could not be
    computed here (too few images, turned off, ...), with the first clause of the run's own reason."""
    reason = next((r for e in entries if (r := _summary_at(e, spec).get("reason"))), "it was not computed in this run; see --stability")
    return (f"UNVALIDATED: {spec.title}, the label-free score bbselect's validation study supports, could "
            f"not be computed here ({reason.split(':')[0]}); this order rests on a score the study does not "
            f"support, so it describes the maps and is not evidence; give more images, labels (class "
            f"folders) or boxes for a verdict")


def supported(spec, study: dict) -> bool:
    """Whether the evidence that ranks is earned: a trained probe on the user's own labels or boxes is
    (it is the ground truth itself); a cheap box score ranks only when the study supports it; a
    label-free score only when ``validated.json`` says the study supports it (``separation``, the
    last resort, never has been)."""
    if spec.tier in ("detection", "labels", "boxes"):
        return True
    return validated.label_free(spec.name, study)["supported"]


def _summary_at(entry: dict, spec) -> dict:
    """The score's summary dict; a bare number (the cheap box scores have no interval) becomes its mean."""
    entry = registry.at(entry, spec)
    if isinstance(entry, dict):
        return entry
    v = float(entry) if isinstance(entry, (int, float)) else math.nan
    return {"mean": v, "lo": math.nan, "hi": math.nan}


def label_section(inputs) -> dict:
    """The ``labels`` section of a backbone entry: ``label_scores`` of its labelled images."""
    return label_scores(*inputs.labelled)


def box_section(inputs) -> dict:
    """The ``boxes`` section of a backbone entry: ``box_scores`` of its maps of images with boxes."""
    return box_scores(inputs.box_maps, inputs.boxes, inputs.rel_of)


# ---------------------------------------------------------------- registry entries (``ranks``: why it may rank)

_LABELS = {"needs": ("labels",), "compute": label_section}

registry.register(ScoreSpec(
    name="linear_probe", title="linear-probe accuracy", tier="labels", range=(0.0, 1.0),
    path=("labels", "linear_probe"), fn=labels.probe_scores, **_LABELS,
    ranks="class labels were found (no boxes): how well a linear classifier on the pooled features separates "
          "your classes is the best available evidence",
    doc="Out-of-fold accuracy of a logistic-regression probe on the pooled features (5-fold stratified CV).",
    method="Linear-probe accuracy: out-of-fold accuracy of a logistic regression on the "
           "pooled features, with a 95% Wilson interval.",
))
registry.register(ScoreSpec(
    name="knn", title="kNN accuracy", tier="labels", range=(0.0, 1.0), path=("labels", "knn"), fn=labels.probe_scores,
    **_LABELS,
    doc="Out-of-fold accuracy of a k-nearest-neighbour classifier on the standardised pooled features.",
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="logme", title="LogME", tier="labels", path=("labels", "logme"), fn=logme, **_LABELS, kind="logme",
    studied=("validation", "zoo"),
    doc="LogME (You et al., ICML 2021): the maximised Bayesian evidence of a linear model from pooled features "
        "to the labels, per image; comparable between backbones on the same images and labels only.",
))
registry.register(ScoreSpec(
    name="box_auroc", title="box AUROC", tier="boxes", range=(0.0, 1.0), path=("boxes", "auroc"), fn=box_scores,
    needs=("boxes",), compute=box_section,  # ranks only through the study's choice (ranked_by): no ``ranks``
    doc="Per image, the AUROC of map values against the box mask (mean of the max and mean maps).",
    method="Box AUROC: per image, the AUROC of map values against the box mask (mean of the max and "
           "mean maps); its mean over annotated images with a 95% bootstrap interval.", studied=("validation",),
))
