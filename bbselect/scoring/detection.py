"""The verdict from the detection probe: order, paired ties, the cheapest backbone within the tie.

Input is ``probes.study.probe_study``'s result (plain dicts) and each backbone's GFLOPs. Backbones
are ordered by held-out mAP@0.5. A backbone is *tied* with the best when the paired bootstrap
interval of their difference (same images, same folds) holds 0 -- not when marginal intervals
overlap. Within the tie the cheapest by GFLOPs (stable, unlike measured time) is named.

Beating the prior (the same head on constant features: where boxes usually are and how big) is
necessary, never sufficient: the sentence states each number against the prior and says plainly
when no backbone beats it; it never calls a backbone good for that alone.
"""

from __future__ import annotations

import math

from bbselect.common import fmt_gflops
from bbselect.probes import study
from bbselect.scoring import registry
from bbselect.scoring.registry import ScoreSpec

EVIDENCE = "detection probe"
# Below this mAP@0.5 for every backbone the probe found almost nothing: its order is noise, not evidence
# (coco128's small objects at 224 px: best 0.001-0.006). The validation study applies the same floor.
FLOOR = 0.05
PROBE_FILE = "probe.json"  # in the run folder, written by runs/probe.py
LIMITS = (
    "What this can tell: how well a small detection head, trained on each backbone's frozen features "
    "at the chosen layer, finds your annotated objects in images it never saw, and how much of that "
    "the features add over knowing only where boxes usually are and how big (the box prior). What it "
    "cannot tell: accuracy after fine-tuning the backbone or with a full detector (FPN, more data, "
    "augmentation); the probe is small on purpose and its ranking, not its absolute mAP, is the point."
)


def _ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def probe_ranking(probe: dict, gflops: dict[str, float | None]) -> dict:
    """{order, best, tied, cheapest, beats_prior, sentence} from a probe study's result."""
    bb = probe["backbones"]
    order = sorted(bb, key=lambda k: (-bb[k]["map50"], k))
    best = order[0]
    tied = [k for k in order if bb[k]["vs_best"]["tied"]]
    cost = {k: gflops.get(k) for k in tied}
    known = [k for k in tied if cost[k] is not None and math.isfinite(cost[k])]
    cheapest = min(known, key=lambda k: (cost[k], order.index(k))) if known else best
    b = bb[best]
    prior = probe["priors"][b["prior"]]
    parts = [f"Ranked by the {EVIDENCE} (mAP@0.5 of a small detection head trained on each backbone's "
             f"frozen features, every image scored by a head that never saw it; {probe['folds']}-fold, "
             f"{probe['n_images']} images): {best} {b['map50']:.3f} {_ci(b['map50_ci'])}"]
    others = [k for k in tied if k != best]
    if others:
        diffs = "; ".join(f"{k} {bb[k]['map50']:.3f} ({best} minus {k}, paired over the same images: "
                          f"{bb[k]['vs_best']['diff']:+.3f} {_ci(bb[k]['vs_best']['ci'])})" for k in others)
        parts.append(f"tied with {diffs}")
        if cost.get(cheapest) is not None:
            parts.append(f"cheapest within the tie: {cheapest} ({fmt_gflops(cost[cheapest])} GFLOPs)")
    elif len(order) > 1:
        nxt = order[1]
        parts.append(f"ahead of {nxt} ({bb[nxt]['map50']:.3f}; {best} minus {nxt}, paired over the same "
                     f"images: {bb[nxt]['vs_best']['diff']:+.3f} {_ci(bb[nxt]['vs_best']['ci'])}, excludes 0)")
    beats = [k for k in order if bb[k]["beats_prior"]]
    prior_txt = f"the box prior alone (the same head on constant features) scores {prior['map50']:.3f} {_ci(prior['map50_ci'])}"
    if not beats:
        parts.append(f"{prior_txt}, and no backbone beats it: the probe cannot tell these features "
                     f"from knowing where boxes usually are")
    else:
        parts.append(f"{prior_txt}; {best} adds {b['gain50']:+.3f} {_ci(b['gain50_ci'])} over it"
                     + ("" if b["beats_prior"] else " (not above the prior)"))
    return {"evidence": EVIDENCE, "order": order, "best": best, "tied": tied, "cheapest": cheapest,
            "beats_prior": beats, "sentence": ". ".join(p[0].upper() + p[1:] for p in parts) + "."}


def _interval(v: float, ci) -> dict:
    return {"mean": float(v), "lo": float(ci[0]), "hi": float(ci[1])}


