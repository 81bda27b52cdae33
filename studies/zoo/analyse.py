"""The cross-family study's statistics and its rule.

τ is Kendall's τ-b over PAIRS of configurations, restricted by scope:

* ``within``: pairs of the same family (MobileNet v1 with its cascade, MobileNetV2 α1.0 / α0.35 with
  its random-init copy, MobileNetV3 with its random-init copy, each network's two stages) — the setting
  the within-family study measured;
* ``imagenet``: pairs of ImageNet networks of DIFFERENT families (12 configurations, 6 networks);
* ``all``: every pair, off-task, random-init and cascade included.

A NaN score ranks last (as bbselect's ranking does).  Interval: 95 % percentile bootstrap over
configurations (resampled with replacement; a configuration drawn twice forms no pair).  Every score is
oriented so that τ > 0 means "agrees with the ground truth".  ``tie_sets`` marks, per scope and head,
the configurations tied with the best under a paired test (stored in the rows).
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.common import finite
from bbselect.scoring.stats import mcnemar
from studies.tables import fmt
from studies.zoo import plan

SCOPES = ("within", "imagenet", "all")
N_BOOT = 1000


def in_scope(row: dict, scope: str) -> bool:
    return scope != "imagenet" or row["kind"] == "imagenet"


def allowed(rows: list[dict], scope: str) -> np.ndarray:
    fam = np.array([r["family"] for r in rows])
    same = fam[:, None] == fam[None, :]
    if scope == "within":
        return same
    if scope == "imagenet":
        ok = np.array([r["kind"] == "imagenet" for r in rows])
        return ok[:, None] & ok[None, :] & ~same
    return np.ones_like(same)


def oriented(rows: list[dict], key: str) -> np.ndarray:
    """The score, higher = claimed better (the registry's direction), NaN as the worst value."""
    d = plan.direction(key)  # +1 for the ground truths and priors too
    return np.array([d * r[key] if finite(r.get(key)) else -1e300 for r in rows], np.float64)


def pair_tau(x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> tuple[float, int]:
    """τ-b over the allowed pairs i < j: (C - D) / sqrt(pairs untied in x × pairs untied in y)."""
    upper = np.triu(ok, 1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    n1, n2 = int(np.count_nonzero(dx)), int(np.count_nonzero(dy))
    if n1 == 0 or n2 == 0:
        return math.nan, int(upper.sum())
    return float(np.sum(dx * dy) / math.sqrt(n1 * n2)), int(upper.sum())


def tau_ci(rows: list[dict], key: str, scope: str, truth: str = "truth", seed: int = 0) -> dict:
    sub = [r for r in rows if finite(r.get(truth))]
    x, y, ok = oriented(sub, key), np.array([r[truth] for r in sub]), allowed(sub, scope)
    tau, n = pair_tau(x, y, ok)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(N_BOOT):
        i = rng.integers(0, len(sub), len(sub))
        t, _ = pair_tau(x[i], y[i], ok[np.ix_(i, i)])
        if finite(t):
            boots.append(t)
    lo, hi = (float(v) for v in np.percentile(boots, [2.5, 97.5])) if len(boots) > 20 else (math.nan, math.nan)
    return {"tau": tau, "lo": lo, "hi": hi, "pairs": n}


def pick_in_ties(rows: list[dict], key: str, scope: str, head: str = "") -> bool | None:
    """Does the score's first choice in this scope tie with the ground truth's best (paired test)?"""
    sub = [r for r in rows if in_scope(r, scope) and f"tie_{scope}{head}" in r]
    if not sub:
        return None
    x = oriented(sub, key)
    return bool(sub[int(np.argmax(x))][f"tie_{scope}{head}"])


def offtask_last(rows: list[dict], key: str) -> bool | None:
    """Does the score rank every off-task configuration below every ImageNet one?"""
    x = {id(r): v for r, v in zip(rows, oriented(rows, key))}
    off = [x[id(r)] for r in rows if r["kind"] == "off-task"]
    imn = [x[id(r)] for r in rows if r["kind"] == "imagenet"]
    if not off or not imn:
        return None
    return bool(max(off) < min(imn))


def analyse(rows: list[dict]) -> dict:
    out = {}
    for ds in [d for d in (*plan.LABEL_SETS, plan.BOX_SET) if any(r["dataset"] == d for r in rows)]:
        sub = [r for r in rows if r["dataset"] == ds]
        res = {"n": len(sub), "scores": {}, "heads": {}}
        for key in plan.estimators(ds):
            res["scores"][key] = {
                "tau": {s: tau_ci(sub, key, s) for s in SCOPES},
                "pick": {s: pick_in_ties(sub, key, s) for s in ("imagenet", "all")},
                "offtask_last": offtask_last(sub, key),
            }
        for head in ("_b", "_pos"):
            if any(finite(r.get("truth" + head)) for r in sub):
                res["heads"][head] = {s: tau_ci(sub, "truth" + head, s) for s in SCOPES}
                res["heads"][head]["pick"] = {s: pick_in_ties(sub, "truth" + head, s) for s in ("imagenet", "all")}
        res["random_level"] = {k: max((r[k] for r in sub if r["kind"] == "random" and finite(r.get(k))),
                                      default=math.nan) for k in plan.estimators(plan.BOX_SET) if k not in plan.PRIORS}
        out[ds] = res
    return out


def truth_holds(res: dict, ds: str) -> bool:
    """Does the data set's ground truth hold across head designs?  The τ between bbselect's head and head
    B across ImageNet families has a 95 % interval above 0."""
    t = ((res[ds].get("heads") or {}).get("_b") or {}).get("imagenet") or {}
    return finite(t.get("lo")) and t["lo"] > 0


def rule(res: dict, key: str) -> dict:
    """Across families only if, on every data set of the score's tier: the ground truth holds across head
    designs (``truth_holds``), τ across ImageNet families ≥ the ImageNet-top-1 prior's, AND every off-task
    configuration ranked below every ImageNet one."""
    dss = [ds for ds in plan.rule_datasets(key) if ds in res]
    why = []
    for ds in dss:
        if not truth_holds(res, ds):
            t = res[ds]["heads"].get("_b", {}).get("imagenet", {})
            why.append(f"{ds}: its ground truth does not hold across head designs (τ between the two heads across "
                       f"ImageNet families {fmt(t.get('tau'))} [{fmt(t.get('lo'))}, {fmt(t.get('hi'))}])")
        t = res[ds]["scores"][key]["tau"]["imagenet"]["tau"]
        p = res[ds]["scores"][plan.TOP1]["tau"]["imagenet"]["tau"]
        if not (finite(t) and finite(p) and t >= p):
            why.append(f"{ds}: τ across ImageNet families {fmt(t)} < prior {fmt(p)}")
        if res[ds]["scores"][key]["offtask_last"] is not True:
            why.append(f"{ds}: off-task VGG16 not below every ImageNet network")
    ok = bool(dss) and not why
    return {"scope": "across" if ok else "within", "datasets": dss, "why": why}


def tie_sets(rows: list[dict]) -> None:
    """Per data set, scope and head: is each configuration tied with that scope's best under the paired
    test (McNemar on the same images and folds for accuracy; paired image bootstrap of mAP@0.5 from the
    rows' replicates)?  Written into the rows as ``tie_<scope><head>``."""
    for ds in {r["dataset"] for r in rows}:
        sub = [r for r in rows if r["dataset"] == ds]
        for scope in ("imagenet", "all"):
            members = [r for r in sub if in_scope(r, scope)]
            for head in ("", "_b", "_pos"):
                key = "truth" + head
                have = [r for r in members if finite(r.get(key))]
                if not have:
                    continue
                best = max(have, key=lambda r: r[key])
                for r in have:
                    if r is best:
                        tied = True
                    elif ds == plan.BOX_SET:
                        d = np.asarray(best["boot" + head]) - np.asarray(r["boot" + head])
                        lo, hi = np.percentile(d, [2.5, 97.5])
                        tied = bool(lo <= 0 <= hi)
                    else:
                        tied = mcnemar(best["correct" + head], r["correct" + head])["tied"]
                    r[f"tie_{scope}{head}"] = bool(tied)
