"""Neighbourhood stability over a run: one backbone's entry, paired comparisons, the "how sure" text.

The score itself (neighbour search, Jaccard overlap, retrieval) is ``scoring/stability.py``; this
module turns its per-image values into what a run summary holds (mean with a 95% bootstrap
interval, ``k``, ``m``, chance, the reason when undefined), compares backbones on the same images
(``stats.add_paired``) and words the verdict's "how sure" sentence. Pure functions. The two scores'
registry entries live here, beside the section they are computed into.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.scoring import registry, stability, stats
from bbselect.scoring.registry import ScoreSpec


def backbone_summary(gap: np.ndarray, view_gap: np.ndarray, k: int = stability.DEFAULT_K) -> tuple[dict, np.ndarray]:
    """One backbone's stability entry and its per-image values.

    ``gap`` [n, C] pooled features of the originals; ``view_gap`` [n, m, C] of their views (as saved per
    image). The entry: the mean over images with a 95% bootstrap interval (``stats.summarize``), ``k``,
    ``m``, the chance level, the reason when not defined, and augmentation retrieval likewise."""
    r = stability.neighbourhood_stability(gap, np.transpose(np.asarray(view_gap), (1, 0, 2)), k)
    entry = {**stats.summarize(r["per_image"]), "k": k, "m": r["m"], "chance": r["chance"], "reason": r["reason"],
             "retrieval": stats.summarize(r["retrieval_per_image"])}
    return entry, r["per_image"]


def undefined_entry(n: int, k: int = stability.DEFAULT_K) -> dict:
    """The stability entry of a run whose ``n`` images are too few for the score (no views were made):
    the same keys as ``backbone_summary``'s, NaN values, and the reason."""
    nan = [math.nan] * n
    return {**stats.summarize(nan), "k": k, "m": 0, "chance": math.nan, "reason": stability.undefined_reason(n, k),
            "retrieval": stats.summarize(nan)}


# Known failure cases (issue 11's research check); the measured τ comes from validated.json.
FAILURES = ("it ranks shallow layers (c3) too close to deeper ones on textures, and it underrates a random-init "
            "ResNet50 whose probe accuracy is fair")


def how_sure(tau: dict[str, float]) -> str:
    """The verdict's "how sure" sentence for a ranking by stability; ``tau``: data set -> Kendall τ with
    linear-probe accuracy over pretrained and degraded networks, as the validation study measured it."""
    taus = ", ".join(f"{t:.2f} on {ds}" for ds, t in tau.items()) or "not recorded"
    return (f"How sure: neighbourhood stability is the label-free score bbselect's validation study supports "
            f"as a predictor of transfer (Kendall τ with linear-probe accuracy {taus}, pretrained and "
            f"degraded networks; docs/validation.md). Known failure cases: {FAILURES}. Effective rank "
            f"and dead channels act only as a health gate (they can move a backbone down, never up); the map "
            f"scores describe the figures and do not rank. Labels or boxes give stronger evidence.")


def _k(inputs) -> int:
    return int(inputs.settings.get("stability_k") or stability.DEFAULT_K)


def stability_section(inputs) -> tuple[dict, dict[str, float]]:
    """The ``stability`` section of a backbone entry from its sampled images' views, and the per-image
    values by image id (for the paired comparisons)."""
    ids = list(inputs.views)
    entry, values = backbone_summary(np.stack([inputs.views[i][0] for i in ids]),
                                     np.stack([inputs.views[i][1] for i in ids]), _k(inputs))
    return entry, dict(zip(ids, values.tolist()))


def undefined_section(inputs) -> dict | None:
    """No views: when the score is not defined for so few images, the section says so (else absent)."""
    if (inputs.settings.get("stability") or {}).get("undefined"):
        return undefined_entry(inputs.n, _k(inputs))
    return None


registry.register(ScoreSpec(
    name="stability", title="neighbourhood stability", tier="label-free", range=(0.0, 1.0), path=("stability",),
    fn=stability.stability_per_image, needs=("views",), compute=stability_section, missing=undefined_section,
    paired=True, ranks="no labels or boxes were given; neighbourhood stability is the label-free score the "
                       "validation study supports (see the how-sure note)",
    doc="Neighbourhood stability: per image, the Jaccard overlap of its k nearest neighbours among the "
        "originals and its augmented view's k nearest neighbours among the views (pooled features, "
        "standardised with the originals' statistics, cosine); 1 = every neighbourhood survives the "
        "augmentation. Not defined below 3 × k images.",
    method="Neighbourhood stability: its mean over images with a 95% bootstrap interval; ties from a paired "
           "bootstrap of the per-image difference on the same images.",
    studied=("validation", "zoo"),
))
registry.register(ScoreSpec(
    name="augmentation_retrieval", title="augmentation retrieval", tier="label-free", range=(0.0, 1.0),
    path=("stability", "retrieval"), fn=stability.retrieval_per_image, needs=("views",), compute=stability_section,
    missing=undefined_section, paired=True,
    doc="Augmentation retrieval: share of augmented views whose nearest original (cosine) is their own image.",
    studied=("validation", "zoo"),
))
