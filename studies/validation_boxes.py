"""The box part of the validation study: do cheap scores predict a detector's accuracy on real boxes?

Run through ``studies/validation_study.py`` (``--part boxes`` or ``all``); this module holds the
box-specific measuring and tables so that the classification part stays readable.

Per data set (``../shared/data/boxes/raccoon``: 200 photos, Pascal VOC, one class, large objects;
``coco128``: 128 COCO photos, YOLO, 71 classes, small objects) and per configuration, one forward
pass gives the full [h, w, C] tensor of the tapped layer for every image (letterboxed, cropped to
the image content as bbselect's engine does).  From it:

* ground truth: the detection probe's mAP@0.5 (``bbselect.probes.detection``: a small head trained
  on the frozen features, k-fold by image, COCOeval), and its prior-only baseline;
* cheap scores: ROI-LogME and TLogME (``bbselect.probes.roilogme``), the dense objectness probe's
  AUROC and its gain over the position prior (``bbselect.probes.objectness``), pooled LogME
  (global-average features vs each image's most frequent class; NaN when every image has the same
  class, as on raccoon), the map-vs-box scores (AUROC of the max/mean maps, mass ratio and pointing
  game of the mean map; ``bbselect.scoring.boxscores``), effective rank and dead fraction of the pooled
  channels, and ``separation`` (``bbselect.scoring``), all as bbselect computes them.

Configurations: the pretrained MobileNet v1 α0.25 (the 224 file, passed by path at every size) at
c4/c5 × input 160/224/320 (c3: see ``STUDY_PROBE``); its cascading randomisation (``studies/cascade.py``) at c4 and c5,
input 224, k = 1, 2, 4, 8 re-initialised blocks; random-init controls.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from bbselect.common import finite
from bbselect.scoring.detection import FLOOR

BOX_DATASETS = {
    # name: (image folder, --boxes setting relative to the data set folder or "auto")
    "raccoon": ("images", "annotations"),
    "coco128": (".", "auto"),
}
# Data sets whose ground truth is class-agnostic (every box labelled "object"): with 128 images for 71
# classes the per-class probe sat at mAP@0.5 0.000-0.002 for every pretrained configuration tried (a
# first run of this study), a floor that ranks nothing.  One class asks what the stride and features
# can find, which is what a detector's backbone must supply; the class-aware probe still runs in
# ``bbselect compare`` on coco128 and reports that floor.
CLASS_AGNOSTIC = {"coco128"}

# (key, heading); directions come from bbselect's score registry (validation_study.direction)
BOX_SCORES = [
    ("roi_logme", "ROI-LogME"),
    ("tlogme", "TLogME"),
    ("objectness", "objectness probe AUROC"),
    ("objectness_gain", "objectness gain over prior"),
    ("pooled_logme", "pooled LogME"),
    ("map_auroc", "map AUROC"),
    ("mass_ratio", "mass ratio (mean map)"),
    ("pointing", "pointing game (mean map)"),
    ("effective_rank", "effective_rank"),
    ("dead_fraction", "dead_fraction (↓)"),
    ("separation", "separation"),
    ("stability", "neighbourhood stability"),
    ("retrieval", "augmentation retrieval"),
]
TRUTH = "map50"


# The detection probe as the study trains it: bbselect's head and folds, 20 epochs instead of 40, and
# no c3 (stride 8: 28x28 cells at 224, 40x40 at 320): on 2 shared cores one probe took ~55 s at c5/224
# with 40 epochs and a random c3/224 configuration 423 s in all, which breaks the 30-minute budget.
# Measured in a first (interrupted) run: on coco128 (71 classes, median box 1.1 % of the image) this probe
# reached mAP@0.5 0.000-0.002 for the pretrained c4/160, c5/160 and c4/224 configurations; the full run
# took ~15 min for raccoon alone and ~2 min per coco128 configuration (--box-datasets to choose).
STUDY_PROBE = {"epochs": 20}
# prior-only baselines: at input 224 (one per stage), the size every family shares
PRIOR_SIZES = (224,)


def plan_boxes(quick: bool, weights_file: str) -> list[dict]:
    """One dict per configuration: kind (real / cascade / random), backbone text, weights, size, seed."""
    mob = "mobilenet:alpha=0.25"
    sizes = (224,) if quick else (160, 224, 320)
    stages = ("c5",) if quick else ("c4", "c5")
    out = [{"kind": "real", "backbone": f"{mob},layer={s}", "stage": s, "weights": weights_file,
            "size": z, "seed": 0, "k": 0} for z in sizes for s in stages]
    for k in ((8,) if quick else (1, 2, 4, 8)):
        out.append({"kind": "cascade", "backbone": f"{mob},layer=c5", "stage": "c5", "weights": None,
                    "size": 224, "seed": 0, "k": k})
    # random-init controls
    for s in (("c5",) if quick else ("c4", "c5")):
        out.append({"kind": "random", "backbone": f"{mob},layer={s}", "stage": s, "weights": "none",
                    "size": 224, "seed": 0, "k": None})
    return out


def load_box_data(root: Path) -> dict:
    """Images (sorted) and their boxes, read by bbselect's own loaders."""
    from bbselect.inputs import images as imgs
    from bbselect.scoring import evidence

    sub, setting = BOX_DATASETS[root.name]
    images_dir = (root / sub).resolve()
    refs, _skipped = imgs.discover_images(images_dir)
    images = [{"rel": r.rel, "path": str(r.path), "id": imgs.image_id(r.rel)} for r in refs]
    boxset = evidence.find_boxes(images_dir, images, setting if setting == "auto" else str(root / setting))
    if boxset is None:
        raise SystemExit(f"{root}: no boxes found")
    if root.name in CLASS_AGNOSTIC:
        boxset.boxes = {rel: [b._replace(label="object") for b in bs] for rel, bs in boxset.boxes.items()}
    return {"name": root.name, "images_dir": images_dir, "refs": refs, "images": images, "boxes": boxset}


