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

EVIDENCE = "detection probe"


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
            parts.append(f"cheapest within the tie: {cheapest} ({cost[cheapest]:.3g} GFLOPs)")
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


__all__ = ["EVIDENCE", "probe_ranking"]
