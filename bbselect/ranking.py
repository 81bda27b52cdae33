"""Rank backbones, mark ties, and say in plain words what the numbers mean.

The label-free ranking uses one composite per image, ``separation``: the mean of the three map
scores (otsu, top10_mass, concentration) over the max and mean maps, skipping degenerate maps.
Backbones are ordered by the mean separation across images; two backbones whose 95% bootstrap
intervals overlap are marked as tied. Pure functions on plain dicts.
"""

from __future__ import annotations

import math

import numpy as np

from . import scores


def separation(per_map: dict[str, scores.MapScores]) -> float:
    """Mean of every non-NaN score of one image's scored maps (NaN if all are degenerate)."""
    vals = [getattr(s, name) for s in per_map.values() for name in scores.SCORE_NAMES]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def rank(backbones: list[dict]) -> list[dict]:
    """Set ``rank`` and ``tied_with`` on each backbone dict (by ``separation.mean``, NaN last)."""

    def key(b):
        m = b["separation"]["mean"]
        return (0, -m) if m is not None and math.isfinite(m) else (1, 0)

    ordered = sorted(backbones, key=key)
    for i, b in enumerate(ordered, start=1):
        b["rank"] = i
        b["tied_with"] = [
            o["label"]
            for o in ordered
            if o is not b and scores.intervals_overlap(b["separation"], o["separation"])
        ]
    return ordered


def _fmt_ci(s: dict) -> str:
    if s["mean"] is None or not math.isfinite(s["mean"]):
        return "n/a"
    return f"{s['mean']:.2f} [{s['lo']:.2f}, {s['hi']:.2f}]"


def verdict(ordered: list[dict], n_images: int, random_weights: bool) -> str:
    """One plain-language paragraph: who leads, by how much, at what cost, and what it cannot tell."""
    if not ordered:
        return "No backbone produced scores."
    scored = [b for b in ordered if b["separation"]["mean"] is not None and math.isfinite(b["separation"]["mean"])]
    parts = []
    if not scored:
        parts.append(
            "Every map was degenerate (constant or too small), so no backbone can be ranked on these "
            "images at this layer (constant maps: ReLU6 saturation, or dead units with random "
            "weights); try another stage (--layer c3 or c4)."
        )
    else:
        best = scored[0]
        where = f"{best['layer']}" + (f", stage {best['stage']}" if best.get("stage") else "")
        parts.append(
            f"On these {n_images} images, {best['label']} ({where}) gives the most clearly separated "
            f"maps: separation {_fmt_ci(best['separation'])} (mean with 95% bootstrap interval)."
        )
        if best["tied_with"]:
            parts.append(
                f"Its interval overlaps {', '.join(best['tied_with'])}, so that lead is not "
                f"established on this many images; treat them as tied."
            )
        elif len(scored) > 1:
            parts.append(f"Its interval does not overlap the next backbone's ({scored[1]['label']}).")
        cheapest = min(scored, key=lambda b: b["cost"].get("gflops") or float("inf"))
        if cheapest is not best and best["cost"].get("gflops") and cheapest["cost"].get("gflops"):
            ratio = best["cost"]["gflops"] / cheapest["cost"]["gflops"]
            parts.append(
                f"{cheapest['label']} needs {ratio:.1f}× fewer GFLOPs "
                f"({cheapest['cost']['gflops']:.2f} vs {best['cost']['gflops']:.2f}) at "
                f"separation {_fmt_ci(cheapest['separation'])}."
            )
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
    parts.append(
        "What this can tell: how strongly each backbone's channel-collapsed maps single out a region "
        "of your images, a quick, label-free sign of whether its features respond to your content. "
        "What it cannot tell: whether those regions are your objects, or whether the features will "
        "transfer to your classes and boxes; peaked maps can come from texture or edges. Use class "
        "folders or box annotations for that evidence, and confirm with a short fine-tuning run."
    )
    if random_weights:
        parts.insert(
            0,
            "RANDOM WEIGHTS: these backbones were not pretrained, so the scores reflect architecture "
            "and initialisation only and say nothing about pretrained features.",
        )
    return " ".join(parts)