def extract(data: dict, cfg: dict, weights: str) -> dict:
    """The tapped layer's [h_i, w_i, C] features of every image (cropped to content), one pass; and the
    pooled features of one augmented view per image (bbselect's own views: seed 0, view 0), for
    neighbourhood stability and augmentation retrieval."""
    from bbselect.inputs import augment
    from bbselect.inputs import decode as dec
    from bbselect.inputs import images as imgs
    from bbselect.models import runtime
    from bbselect.models.selection import parse_selection
    from bbselect.models.stages import resolve_layer
    from bbselect.models.weights import build_backbone

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
    from bbselect.probes import logme as lm
    from bbselect.probes import objectness, roilogme
    from bbselect.scoring import boxscores, evidence, mapscores, stability, stats
    from bbselect.scoring.ranking import separation

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
        "stability": st["stability"], "retrieval": st["retrieval"],
        **{k: roi[k] for k in roilogme.ROI_SCORE_NAMES}, "n_objects": roi["n_objects"],
        "n_background": roi["n_background"],
        "objectness": obj["auroc"], "objectness_prior": obj["auroc_prior"], "objectness_gain": obj["gain"],
        "pooled_logme": pooled,
        "map_auroc": bs["auroc"]["mean"],
        "mass_ratio": bs["maps"]["mean"]["mass_ratio"]["mean"],
        "pointing": bs["maps"]["mean"]["pointing"]["mean"],
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
    row.update({TRUTH: gt["map50"], "map50_lo": gt.get("lo", math.nan), "map50_hi": gt.get("hi", math.nan),
                "map50_prior": gt.get("prior", math.nan), "resolvable": gt.get("resolvable", math.nan)})
    row["seconds"] = {"forward": t1 - t0, "cheap": t2 - t1, "probe": time.perf_counter() - t2}
    return row


# --------------------------------------------------------------------------
# statistics and tables (the rule is the classification study's: see ``supported_boxes``)
# --------------------------------------------------------------------------

HEADING = dict(BOX_SCORES)


def direction(key: str) -> int:
    from validation_study import direction as registered

    return registered(key)


def is_box_score(key: str) -> bool:
    """Whether bbselect registers this study key as a box-tier score (the ones a box verdict may use)."""
    from validation_study import REGISTRY_NAME

    from bbselect.errors import UsageError
    from bbselect.scoring import registry

    try:
        return registry.get(REGISTRY_NAME.get(key, key)).tier == "boxes"
    except UsageError:
        return False


