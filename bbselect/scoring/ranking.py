"""Rank backbones, mark ties, and say in plain words what the numbers mean.

Backbones are ordered by their ``primary`` score — the strongest evidence available, chosen in
evidence.py: box AUROC > linear-probe accuracy > label-free ``separation`` (per image, the mean of
the three map scores over the max and mean maps, degenerate maps skipped). Ties come from a paired comparison on
the same images where the primary score has one (its ``paired`` results, e.g. stability's paired
bootstrap; or per-image hits ``correct``, as linear-probe accuracy has: McNemar, ``stats.paired_tie``),
else from overlapping 95% intervals. Pareto-optimal backbones (no other is both better and faster)
are marked for the quality-vs-cost chart. Pure functions on plain dicts.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.common import finite, fmt_gflops, fmt_interval
from bbselect.scoring import mapscores, registry, stats
from bbselect.scoring.registry import ScoreSpec


def separation(per_map: dict) -> float:
    """Mean of every non-NaN score of one image's scored maps (NaN if all are degenerate).

    ``per_map``: map kind -> ``MapScores``, or the same as plain dicts (as read back from scores.json).
    """
    rows = [s._asdict() if hasattr(s, "_asdict") else s for s in per_map.values()]
    vals = [r.get(name) for r in rows if isinstance(r, dict) for name in mapscores.SCORE_NAMES]
    vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _score(b: dict) -> dict:
    return b.get("primary") or b["separation"]



HEALTH_DEAD = 0.5  # share of channels that never fire
HEALTH_RANK = 2.0  # effective rank of the pooled features: below this they are (nearly) one direction


def health_problem(b: dict) -> str | None:
    """Why a backbone fails the health gate (dead channels, collapsed features), or None."""
    cs = b.get("channels_stats") or {}
    dead, erank = cs.get("dead_fraction"), cs.get("effective_rank")
    if finite(dead) and dead >= HEALTH_DEAD:
        return f"{100 * dead:.0f}% of its channels never fire"
    if finite(erank) and erank < HEALTH_RANK:
        return f"effective rank {erank:.1f}: its pooled features use fewer than {HEALTH_RANK:.0f} directions"
    return None


def _tied(b: dict, o: dict) -> bool:
    """A paired comparison on the same images when the score has one, else overlapping intervals."""
    paired = _score(b).get("paired") or {}
    mine = paired.get(o.get("label"))
    if mine and mine.get("tied") is not None:
        return bool(mine["tied"])
    return stats.paired_tie(_score(b), _score(o))


def rank(backbones: list[dict], health_gate: bool = False) -> list[dict]:
    """Set ``rank`` and ``tied_with`` on each backbone dict (by its primary score's mean, NaN last).

    ``health_gate``: backbones with mostly dead channels or collapsed features (``health_problem``) go
    below every healthy one, in their own order; the gate can demote, never promote. Their reason is
    kept in ``b["demoted"]``."""

    def key(b):
        m = _score(b)["mean"]
        sign = -1 if _score(b).get("higher_is_better", True) else 1  # the score's declared direction
        return (0 if finite(m) else 1, bool(b.get("demoted")), sign * m if finite(m) else 0)

    for b in backbones:
        b["demoted"] = health_problem(b) if health_gate else None
    ordered = sorted(backbones, key=key)
    for i, b in enumerate(ordered, start=1):
        b["rank"] = i
        b["tied_with"] = [o["label"] for o in ordered if o is not b and _tied(b, o)]
    return ordered


def pareto_front(backbones: list[dict], cost_of) -> list[str]:
    """Labels of backbones no other beats on both the primary score (higher) and ``cost_of`` (lower)."""
    pts = [(b["label"], _score(b)["mean"], cost_of(b)) for b in backbones]
    pts = [(lb, s, c) for lb, s, c in pts if finite(s) and finite(c)]
    return [
        lb for lb, s, c in pts
        if not any((s2 >= s and c2 <= c) and (s2 > s or c2 < c) for _, s2, c2 in pts)
    ]


_LIMITS = {
    "label-free": (
        "What this can tell: how strongly each backbone's channel-collapsed maps single out a region "
        "of your images. What it cannot tell: whether the features will transfer to your classes and "
        "boxes. bbselect's validation study (docs/validation.md: real vs random weights, two labelled "
        "data sets) did NOT find the map scores, separation included, to predict linear-probe accuracy "
        "reliably; only the channel statistics (effective rank, dead channels) and, with labels, LogME "
        "and kNN held up. Read this ranking as a first look, use the channel statistics as a sanity "
        "check, and give class folders or box annotations for evidence that counts."
    ),
    "labels": (
        "What this can tell: how linearly separable your classes are in each backbone's pooled "
        "features, the usual first predictor of transfer (LogME and kNN are shown alongside). What it "
        "cannot tell: localisation quality for a detector, or accuracy after fine-tuning; with few "
        "images per class the intervals are wide. Confirm with a short fine-tuning run."
    ),
    "boxes": (
        "What this can tell: whether each backbone's channel-collapsed activation lands on your "
        "annotated objects rather than the background. What it cannot tell: detection accuracy after "
        "training a head and fine-tuning; the maps are channel summaries, not a detector's output."
    ),
}


def verdict(ordered: list[dict], n_images: int, random_weights: bool, evidence: dict | None = None) -> str:
    """One plain-language paragraph: which evidence, who leads, by how much, at what cost, and what
    the numbers cannot tell."""
    if not ordered:
        return "No backbone produced scores."
    evidence = evidence or {"evidence": "label-free", "metric": "separation", "why": ""}
    metric = evidence["metric"]
    scored = [b for b in ordered if finite(_score(b)["mean"])]
    parts = []
    if not scored:
        parts.append(
            "Every map was degenerate (constant or too small), so no backbone can be ranked on these "
            "images at this layer (constant maps: ReLU6 saturation, or dead units with random "
            "weights); try another stage (--layer c3 or c4)."
        )
    else:
        best = scored[0]
        has_ci = finite(_score(best).get("lo")) and finite(_score(best).get("hi"))
        where = f"{best['layer']}" + (f", stage {best['stage']}" if best.get("stage") else "")
        parts.append(f"Ranked by {metric}: {evidence['why']}." if evidence.get("why") else "")
        sample = (evidence.get("sample") or {}).get("text")
        if sample:
            parts.append(f"Neighbourhood stability was computed on {sample}, not on every image.")
        parts.append(
            f"On these {n_images} images, {best['label']} ({where}) ranks first: "
            f"{metric} {fmt_interval(_score(best))}"
            + (" (mean with 95% interval)." if has_ci else " (no interval: how close the next backbone is "
                                                          "cannot be judged).")
        )
        if best["tied_with"] and _score(best).get("paired"):
            parts.append(
                f"A paired comparison on the same images does not separate it from "
                f"{', '.join(best['tied_with'])} (95% interval of the difference contains 0); treat them as tied."
            )
        elif best["tied_with"]:
            parts.append(
                f"Its interval overlaps {', '.join(best['tied_with'])}, so that lead is not "
                f"established on this many images; treat them as tied."
            )
        elif len(scored) > 1 and has_ci:
            parts.append(f"Its interval does not overlap the next backbone's ({scored[1]['label']}).")
        cheapest = min(scored, key=lambda b: b["cost"].get("gflops") or float("inf"))
        if cheapest is not best and best["cost"].get("gflops") and cheapest["cost"].get("gflops"):
            ratio = best["cost"]["gflops"] / cheapest["cost"]["gflops"]
            parts.append(
                f"{cheapest['label']} needs {ratio:.1f}× fewer GFLOPs "
                f"({fmt_gflops(cheapest['cost']['gflops'])} vs {fmt_gflops(best['cost']['gflops'])}) at "
                f"{metric} {fmt_interval(_score(cheapest))}."
            )
    dead = [b for b in ordered if ((b.get("channels_stats") or {}).get("dead_fraction") or 0) >= 0.5]
    if dead:
        parts.append(
            "Channel check: " + ", ".join(
                f"{b['label']} has {100 * b['channels_stats']['dead_fraction']:.0f}% channels that never fire"
                for b in dead)
            + " on these images — a sign of a broken or unsuited network at this layer, whatever its rank."
        )
    demoted = [b for b in scored if b.get("demoted")]
    if demoted:
        parts.append("Health gate: " + "; ".join(f"{b['label']} fails it ({b['demoted']})" for b in demoted)
                     + " — so it ranks below every healthy backbone, whatever its score.")
    unscored = [b["label"] for b in ordered if b not in scored]
    partly = [b["label"] for b in scored if any(b["degenerate"].values())]
    if unscored and scored:
        parts.append(
            f"{', '.join(unscored)} could not be ranked: every map was degenerate (constant, e.g. "
            f"ReLU6 saturation or dead random-init units); try another --layer."
        )
    if partly:
        parts.append(
            f"Some maps of {', '.join(partly)} were degenerate and were left out of the scores, "
            f"not counted as zero."
        )
    why_not = next(((b.get("stability") or {}).get("reason") for b in ordered
                    if (b.get("stability") or {}).get("reason")), None)
    if why_not and not evidence.get("how_sure"):
        parts.append(f"Neighbourhood stability is not defined here: {why_not}.")
    parts.append(evidence.get("how_sure") or evidence.get("limits") or _LIMITS[evidence["evidence"]])
    if random_weights:
        parts.insert(
            0,
            "RANDOM WEIGHTS: these backbones were not pretrained, so the scores reflect architecture "
            "and initialisation only and say nothing about pretrained features.",
        )
    return " ".join(p for p in parts if p)


def separation_section(inputs) -> dict:
    """The ``separation`` section: its mean over the images with a 95% bootstrap interval."""
    return stats.summarize([separation(v) for v in inputs.map_scores.values()])


registry.register(ScoreSpec(
    name="separation", title="separation", tier="label-free", range=(0.0, 1.0), path=("separation",), fn=separation,
    needs=("maps",), compute=separation_section, last_resort=True,
    ranks="no labels or boxes were given, so only the label-free map scores are available",
    doc="Separation: per image, the mean of the shape scores over the max and mean maps; how clearly a "
        "backbone's maps separate a region from the background. The validation study does not support it "
        "as a predictor of transfer.",
    axis="separation: mean of {map_scores} (95% bootstrap CI)",
    method="Separation: per image, the mean of the three map scores over the max and mean maps "
           "(degenerate maps left out); its mean over images with a 95% bootstrap interval.",
    studied=("validation",),
))
