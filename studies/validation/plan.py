"""What the within-family study measures: its data sets, configurations and the scores it tests.

The scores come from the score registry (``bbselect.scoring.registry``): every spec whose ``studied``
names this study (``STUDY``), in the tiers each part asks about, per-map scores on the maps that part
scores, under the registry's gate-metric names (``max.otsu``, ``mean.mass_ratio``).  What the study
also evaluates but bbselect does not register is named once here (``BASELINES``); the ground truths
(``TRUTH``, ``BOX_TRUTH``) are row keys, not scores.
"""

from __future__ import annotations

from bbselect.scoring import registry

STUDY = "validation"
WEIGHTS_FILE = "weights/keras/mobilenet_2_5_224_tf_no_top.h5"
MOBILENET = "mobilenet:alpha=0.25"
DATASETS = ("trashnet", "magnetic-tile-defects")
CASCADE_KS = (1, 2, 4, 8)

# labels part: ground truth linear-probe accuracy (row key), scores of these tiers on both collapsed maps
TRUTH = "probe"
LABEL_TIERS = ("label-free", "health", "map", "labels")
LABEL_MAPS = registry.SCORED_MAPS

# box part: ground truth detection-probe mAP@0.5 (row key); per-map box scores on the mean map
BOX_TRUTH = "map50"
BOX_TIERS = ("boxes", "health", "label-free")
BOX_MAPS = ("mean",)
BOX_DATASETS = {
    # name: (image folder, --boxes setting relative to the data set folder or "auto")
    "raccoon": ("images", "annotations"),
    "coco128": (".", "auto"),
}
# Data sets whose ground truth is class-agnostic (every box labelled "object"): with 128 images for 71
# classes the per-class probe sat at mAP@0.5 0.000-0.002 for every pretrained configuration tried (a
# first run of this study), a floor that ranks nothing.  One class asks what the stride and features
# can find, which is what a detector's backbone must supply.
CLASS_AGNOSTIC = {"coco128"}
# The detection probe as the study trains it: bbselect's head and folds, 20 epochs instead of 40, and
# no c3 (stride 8: 28x28 cells at 224, 40x40 at 320): on 2 shared cores one probe took ~55 s at c5/224
# with 40 epochs and a random c3/224 configuration 423 s in all, which breaks the 30-minute budget.
STUDY_PROBE = {"epochs": 20}
PRIOR_SIZES = (224,)  # prior-only baselines at input 224 (one per stage), the size every family shares

# evaluated like a score, but not a registered one
BASELINES = {"pooled_logme": "pooled LogME (baseline: global-average features vs each image's most "
                             "frequent class)"}


def _names(tiers: tuple[str, ...], maps: tuple[str, ...]) -> list[str]:
    out = []
    for tier in tiers:
        for spec in registry.specs(tier):
            if STUDY in spec.studied:
                out += [f"{m}.{spec.name}" for m in maps] if spec.per_map else [spec.name]
    return out


def label_scores() -> list[str]:
    """The labels part's scores: label-free first, label-aware (tier ``labels``) last."""
    return _names(LABEL_TIERS, LABEL_MAPS)


def label_free() -> list[str]:
    return [k for k in label_scores() if spec_of(k).tier != "labels"]


def label_aware() -> list[str]:
    return [k for k in label_scores() if spec_of(k).tier == "labels"]


def box_scores() -> list[str]:
    """The box part's scores: registered ones, then the baselines."""
    return _names(BOX_TIERS, BOX_MAPS) + list(BASELINES)


def spec_of(key: str) -> registry.ScoreSpec | None:
    """The registered spec behind a study key (``max.otsu`` -> ``otsu``); None for a baseline."""
    return None if key in BASELINES else registry.get(key.rpartition(".")[2])


def direction(key: str) -> int:
    """+1 when bbselect treats a higher value as better, -1 when lower (the registry's direction;
    baselines are higher-is-better)."""
    return 1 if registry.higher_is_better(key) else -1


def heading(key: str) -> str:
    """How tables name a score: its registry name, ``(↓)`` when lower is better; a baseline's own words."""
    if key in BASELINES:
        return BASELINES[key].split(" (")[0]
    return key + (" (↓)" if direction(key) < 0 else "")


def label_groups(quick: bool, weights_file: str) -> list[dict]:
    """Groups of backbones that share one ``compare`` call (same weights, seed and input size)."""
    stages = ("c3", "c4", "c5")
    sizes = (128,) if quick else (128, 224)
    seeds = (0,) if quick else (0, 1, 2)
    groups = [{"kind": "real", "weights": weights_file, "seed": 0, "size": size,
               "backbones": [f"{MOBILENET},layer={s}" for s in stages]} for size in sizes]
    for seed in seeds:
        for size in sizes:
            groups.append({"kind": "random", "weights": "none", "seed": seed, "size": size,
                           "backbones": [f"{MOBILENET},layer={s}" for s in stages]})
    if not quick:
        groups.append({"kind": "random", "weights": "none", "seed": 0, "size": 128,
                       "backbones": [f"{n}:layer={s}" for n in ("resnet50", "mobilenetv2") for s in ("c4", "c5")]})
    # cascading randomisation of the real MobileNet: k blocks up to the tapped layer re-initialised
    groups += [{"kind": "cascade", "weights": None, "base": weights_file, "cascade": (s, k), "seed": 0,
                "size": 224, "backbones": [f"{MOBILENET},layer={s}"]}
               for s in ("c5",) for k in ((8,) if quick else CASCADE_KS)]
    return groups


def box_configs(quick: bool, weights_file: str) -> list[dict]:
    """One dict per box configuration: kind (real / cascade / random), backbone text, weights, size, seed."""
    sizes = (224,) if quick else (160, 224, 320)
    stages = ("c5",) if quick else ("c4", "c5")
    out = [{"kind": "real", "backbone": f"{MOBILENET},layer={s}", "stage": s, "weights": weights_file,
            "size": z, "seed": 0, "k": 0} for z in sizes for s in stages]
    for k in ((8,) if quick else CASCADE_KS):
        out.append({"kind": "cascade", "backbone": f"{MOBILENET},layer=c5", "stage": "c5", "weights": None,
                    "size": 224, "seed": 0, "k": k})
    for s in stages:  # random-init controls
        out.append({"kind": "random", "backbone": f"{MOBILENET},layer={s}", "stage": s, "weights": "none",
                    "size": 224, "seed": 0, "k": None})
    return out