def above_degraded(rows: list[dict], key: str) -> dict:
    """Share of (pretrained, degraded) pairs the score orders pretrained first (ties 0.5, NaN last);
    degraded = cascading-randomised or random-init; also over cascade pairs of the same stage only."""
    from validation_study import above

    d = direction(key)
    real = [r for r in rows if r["kind"] == "real"]
    deg = [r for r in rows if r["kind"] in ("cascade", "random")]
    allp = [above(a[key], b[key], d) for a in real for b in deg]
    casc = [above(a[key], b[key], d) for a in real for b in deg
            if b["kind"] == "cascade" and b["stage"] == a["stage"] and b["size"] == a["size"]]
    return {"all": sum(allp) / len(allp) if allp else math.nan, "n_all": len(allp),
            "cascade": sum(casc) / len(casc) if casc else math.nan, "n_cascade": len(casc)}


def analyse_boxes(rows: list[dict]) -> dict:
    from validation_study import kendall

    out = {}
    for ds in [d for d in BOX_DATASETS if any(r["dataset"] == d for r in rows)]:
        sub = [r for r in rows if r["dataset"] == ds]
        nonrandom = [r for r in sub if r["kind"] != "random"]
        keys = [k for k, _ in BOX_SCORES] + [TRUTH]
        top = max((r[TRUTH] for r in sub if finite(r[TRUTH])), default=math.nan)
        out[ds] = {
            "n_configs": len(sub), "n_nonrandom": len(nonrandom),
            "top": top, "floor": not (finite(top) and top >= FLOOR),
            "tau": {k: kendall(sub, k, truth=TRUTH, direction=direction(k)) for k, _ in BOX_SCORES},
            "tau_nonrandom": {k: kendall(nonrandom, k, truth=TRUTH, direction=direction(k))
                              for k, _ in BOX_SCORES},
            "above": {k: above_degraded(sub, k) for k in keys},
        }
    return out


def counted(res: dict) -> list[str]:
    """The box data sets whose ground truth is above its floor (the ones the rule is applied on): a data
    set whose best configuration stays below bbselect's probe floor (``scoring.detection.FLOOR``) has a
    ground truth at its floor; the probe finds nothing from any features, so its τ is noise and it can
    neither support nor refute a score."""
    return [ds for ds in res if not res[ds].get("floor")]


def supported_boxes(res: dict, key: str) -> bool:
    """The study's rule, on every box data set above its floor (``counted``): tau > 0 with p < 0.05 over
    all configurations with a finite score AND pretrained ordered above the degraded configurations in
    >= 80 % of pairs.  No data set above its floor: nothing is supported."""
    from bbselect.scoring import validated

    def ok(ds):
        return validated.predicts(res[ds]["tau"][key]) and validated.separates(res[ds]["above"][key]["all"])
    dss = counted(res)
    return bool(dss) and all(ok(ds) for ds in dss)


def support_json(res: dict) -> dict:
    """Machine-readable verdict for ``bbselect.scoring.evidence``: per score, supported or not, with tau."""
    return {k: {"supported": supported_boxes(res, k), "counted": counted(res),
                "tau": {ds: res[ds]["tau"][k]["tau"] for ds in res},
                "p": {ds: res[ds]["tau"][k]["p"] for ds in res},
                "tau_nonrandom": {ds: res[ds]["tau_nonrandom"][k]["tau"] for ds in res},
                "above_degraded": {ds: res[ds]["above"][k]["all"] for ds in res}}
            for k, _ in BOX_SCORES}


def fmt_fixed(v, nd=2) -> str:
    """A statistic with ``nd`` decimals, ``NaN`` when missing (both study scripts' tables)."""
    return "NaN" if not finite(v) else f"{v:.{nd}f}"


