"""Evidence across families: the static prior beside the ranking, the scope of a score's support, and
backbones whose features look untrained.

bbselect's default job compares different architectures, but a score supported by the validation study
*within* one family (stages and degraded copies of one network) is not thereby supported *across*
families; the cross-family study (docs/validation.md, "Across families"; ``validated.json`` key ``zoo``)
says per score whether it may rank across families: only if it matches the ImageNet-top-1 prior there
and ranks an off-task network below every ImageNet one.  ``assess`` tells the reports:

* ``prior``: what the static prior (documented ImageNet top-1, ``bbselect.models.top1``) picks among
  the run's backbones, and whether the evidence agrees (the pick is the recommended backbone or tied
  with it);
* ``within_only``: the run compares families and ranks by a score supported within a family only (or
  never studied across families) — the headline then says so and names the prior's pick;
* ``untrained``: backbones whose neighbourhood stability is at or below the highest value random-init
  networks reached in the study (``random_level``): "features look untrained or off-task for these
  images", whatever their top-1.
"""

from __future__ import annotations

import math

from bbselect.models import registry as backbones
from bbselect.models import top1
from bbselect.scoring import registry, validated

# ground truths measured on the user's own data: they need no cross-family support
GROUND_TRUTH_TIERS = ("labels", "detection")
UNTRAINED = "features look untrained or off-task for these images"
# registry families that the cross-family study treats as separate families
_SPLIT = {"mobilenet": {"mobilenet": "MobileNet v1", "mobilenetv2": "MobileNetV2",
                        "mobilenetv3small": "MobileNetV3", "mobilenetv3large": "MobileNetV3"}}


def family_of(entry: dict) -> str:
    """The architecture family of a backbone entry (``name`` = registry name); a user's own model is
    its own family."""
    name = str(entry.get("name") or entry.get("label") or "")
    try:
        spec = backbones.get_spec(name)
    except Exception:  # noqa: BLE001 - an unknown or user model: a family of its own
        return f"model:{name}"
    if spec.model is not None:
        return f"model:{name}"
    return _SPLIT.get(spec.family, {}).get(spec.name, spec.family)


def untrained(entries: list[dict], study: dict) -> list[str]:
    """Labels of backbones whose stability is at or below the study's random-init level."""
    level = validated.random_level(study)
    if level is None:
        return []
    return [e["label"] for e in entries
            if math.isfinite(v := registry.value(e, "stability")) and v <= level]


def assess(ordered: list[dict], used: dict, study: dict | None = None) -> dict:
    """What every report says about the prior and the scope (see the module docstring).

    ``ordered``: the ranked entries (rank 1 first, ``tied_with`` set); ``used``: ``evidence.choose_primary``'s
    result (``score`` = the registry name that ranks, ``evidence`` = its tier)."""
    study = validated.load() if study is None else study
    pick = top1.prior_pick(ordered)
    best = ordered[0] if ordered else None
    agrees = None
    if pick["label"] is not None and best is not None and pick["known"] >= 2:
        agrees = pick["label"] == best.get("label") or pick["label"] in (best.get("tied_with") or [])
    fams = sorted({family_of(e) for e in ordered})
    tier, score = used.get("evidence"), used.get("score")
    sc = None if tier in GROUND_TRUTH_TIERS else validated.zoo_scope(score, study)
    within_only = len(fams) > 1 and tier not in GROUND_TRUTH_TIERS and sc != "across"
    return {"prior": {**pick, "agrees": agrees, "what": "documented ImageNet top-1 (%)"},
            "families": fams, "score": score, "scope": sc, "within_only": within_only,
            "untrained": untrained(ordered, study)}


def prior_text(cf: dict) -> str | None:
    """One clause on the static prior, or None when no backbone has a documented top-1."""
    p = (cf or {}).get("prior") or {}
    if p.get("label") is None:
        return None
    text = f"static prior (ImageNet top-1) picks {p['label']} ({p['value']:.1f} %)"
    if p.get("agrees") is True:
        text += "; the evidence agrees"
    elif p.get("agrees") is False:
        text += "; the evidence disagrees"
    if p.get("unknown"):
        text += f" (top-1 unknown for {', '.join(p['unknown'])})"
    return text


def scope_warning(cf: dict, metric: str) -> str | None:
    """The headline's warning when a within-family score ranks different families."""
    if not (cf or {}).get("within_only"):
        return None
    studied = ("bbselect's cross-family study supports it within a family only" if cf.get("scope") == "within"
               else "no study shows it ranks across families")
    return (f"NOT VALIDATED ACROSS FAMILIES: these backbones are of different families "
            f"({', '.join(cf.get('families') or [])}) and {metric} is ranking them, but {studied} "
            f"(docs/validation.md)" + ("" if (cf.get("prior") or {}).get("label") else
                                   "; no backbone here has a documented ImageNet top-1 to compare with"))


def untrained_text(cf: dict) -> str | None:
    flagged = (cf or {}).get("untrained") or []
    return f"{', '.join(flagged)}: {UNTRAINED} (neighbourhood stability at the random-init level)" if flagged else None