def section(inputs) -> dict | None:
    """The ``detection`` section of a backbone entry from the run's probe results (None: not probed)."""
    b = ((inputs.probe or {}).get("backbones") or {}).get(inputs.label)
    if b is None:
        return None
    prior = inputs.probe["priors"][b["prior"]]
    return {
        "map50": _interval(b["map50"], b["map50_ci"]), "map": _interval(b["map"], b["map_ci"]),
        "gain50": _interval(b["gain50"], b["gain50_ci"]),
        "prior_map50": _interval(prior["map50"], prior["map50_ci"]), "beats_prior": b["beats_prior"],
        "resolvable": b["resolvable"], "n_boxes": b["n_boxes"], "map_hw": b["map_hw"],
        "vs_best": b["vs_best"], "seconds": b["seconds"],
    }


def paired_ties(ordered: list[dict], probe: dict) -> None:
    """Replace interval-overlap ties by the probe's paired ones (with the best backbone)."""
    bb = probe["backbones"]
    best = probe.get("best")
    tied = [b["label"] for b in ordered if b["label"] in bb and bb[b["label"]]["vs_best"]["tied"]]
    for b in ordered:
        if b["label"] == best:
            b["tied_with"] = [t for t in tied if t != best]
        else:
            b["tied_with"] = [best] if b["label"] in tied else []


def at_floor(probe: dict) -> bool:
    """Whether no backbone's mAP@0.5 reaches ``FLOOR``: the probe then cannot rank them."""
    return not any(b["map50"] >= FLOOR for b in probe["backbones"].values())


def floor_sentence(probe: dict) -> str:
    best = max(b["map50"] for b in probe["backbones"].values())
    return (f"AT ITS FLOOR: the detection probe found almost none of these objects with any backbone (best "
            f"mAP@0.5 {best:.3f} < {FLOOR}), so the order below is noise, not evidence. Small objects need "
            f"a finer stride (--layer c3), a larger --input-size, or more annotated images")


def verdict(ordered: list[dict], probe: dict, random_weights: bool) -> str:
    """The verdict paragraph when the probe ranked: its sentence, sampling, stride, random weights, limits."""
    r = probe_ranking(probe, {b["label"]: (b.get("cost") or {}).get("gflops") for b in ordered})
    parts = [floor_sentence(probe) + "." if at_floor(probe) else "", r["sentence"]]
    parts = [p for p in parts if p]
    if probe.get("sampled"):
        parts.append(f"The probe used a stratified sample of {probe['n_images']} of {probe['candidates']} "
                     f"annotated images (--probe-max-images {probe['max_images']}).")
    small = [f"{k} misses {b['n_boxes'] - b['resolvable']} of {b['n_boxes']} boxes smaller than its stride"
             for k, b in probe["backbones"].items() if b["resolvable"] < b["n_boxes"]]
    if small:
        parts.append("Stride: " + "; ".join(small) + " (a box narrower than one feature cell cannot be "
                     "resolved at that layer).")
    if random_weights:
        parts.insert(0, "RANDOM WEIGHTS: these backbones were not pretrained.")
    parts.append(LIMITS)
    return " ".join(parts)


def _doc(what: str) -> str:
    return (f"{what} of a small CenterNet-style head trained on the frozen features (5-fold by image, every "
            f"image scored by a head that never saw it), by pycocotools COCOeval; 95% percentile bootstrap "
            f"interval over images.")


_PROBE = {"needs": ("probe",), "compute": section}

registry.register(ScoreSpec(
    name="det_map50", title="detection-probe mAP@0.5", tier="detection", range=(0.0, 1.0),
    path=("detection", "map50"), fn=study.probe_study, doc=_doc("mAP at IoU 0.5"), **_PROBE,
    ranks="box annotations were found and the detection probe ran: held-out mAP of a detection head trained on "
          "each backbone's frozen features (frozen-backbone detection quality) is the most direct evidence "
          "bbselect measures for a detector",
    method="Detection-probe mAP@0.5: " + _doc("mAP at IoU 0.5") + " Ties by a paired bootstrap over the "
           "same images, not by overlapping intervals.",
))
registry.register(ScoreSpec(
    name="det_map", title="detection-probe mAP@[.5:.95]", tier="detection", range=(0.0, 1.0),
    path=("detection", "map"), fn=study.probe_study, doc=_doc("mAP averaged over IoU 0.50:0.95"), **_PROBE,
))
registry.register(ScoreSpec(
    name="det_gain50", title="detection-probe gain over the box prior", tier="detection", range=(-1.0, 1.0),
    path=("detection", "gain50"), fn=study.probe_study, **_PROBE, kind="signed_interval",
    doc="mAP@0.5 of the probe on this backbone's features minus the same head on constant features (the box "
        "prior: where boxes usually are and how big), paired bootstrap interval over the same images.",
))


__all__ = ["EVIDENCE", "FLOOR", "PROBE_FILE", "LIMITS", "at_floor", "floor_sentence", "probe_ranking", "section",
           "paired_ties", "verdict"]
