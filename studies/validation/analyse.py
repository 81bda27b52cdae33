"""The within-family study's statistics: Kendall's τ of each score against the ground truth, the share
of (pretrained, degraded) pairs it orders pretrained-first, and the support rule applied to them (the
rule itself lives in ``bbselect.scoring.validated``: ``predicts``, ``separates``)."""

from __future__ import annotations

import math

from scipy.stats import kendalltau

from bbselect.common import finite
from bbselect.scoring import validated
from bbselect.scoring.detection import FLOOR
from studies.validation import plan


def kendall(rows: list[dict], key: str, truth: str = plan.TRUTH, nan_last: bool = False) -> dict:
    """τ-b between the score (oriented so that higher = claimed better) and the ground truth ``truth``.

    Default: over the configurations where the score is finite.  ``nan_last``: over all of them,
    a NaN score ranked below every finite one (tied with other NaNs), as bbselect's ranking does."""
    low, d = -1e300, plan.direction(key)
    pairs = [(d * r[key] if finite(r.get(key)) else low, r[truth]) for r in rows
             if (nan_last or finite(r.get(key))) and finite(r.get(truth))]
    n = len(pairs)
    if n < 3 or len({a for a, _ in pairs}) < 2:
        return {"tau": math.nan, "p": math.nan, "n": n}
    res = kendalltau([a for a, _ in pairs], [b for _, b in pairs])
    return {"tau": float(res.statistic), "p": float(res.pvalue), "n": n}


def above(real: float, rand: float, direction: int) -> float:
    """1 if the score ranks the real config above the random one, 0.5 on a tie, else 0.

    NaN is ranked last (as bbselect's own ranking does): a NaN real score never counts as above;
    a finite real score is above a NaN random score; two NaNs count 0 (not above)."""
    if not finite(real):
        return 0.0
    if not finite(rand):
        return 1.0
    a, b = direction * real, direction * rand
    return 1.0 if a > b else 0.5 if a == b else 0.0


def share(pairs: list[float]) -> float:
    return sum(pairs) / len(pairs) if pairs else math.nan


def real_vs_random(rows: list[dict], key: str) -> dict:
    d = plan.direction(key)
    real = [r for r in rows if r["kind"] == "real"]
    rand = [r for r in rows if r["kind"] == "random"]
    allp = [above(a[key], b[key], d) for a in real for b in rand]
    matched = [above(a[key], b[key], d) for a in real for b in rand
               if b["backbone"] == a["backbone"] and b["stage"] == a["stage"] and b["size"] == a["size"]]
    return {"all": share(allp), "n_all": len(allp), "matched": share(matched), "n_matched": len(matched)}


def real_vs_cascade(rows: list[dict], key: str) -> dict:
    """Share of (pretrained, cascade-randomised) pairs of the same stage and size ordered pretrained first."""
    d = plan.direction(key)
    pairs = [above(a[key], b[key], d) for a in rows if a["kind"] == "real" for b in rows
             if b["kind"] == "cascade" and b["stage"] == a["stage"] and b["size"] == a["size"]]
    return {"share": share(pairs), "n": len(pairs)}


def analyse(rows: list[dict]) -> dict:
    """The labels part, per data set."""
    out = {}
    keys = plan.label_scores()
    order = {d: i for i, d in enumerate(plan.DATASETS)}
    for ds in sorted({r["dataset"] for r in rows}, key=lambda d: order.get(d, 9)):
        sub = [r for r in rows if r["dataset"] == ds]
        real = [r for r in sub if r["kind"] == "real"]
        out[ds] = {
            "n_configs": len(sub),
            "tau": {k: kendall(sub, k) for k in keys},
            "tau_nan_last": {k: kendall(sub, k, nan_last=True) for k in keys},
            "tau_real": {k: kendall(real, k) for k in keys},
            "tau_nonrandom": {k: kendall([r for r in sub if r["kind"] != "random"], k) for k in keys},
            "rvr": {k: real_vs_random(sub, k) for k in [*keys, plan.TRUTH]},
            "rvc": {k: real_vs_cascade(sub, k) for k in [*keys, plan.TRUTH]},
        }
    return out


def supported(res: dict, k: str) -> bool:
    """The study's rule: on every data set, τ > 0 with p < 0.05 (finite configurations) AND the
    score puts pretrained above random-init in >= 80 % of pairs.  A score that cannot even tell a
    pretrained network from a random one is not called a predictor of transfer, whatever its τ."""
    return all(validated.predicts(res[ds]["tau"][k]) and validated.separates(res[ds]["rvr"][k]["all"])
               for ds in res)


def above_degraded(rows: list[dict], key: str) -> dict:
    """Share of (pretrained, degraded) pairs the score orders pretrained first (ties 0.5, NaN last);
    degraded = cascading-randomised or random-init; also over cascade pairs of the same stage only."""
    d = plan.direction(key)
    real = [r for r in rows if r["kind"] == "real"]
    deg = [r for r in rows if r["kind"] in ("cascade", "random")]
    allp = [above(a[key], b[key], d) for a in real for b in deg]
    casc = [above(a[key], b[key], d) for a in real for b in deg
            if b["kind"] == "cascade" and b["stage"] == a["stage"] and b["size"] == a["size"]]
    return {"all": share(allp), "n_all": len(allp), "cascade": share(casc), "n_cascade": len(casc)}


def analyse_boxes(rows: list[dict]) -> dict:
    """The box part, per data set (ground truth ``plan.BOX_TRUTH``)."""
    out = {}
    keys = plan.box_scores()
    for ds in [d for d in plan.BOX_DATASETS if any(r["dataset"] == d for r in rows)]:
        sub = [r for r in rows if r["dataset"] == ds]
        nonrandom = [r for r in sub if r["kind"] != "random"]
        top = max((r[plan.BOX_TRUTH] for r in sub if finite(r[plan.BOX_TRUTH])), default=math.nan)
        out[ds] = {
            "n_configs": len(sub), "n_nonrandom": len(nonrandom),
            "top": top, "floor": not (finite(top) and top >= FLOOR),
            "tau": {k: kendall(sub, k, truth=plan.BOX_TRUTH) for k in keys},
            "tau_nonrandom": {k: kendall(nonrandom, k, truth=plan.BOX_TRUTH) for k in keys},
            "above": {k: above_degraded(sub, k) for k in [*keys, plan.BOX_TRUTH]},
        }
    return out


def counted(res: dict) -> list[str]:
    """The box data sets whose ground truth is above its floor (the ones the rule is applied on): a data
    set whose best configuration stays below bbselect's probe floor (``scoring.detection.FLOOR``) has a
    ground truth at its floor; the probe finds nothing from any features, so its τ is noise and it can
    neither support nor refute a score."""
    return [ds for ds in res if not res[ds].get("floor")]


def supported_boxes(res: dict, key: str) -> bool:
    """The study's rule, on every box data set above its floor (``counted``): τ > 0 with p < 0.05 over
    all configurations with a finite score AND pretrained ordered above the degraded configurations in
    >= 80 % of pairs.  No data set above its floor: nothing is supported."""
    dss = counted(res)
    return bool(dss) and all(validated.predicts(res[ds]["tau"][key])
                             and validated.separates(res[ds]["above"][key]["all"]) for ds in dss)
