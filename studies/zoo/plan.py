"""What the cross-family study measures: its networks, data sets and the estimators it tests.

The scores are the score registry's (``bbselect.scoring.registry``) whose ``studied`` names this study
(``STUDY``): on the labelled data sets those of the tiers in ``LABEL_TIERS``, on the box data set those
in ``BOX_TIERS``; a score's rule is applied on the data sets of its tier (``rule_datasets``).  The static
priors are not registered scores: they are named once here (``PRIORS``), the ImageNet-top-1 prior first.
"""

from __future__ import annotations

from pathlib import Path

from bbselect.scoring import registry
from studies.zoo import networks

STUDY = "zoo"
LABEL_SETS = ("trashnet", "magnetic-tile-defects")
BOX_SET = "raccoon"
LABEL_TIERS = ("label-free", "health", "labels")
BOX_TIERS = ("label-free", "health", "boxes")
PROBE = {"epochs": 20}  # the within-family box study's schedule (studies.validation.plan.STUDY_PROBE)
RANDOM_NETS = (("mobilenetv2_1.0", 0), ("mobilenetv3small_1.0", 0))
CASCADE_KS = (1, 4, 8)  # the box study's k = 2 left out: the raccoon probes are the budget
QUICK_NETS = ("mobilenet_v1_0.25", "squeezenet_v1_1", "efficientnet_lite0", "vgg16_hed_edges")
QUICK_IMAGES = 60
# row key -> heading: the static priors, evaluated like scores (bigger = better)
PRIORS = {"top1": "ImageNet top-1 (prior)", "params": "parameters (prior: bigger)",
          "gflops": "GFLOPs (prior: bigger)"}
TOP1 = "top1"


def _studied(tiers: tuple[str, ...]) -> list[str]:
    return [s.name for t in tiers for s in registry.specs(t, per_map=False) if STUDY in s.studied]


def scores() -> list[str]:
    """Every score the study tests (label-free and health first, then label-aware, then box scores)."""
    return list(dict.fromkeys(_studied(LABEL_TIERS) + _studied(BOX_TIERS)))


def label_free() -> list[str]:
    """The scores that need neither labels nor boxes (their random-init level is recorded)."""
    return _studied(("label-free", "health"))


def estimators(ds: str) -> list[str]:
    """The priors and the scores of one data set's tiers."""
    return [*PRIORS, *_studied(BOX_TIERS if ds == BOX_SET else LABEL_TIERS)]


def rule_datasets(key: str) -> tuple[str, ...]:
    """The data sets a score's rule is applied on: box scores on the box set, the others on the labelled ones."""
    return (BOX_SET,) if registry.get(key).tier == "boxes" else LABEL_SETS


def direction(key: str) -> int:
    return 1 if key in PRIORS or registry.higher_is_better(key) else -1


def heading(key: str) -> str:
    return PRIORS.get(key, key)


def configs(shared: Path, quick: bool) -> list[dict]:
    """One dict per network to load: id, net (zoo name), family, kind, stages, seed, k, top1 (the
    documented ImageNet top-1 a static prior reads for this architecture; for the ImageNet networks the
    value documented for these very weights)."""
    z = networks.entries(shared)
    out = []
    for name, e in z.items():
        if quick and name not in QUICK_NETS:
            continue
        kind = "imagenet" if e["role"] == "imagenet" else "off-task"
        top = e["imagenet_top1"] if kind == "imagenet" else networks.architecture_top1(name)
        out.append({"id": name, "net": name, "family": e["family"], "kind": kind, "stages": networks.stages_of(name),
                    "seed": None, "k": None, "top1": top})
    for name, seed in RANDOM_NETS[1:] if quick else RANDOM_NETS:
        out.append({"id": f"random_{name}_s{seed}", "net": name, "family": z[name]["family"], "kind": "random",
                    "stages": networks.stages_of(name), "seed": seed, "k": None,
                    "top1": networks.architecture_top1(name)})
    for k in ((8,) if quick else CASCADE_KS):
        out.append({"id": f"cascade_k{k}", "net": "mobilenet_v1_0.25", "family": "MobileNet v1", "kind": "cascade",
                    "stages": ("c5",), "seed": None, "k": k, "top1": z["mobilenet_v1_0.25"]["imagenet_top1"]})
    return out