def fmt_p(v) -> str:
    """A p-value: three decimals, scientific below 1e-3, ``–`` when missing."""
    if not finite(v):
        return "–"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def tau_table(res: dict, ds: str) -> str:
    r = res[ds]
    lines = ["| score | τ vs mAP@0.5 | p | n | τ (non-random) | p | n | pretrained > degraded (all pairs) "
             "| pretrained > cascade (same stage) | supported (data sets above floor) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for k, h in BOX_SCORES:
        t, tn, a = r["tau"][k], r["tau_nonrandom"][k], r["above"][k]
        lines.append(f"| {h} | **{fmt_fixed(t['tau'])}** | {fmt_p(t['p'])} | {t['n']} | {fmt_fixed(tn['tau'])} | {fmt_p(tn['p'])} "
                     f"| {tn['n']} | {fmt_fixed(a['all'])} | {fmt_fixed(a['cascade'])} | "
                     f"{'**yes**' if supported_boxes(res, k) else 'no'} |")
    a = r["above"][TRUTH]
    lines.append(f"| *mAP@0.5 (reference)* | 1 | – | – | 1 | – | – | {fmt_fixed(a['all'])} | {fmt_fixed(a['cascade'])} | |")
    return "\n".join(lines)


def config_name(r: dict) -> str:
    arch = {"mobilenet": "MobileNet α0.25", "resnet50": "ResNet50"}.get(r["backbone"].split(":")[0], r["backbone"])
    if r["kind"] == "real":
        return f"**pretrained** {arch} {r['stage']}"
    if r["kind"] == "cascade":
        return f"cascade k={r['k']} {arch} {r['stage']}"
    return f"random {arch} {r['stage']}"


def rows_table(rows: list[dict], ds: str) -> str:
    cols = ["roi_logme", "tlogme", "objectness", "objectness_prior", "pooled_logme", "map_auroc", "mass_ratio",
            "pointing", "effective_rank", "dead_fraction", "separation", "stability", "retrieval"]
    lines = ["| config | size | mAP@0.5 [95% CI] | prior-only mAP@0.5 | " + " | ".join(cols) + " |",
             "|---|---:|---|---:|" + "---:|" * len(cols)]
    sub = sorted((r for r in rows if r["dataset"] == ds),
                 key=lambda r: -r[TRUTH] if finite(r[TRUTH]) else 9)
    for r in sub:
        vals = [fmt_fixed(r.get(c), 1 if c == "effective_rank" else 3) for c in cols]
        lines.append(f"| {config_name(r)} | {r['size']} | {fmt_fixed(r[TRUTH], 3)} [{fmt_fixed(r['map50_lo'])}, "
                     f"{fmt_fixed(r['map50_hi'])}] | {fmt_fixed(r['map50_prior'], 3)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def print_boxes(res: dict) -> None:
    for ds in res:
        print(f"\n== {ds} (boxes): {res[ds]['n_configs']} configurations, ground truth detection-probe mAP@0.5 ==")
        print(f"{'score':28s} {'tau':>6s} {'p':>8s} {'n':>3s} {'tau_nr':>6s} {'p':>8s} {'n':>3s} "
              f"{'>degr':>6s} {'>casc':>6s} supported")
        for k, h in BOX_SCORES:
            t, tn, a = res[ds]["tau"][k], res[ds]["tau_nonrandom"][k], res[ds]["above"][k]
            print(f"{h:28s} {fmt_fixed(t['tau']):>6s} {fmt_p(t['p']):>8s} {t['n']:>3d} {fmt_fixed(tn['tau']):>6s} "
                  f"{fmt_p(tn['p']):>8s} {tn['n']:>3d} {fmt_fixed(a['all']):>6s} {fmt_fixed(a['cascade']):>6s} "
                  f"{'yes' if supported_boxes(res, k) else 'no'}")


BOX_HEADING = "## Boxes: do cheap scores predict a detector trained on the features?"


def replace_box_section(path: Path, parts: list[str], meta: dict) -> None:
    """Put the box section into an existing docs/validation.md (replacing an older one), for a run of
    the box part alone; the labels part's tables are left as they are."""
    from bbselect.scoring.validated import keep_blocks

    text = path.read_text() if path.is_file() else ""
    head = text.split(BOX_HEADING)[0].rstrip("\n")
    note = (f"*Box part generated by `{meta['command']}` in {meta['seconds'] / 60:.1f} min "
            f"({meta['seconds']:.0f} s wall, models, probes and scores included).*")
    path.write_text(keep_blocks(text, head + "\n\n" + "\n".join([parts[0], "", note, *parts[1:]]) + "\n"))


def box_doc(rows: list[dict], res: dict, meta: dict) -> list[str]:
    """The box section of docs/validation.md."""
    sup = [k for k, _ in BOX_SCORES if supported_boxes(res, k)]
    parts = [
        BOX_HEADING,
        "",
        "Ground truth: the **detection probe** (`bbselect.probes.detection`): a small anchor-free head "
        "trained on each configuration's frozen `[h, w, C]` features, k-fold by image, scored by "
        "pycocotools `COCOeval` as mAP@0.5 (95 % interval as the probe reports it), next to the same head "
        "on constant features (*prior-only*). Data: `../shared/data/boxes/raccoon` (200 photos, one class, "
        "large boxes; Pascal VOC) and `coco128` (128 COCO photos, 71 classes, small boxes; YOLO); images "
        "letterboxed; every score computed from the same forward pass. **coco128 is scored class-agnostic** "
        "(every box is one class, *object*): with 128 images for 71 classes the class-aware probe reached "
        "mAP@0.5 0.000–0.002 for every pretrained configuration in a first run, a floor that orders nothing; "
        "one class measures what the stride and the features can find.",
        "",
        "Configurations per data set:",
        "",
        "- **pretrained** MobileNet v1 α = 0.25, stages c4, c5 × input " +
        ("224" if meta.get("quick") else "160, 224, 320") + ". Keras wants a size-specific file for "
        "`weights=\"imagenet\"` at sizes other than 224, and only the 224 file exists here, so the study "
        "loads that file **by path** (`--weights PATH` semantics) at every size: the convolution weights "
        "do not depend on the input size, but the network was trained at 224, so 160 and 320 are "
        "off-size uses of the same weights;",
        "- **cascading randomisation** (Adebayo et al. 2018, \"Sanity checks for saliency maps\"): the same "
        "network with its last k blocks up to the tapped layer re-initialised, k = 1, 2, 4, 8, at "
        "c5 only, input 224 (`studies/cascade.py`: fresh Glorot kernels, batch-norm statistics re-estimated "
        "on 32 of the data set's images so the family is graded rather than dead);",
        "- **random-init** controls: MobileNet with `--weights none`, seed 0, c4 and c5, input 224.",
        "- **c3 is left out of the box part**: the probe's cost grows with the map (c3 is 28×28 cells at 224, "
        "40×40 at 320); one random c3/224 configuration took 423 s here, which alone would use a quarter "
        "of the study's 30-minute budget.",
        "",
        "The detection probe is bbselect's (same head, 5 folds by image, duplicates kept together) trained "
        f"for {STUDY_PROBE['epochs']} epochs instead of the default 40, so that the whole study fits its "
        "30-minute budget on this machine; its prior-only baseline is computed at input 224.",
        "",
        "Cheap scores: ROI-LogME (object vs background LogME on ROI-Align features; Fouquet et al. 2023, "
        "TLogME, and Wang et al. 2024, Det-LogME) and TLogME (mean of its classification and box-regression "
        "LogME terms); the dense linear **objectness probe** (logistic regression per feature-map cell, "
        "grouped 5-fold by image, AUROC) and its gain over the same probe on cell position alone; pooled "
        "LogME (global-average features vs each image's most frequent class; NaN on raccoon, where every "
        "image has the same class); the map-vs-box scores (AUROC of the max/mean maps, mass ratio and "
        "pointing game of the mean map); effective rank and dead fraction of the pooled channels; "
        "`separation`; neighbourhood stability and augmentation retrieval (one augmented view per image, "
        "bbselect's own views with seed 0, k = 10; label-free scores, so here they are asked whether they "
        "track a detector too).",
        "",
        "τ is Kendall's τ-b with mAP@0.5 over all configurations with a finite score, and over the "
        "non-random ones (pretrained + cascade). *pretrained > degraded*: share of (pretrained, cascade or "
        "random) pairs the score orders pretrained first (ties 0.5, NaN last); *pretrained > cascade*: "
        "the same against cascade configurations of the same stage only. **Rule** (as for labels): "
        "*supported* when, on **every** box data set whose ground truth is above its floor, τ > 0 with "
        f"p < 0.05 and pretrained > degraded ≥ 0.8. A data set is *at its floor* when no configuration "
        f"reaches mAP@0.5 {FLOOR}: the probe then finds nothing from any features, its τ is noise, and it "
        "can neither support nor refute a score (the page says so).",
        "",
    ]
    for ds in res:
        parts += [f"### {ds}", "", tau_table(res, ds), ""]
    for ds in res:
        top = max((r[TRUTH] for r in rows if r["dataset"] == ds and finite(r[TRUTH])), default=math.nan)
        if finite(top) and top < FLOOR:
            parts += [f"**{ds}: the ground truth is at its floor** (best mAP@0.5 {fmt_fixed(top, 3)}): this probe "
                      "cannot detect these objects from any configuration, so τ there says nothing.", ""]
    parts += ["### Verdict (boxes)", ""]
    if sup:
        dss = counted(res)
        ranking = [k for k in sup if is_box_score(k)]
        parts.append("Supported on " + ", ".join(dss) + " (the box data sets above their floor): " + ", ".join(
            f"`{HEADING[k]}` (τ " + " / ".join(fmt_fixed(res[ds]['tau'][k]['tau']) for ds in dss) + ")" for k in sup) + ".")
        if ranking:
            best = max(ranking, key=lambda k: min(res[ds]["tau"][k]["tau"] for ds in dss))
            parts.append(f"The strongest box score (highest τ on its worse counted data set) is `{HEADING[best]}`; "
                         "bbselect ranks by it when boxes exist but the detection probe did not run "
                         "(`--probe cheap`; `bbselect/scoring/validated.json`).")
        others = [k for k in sup if not is_box_score(k)]
        if others:
            parts.append("(" + ", ".join(f"`{HEADING[k]}`" for k in others) + " is not a box score: bbselect "
                         "never ranks boxes by it.)")
        if len(dss) < len(res):
            parts.append("This support rests on " + ", ".join(dss) + " alone (one class, large objects): weaker "
                         "than the rule intends, and the report quotes only its τ.")
    else:
        parts.append("**No cheap score is supported** on the box data sets above their floor ("
                     + (", ".join(counted(res)) or "none") + "); without the detection probe, "
                     "bbselect does not rank backbones by box scores.")
    not_sup = [k for k, _ in BOX_SCORES if k not in sup]
    parts += ["", "Not supported: " + ", ".join(f"`{HEADING[k]}`" for k in not_sup) + ".", ""]
    parts += ["### Per-configuration numbers (boxes)", ""]
    for ds in res:
        parts += [f"#### {ds}", "", rows_table(rows, ds), ""]
    return parts


# --------------------------------------------------------------------------
# ground truth: the detection probe
# --------------------------------------------------------------------------

_PRIOR_CACHE: dict = {}


def probe_inputs(data: dict, ex: dict):
    """The detection probe's images (``bbselect.probes.study.probe_images``), duplicates grouped by digest."""
    from bbselect.common import file_digest
    from bbselect.probes.study import probe_images
    from bbselect.scoring.evidence import upright_size

    if "sizes" not in data:
        data["sizes"] = {r.rel: upright_size(r.path) for r in data["refs"]}
        data["digest"] = {r.rel: file_digest(r.path) for r in data["refs"]}
    return probe_images(ex["rels"], data["boxes"].boxes, data["sizes"], dict(zip(ex["rels"], ex["valid"])),
                        ex["size"], groups=data["digest"])


def _map50(features: np.ndarray, pi, data: dict, size: int, seed: int, n_boot: int) -> dict:
    from bbselect.probes import cocometrics, detection

    res = detection.run_probe(features, pi.boxes, pi.classes, len(pi.class_names), size,
                              detection.ProbeConfig(seed=seed, **STUDY_PROBE), groups=pi.groups)
    gt_px = [cocometrics.to_image_pixels(b, g) for b, g in zip(pi.boxes, pi.geoms)]
    gt = cocometrics.coco_ground_truth(gt_px, pi.classes, pi.geoms, pi.class_names)
    ev = cocometrics.evaluate(gt, cocometrics.coco_detections(res.detections, pi.geoms))
    bs = cocometrics.bootstrap(ev, n_boot=n_boot, seed=seed)
    return {"map50": bs["map50"], "lo": bs["map50_ci"][0], "hi": bs["map50_ci"][1], "seconds": res.seconds}


def ground_truth(data: dict, ex: dict, seed: int = 0, n_boot: int = 200) -> dict:
    """Detection-probe mAP@0.5 with its image-bootstrap interval, and the prior-only baseline (the
    same head on constant features, computed once per data set and map size)."""
    from bbselect.probes import detection

    feats = np.stack(ex["feats"])
    pi = probe_inputs(data, ex)
    out = _map50(feats, pi, data, ex["size"], seed, n_boot)
    key = (data["name"], ex["size"], feats.shape[1:3])
    if key not in _PRIOR_CACHE and ex["size"] in PRIOR_SIZES:
        _PRIOR_CACHE[key] = _map50(detection.prior_features(feats), pi, data, ex["size"], seed, n_boot)["map50"]
    out["prior"] = _PRIOR_CACHE.get(key, math.nan)
    ok, total = detection.resolvable(pi.boxes, feats.shape[1:3], ex["size"])
    out["resolvable"] = ok / total if total else math.nan
    return out
