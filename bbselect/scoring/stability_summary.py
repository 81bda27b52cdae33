"""Neighbourhood stability over a run: one backbone's entry, paired comparisons, the "how sure" text.

The score itself (neighbour search, Jaccard overlap, retrieval) is ``scoring/stability.py``; this
module turns its per-image values into what a run summary holds (mean with a 95% bootstrap
interval, ``k``, ``m``, chance, the reason when undefined), compares backbones on the same images
(``stats.paired_bootstrap``) and words the verdict's "how sure" sentence. Pure functions.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.scoring import stability, stats


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


def add_paired(entries: list[dict], per_image: dict[str, dict[str, float]], n_boot: int = 2000) -> None:
    """Give every backbone's stability entry a paired comparison with each other backbone on the images
    both have (``stats.paired_bootstrap``): ``entry["stability"]["paired"][other] = {diff, lo, hi, n, tied}``."""
    for e in entries:
        mine = per_image.get(e["label"])
        if mine is None or "stability" not in e:
            continue
        e["stability"]["paired"] = {}
        for o in entries:
            theirs = per_image.get(o["label"])
            if o is e or theirs is None:
                continue
            ids = sorted(set(mine) & set(theirs))
            res = stats.paired_bootstrap([mine[i] for i in ids], [theirs[i] for i in ids], n_boot=n_boot)
            e["stability"]["paired"][o["label"]] = {k: res[k] for k in ("diff", "lo", "hi", "n", "tied")}


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
