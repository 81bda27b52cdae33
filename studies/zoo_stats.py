"""Statistics, tables and verdict of the cross-family study (``studies/validation_zoo.py``).

τ is Kendall's τ-b over PAIRS of configurations, restricted by scope:

* ``within``: pairs of the same family (MobileNet v1 with its cascade, MobileNetV2 α1.0 / α0.35 with
  its random-init copy, MobileNetV3 with its random-init copy, each network's two stages) — the setting
  the earlier study measured;
* ``imagenet``: pairs of ImageNet networks of DIFFERENT families (12 configurations, 6 networks);
* ``all``: every pair, off-task, random-init and cascade included.

A NaN score ranks last (as bbselect's ranking does).  Interval: 95 % percentile bootstrap over
configurations (resampled with replacement; a configuration drawn twice forms no pair).  Every score is
oriented so that τ > 0 means "agrees with the ground truth".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bbselect.scoring import validated

SCOPES = ("within", "imagenet", "all")
SCOPE_TEXT = {"within": "within a family", "imagenet": "across ImageNet families", "all": "across everything"}
N_BOOT = 1000
LABEL_SETS = ("trashnet", "magnetic-tile-defects")
BOX_SET = "raccoon"
PRIORS = [("top1", "ImageNet top-1 (prior)"), ("params", "parameters (prior: bigger)"),
          ("gflops", "GFLOPs (prior: bigger)")]
LABEL_FREE = [("stability", "neighbourhood stability"), ("retrieval", "augmentation retrieval"),
              ("effective_rank", "effective rank")]
LABEL_AWARE = [("logme", "LogME"), ("knn", "kNN accuracy")]
BOX = [("objectness", "objectness AUROC"), ("objectness_gain", "objectness gain over prior"),
       ("roi_logme", "ROI-LogME"), ("tlogme", "TLogME")]
HEADING = dict(PRIORS + LABEL_FREE + LABEL_AWARE + BOX)
# the data sets a score's rule is applied on (its tier)
TIER = {**{k: LABEL_SETS for k, _ in LABEL_FREE + LABEL_AWARE}, **{k: (BOX_SET,) for k, _ in BOX}}


def finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def in_scope(row: dict, scope: str) -> bool:
    return scope != "imagenet" or row["kind"] == "imagenet"


def estimators(ds: str) -> list[tuple[str, str]]:
    return PRIORS + LABEL_FREE + (BOX if ds == BOX_SET else LABEL_AWARE)


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
    """The score, higher = claimed better, NaN as the worst value."""
    return np.array([r[key] if finite(r.get(key)) else -1e300 for r in rows], np.float64)


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
    for ds in [d for d in (*LABEL_SETS, BOX_SET) if any(r["dataset"] == d for r in rows)]:
        sub = [r for r in rows if r["dataset"] == ds]
        res = {"n": len(sub), "scores": {}, "heads": {}}
        for key, _ in estimators(ds):
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
                                      default=math.nan) for k, _ in LABEL_FREE + BOX}
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
    dss = [ds for ds in TIER.get(key, ()) if ds in res]
    why = []
    for ds in dss:
        if not truth_holds(res, ds):
            t = res[ds]["heads"].get("_b", {}).get("imagenet", {})
            why.append(f"{ds}: its ground truth does not hold across head designs (τ between the two heads across "
                       f"ImageNet families {fmt(t.get('tau'))} [{fmt(t.get('lo'))}, {fmt(t.get('hi'))}])")
        t = res[ds]["scores"][key]["tau"]["imagenet"]["tau"]
        p = res[ds]["scores"]["top1"]["tau"]["imagenet"]["tau"]
        if not (finite(t) and finite(p) and t >= p):
            why.append(f"{ds}: τ across ImageNet families {fmt(t)} < prior {fmt(p)}")
        if res[ds]["scores"][key]["offtask_last"] is not True:
            why.append(f"{ds}: off-task VGG16 not below every ImageNet network")
    ok = bool(dss) and not why
    return {"scope": "across" if ok else "within", "datasets": dss, "why": why}


def fmt(v, nd=2) -> str:
    return "NaN" if not finite(v) else f"{v:.{nd}f}"


def fmt_ci(t: dict) -> str:
    return f"{fmt(t['tau'])} [{fmt(t['lo'])}, {fmt(t['hi'])}]"


def yes(v) -> str:
    return "–" if v is None else ("yes" if v else "**no**")


def config_text(r: dict) -> str:
    kind = {"imagenet": "", "off-task": "off-task ", "random": "random-init ", "cascade": "cascade "}[r["kind"]]
    return f"{kind}{r['config']}"


def score_table(res: dict, ds: str) -> list[str]:
    lines = ["| estimator | τ within a family [95% CI] | τ across ImageNet families [95% CI] | τ across everything [95% CI] "
             "| pick in truth's tie set (ImageNet / all) | off-task below every ImageNet network | rule |",
             "|---|---|---|---|---|---|---|"]
    for key, head in estimators(ds):
        s = res[ds]["scores"][key]
        name = f"*{head}*" if key in dict(PRIORS) else head
        scope = "prior" if key in dict(PRIORS) else ("**across families**" if rule(res, key)["scope"] == "across"
                                                      else "within a family only")
        lines.append(f"| {name} | {fmt_ci(s['tau']['within'])} | {fmt_ci(s['tau']['imagenet'])} | "
                     f"{fmt_ci(s['tau']['all'])} | {yes(s['pick']['imagenet'])} / {yes(s['pick']['all'])} | "
                     f"{yes(s['offtask_last'])} | {scope} |")
    return lines


def heads_table(res: dict, ds: str) -> list[str]:
    heads = res[ds]["heads"]
    name = {"_b": "second head (design B) vs bbselect's probe",
            "_pos": "bbselect's probe with per-position normalisation vs as shipped"}
    lines = ["| ground truth compared | τ within a family | τ across ImageNet families | τ across everything "
             "| B's best in A's tie set (ImageNet / all) |", "|---|---|---|---|---|"]
    for h, t in heads.items():
        lines.append(f"| {name[h]} | {fmt_ci(t['within'])} | {fmt_ci(t['imagenet'])} | {fmt_ci(t['all'])} | "
                     f"{yes(t['pick']['imagenet'])} / {yes(t['pick']['all'])} |")
    return lines


def ranks_table(rows: list[dict], ds: str) -> list[str]:
    """The trained networks' ground truth under each head, with its rank among them (1 = best)."""
    sub = [r for r in rows if r["dataset"] == ds and r["kind"] in ("imagenet", "off-task")]
    heads = [h for h in ("truth", "truth_pos", "truth_b") if any(finite(r.get(h)) for r in sub)]
    name = {"truth": "bbselect's probe (as shipped)", "truth_pos": "bbselect's probe, per-position normalised",
            "truth_b": "head B"}
    rank = {}
    for h in heads:
        order = sorted((r for r in sub if finite(r.get(h))), key=lambda r: -r[h])
        rank[h] = {r["config"]: i + 1 for i, r in enumerate(order)}
    lines = ["| configuration | " + " | ".join(f"{name[h]} (rank)" for h in heads) + " | largest rank change |",
             "|---|" + "---|" * (len(heads) + 1)]
    for r in sorted(sub, key=lambda r: rank["truth"].get(r["config"], 99)):
        rs = [rank[h].get(r["config"]) for h in heads]
        known = [x for x in rs if x is not None]
        lines.append(f"| {config_text(r)} | " + " | ".join(f"{fmt(r.get(h), 3)} ({x})" for h, x in zip(heads, rs))
                     + f" | {max(known) - min(known) if known else '–'} |")
    return lines


def rows_table(rows: list[dict], ds: str) -> list[str]:
    sub = sorted((r for r in rows if r["dataset"] == ds), key=lambda r: -r["truth"] if finite(r["truth"]) else 9)
    box = ds == BOX_SET
    cols = ["truth_pos", "truth_b"] if box else ["truth_b"]
    est = [k for k, _ in estimators(ds) if k != "top1"]
    lines = ["| configuration | family | top-1 | truth [95% CI] | " + " | ".join(cols + est) + " |",
             "|---|---|---:|---|" + "---:|" * (len(cols) + len(est))]
    for r in sub:
        vals = [fmt(r.get(c), 3) for c in cols]
        for k in est:
            v = r.get(k)
            vals.append(f"{v / 1e6:.1f} M" if k == "params" and finite(v) else fmt(v, 1 if k in ("effective_rank", "gflops") else 3))
        lines.append(f"| {config_text(r)} | {r['family']} | {fmt(r.get('top1'), 1)} | {fmt(r['truth'], 3)} "
                     f"[{fmt(r.get('truth_lo'))}, {fmt(r.get('truth_hi'))}] | " + " | ".join(vals) + " |")
    return lines


def page(rows: list[dict], res: dict, meta: dict) -> str:
    from bbselect.scoring.validated import MARKERS

    quick = meta.get("quick")
    p = [MARKERS["zoo"][0], "## Across families: does any score beat the static prior?", "",
         f"*Generated by `{meta['command']}` in {meta['seconds'] / 60:.1f} min ({meta['seconds']:.0f} s wall, "
         f"{meta.get('cores')} shared cores; models, probes and scores included). Rows and statistics: "
         "`studies/validation_zoo.py`, `studies/zoo_stats.py`.*", ""]
    if meta.get("processes", 1) > 1:
        p += [f"*The configurations were split over {meta['processes']} processes (`--only ID,...` each, `--json` "
              "each), run side by side on the same machine and joined by `--from-json A.json,B.json`; the time above "
              "is the longer one. Paired tests across processes use the stored image-bootstrap replicates (the same "
              "resamples everywhere), so nothing is lost by the split.*", ""]
    if quick:
        p += ["**QUICK SMOKE RUN** (few networks, few images): these numbers test the script, they are not "
              "evidence; `validated.json` is not written from them.", ""]
    p += [
        "Every result above this section was measured inside ONE architecture (MobileNet v1 and its degraded "
        "copies). This section asks the question bbselect's default job poses: ranking *different families*. "
        "Configurations per data set: the six ImageNet networks of `../shared/weights/zoo` (MobileNet v1 α0.25, "
        "MobileNetV2 α1.0 and α0.35, MobileNetV3-Small, EfficientNet-Lite0, SqueezeNet 1.1) at their two deepest "
        "stages (c4, c5; SqueezeNet: fire5 = c3 and fire9 = c4), input 224; the **off-task VGG16** (real weights "
        "of an edge detector, HED on BSDS500); random-init MobileNetV2 α1.0 and MobileNetV3-Small (c4, c5, seed 0); "
        "the cascading randomisation of MobileNet v1 at c5 (k = 1, 4, 8). Networks are loaded as `zoo.json` "
        "says (`studies/zoo.py`, one function) and handed to bbselect through `register_model`.",
        "",
        "Ground truths: linear-probe accuracy on trashnet and magnetic-tile-defects (stretch 224; "
        "`bbselect.probes.labels`), detection-probe mAP@0.5 on raccoon (letterbox 224; `bbselect.probes.detection`, "
        f"{meta.get('probe_epochs', 20)} epochs). **Each is checked against a second head of a different design** "
        "(`studies/second_heads.py`): for labels a ridge classifier on power- and L2-normalised features; for "
        "boxes a separately written Keras CenterNet-style head with per-position normalisation (LayerNorm over "
        "each cell's channels), 64 hidden channels, no coordinate channels, Adam, batch 32, 20 epochs; plus bbselect's own probe "
        "with per-position normalisation added (`ProbeConfig(normalise=\"position\")`).",
        "",
        "Estimators: neighbourhood stability, augmentation retrieval, effective rank (label-free); on raccoon the "
        "cheap box scores (objectness AUROC and its gain over the position prior, ROI-LogME, TLogME); LogME and kNN "
        "(label-aware); and the **static priors as rows**: the documented ImageNet top-1 (for the off-task and "
        "random-init copies the prior reads their architecture's value, as a prior that sees only names would), "
        "parameter count and GFLOPs (bigger = better).",
        "",
        "τ is Kendall's τ-b over pairs of configurations in three scopes: **within a family** (same family: the "
        "setting of the study above), **across ImageNet families** (pairs of ImageNet networks of different "
        "families), **across everything** (all pairs: off-task, random-init, cascade included); NaN ranks last; "
        f"95 % percentile bootstrap over configurations ({N_BOOT} resamples). *Pick in tie set*: is the "
        "estimator's first choice tied with the ground truth's best under the paired test (McNemar on the same "
        "images and folds for accuracy; paired image bootstrap for mAP@0.5)?",
        "",
        "**Rule** (written per score into `validated.json`, key `zoo`): a score may rank **across families** only "
        "if, on every data set of its tier (label-free and label-aware scores: trashnet and magnetic-tile-defects; "
        "box scores: raccoon), its τ across ImageNet families is at least the ImageNet-top-1 prior's AND it ranks "
        "the off-task VGG16 below every ImageNet network AND that data set's ground truth holds across head "
        "designs (the τ between bbselect's head and head B across ImageNet families has a 95 % interval above 0: "
        "a score cannot be shown to track a ground truth that itself depends on the head). Otherwise its support "
        "(if any) holds within a family only.",
        "",
    ]
    for ds in res:
        truth = "mAP@0.5" if ds == BOX_SET else "linear-probe accuracy"
        p += [f"### {ds} (ground truth: {truth}; {res[ds]['n']} configurations)", "", *score_table(res, ds), "",
              "Do the ground truths hold across head designs? τ between the two heads' values over the same "
              "configurations:", "", *heads_table(res, ds), "",
              "The trained networks under each head (value and rank among them):", "", *ranks_table(rows, ds), ""]
    p += ["### Verdict (across families)", "", *verdict(res), ""]
    p += ["### Per-configuration numbers (across families)", ""]
    for ds in res:
        p += [f"#### {ds}", "", *rows_table(rows, ds), ""]
    p += [MARKERS["zoo"][1]]
    return "\n".join(p)


def verdict(res: dict) -> list[str]:
    out = []
    across = [k for k, _ in LABEL_FREE + LABEL_AWARE + BOX if any(k in res[d]["scores"] for d in res)
              and rule(res, k)["scope"] == "across"]
    out.append("Scores allowed to rank across families: " + (", ".join(f"`{HEADING[k]}`" for k in across) or
                                                               "**none**") + ".")
    for k, _ in LABEL_FREE + LABEL_AWARE + BOX:
        if not any(k in res[d]["scores"] for d in res):
            continue
        r = rule(res, k)
        if r["scope"] != "across" and r["why"]:
            out.append(f"- `{HEADING[k]}`: within a family only — " + "; ".join(r["why"]) + ".")
    for ds in res:
        t = ((res[ds].get("heads") or {}).get("_b") or {}).get("imagenet")
        if t:
            out.append(f"- {ds}: the ground truth {'holds' if truth_holds(res, ds) else '**does not hold**'} across "
                       f"head designs (τ between bbselect's head and head B across ImageNet families {fmt_ci(t)}).")
    for ds in res:
        p = res[ds]["scores"]["top1"]
        out.append(f"- {ds}: the ImageNet-top-1 prior's τ across ImageNet families {fmt_ci(p['tau']['imagenet'])}, "
                   f"across everything {fmt_ci(p['tau']['all'])}; its pick is in the truth's tie set "
                   f"(ImageNet / all): {yes(p['pick']['imagenet'])} / {yes(p['pick']['all'])}.")
    return out


def zoo_json(res: dict, meta: dict) -> dict:
    scores = {}
    for k, _ in LABEL_FREE + LABEL_AWARE + BOX:
        if not any(k in res[d]["scores"] for d in res):
            continue
        r = rule(res, k)
        scores[k] = {"scope": r["scope"], "why": r["why"], "datasets": r["datasets"],
                     "tau": {ds: {s: res[ds]["scores"][k]["tau"][s] for s in SCOPES} for ds in res if k in res[ds]["scores"]},
                     "offtask_last": {ds: res[ds]["scores"][k]["offtask_last"] for ds in res if k in res[ds]["scores"]},
                     "pick_in_ties": {ds: res[ds]["scores"][k]["pick"] for ds in res if k in res[ds]["scores"]}}
    level = {}
    for k, _ in LABEL_FREE:
        vals = {ds: res[ds]["random_level"][k] for ds in LABEL_SETS if ds in res and finite(res[ds]["random_level"].get(k))}
        level[k] = {"per_dataset": vals, "flag_below": min(vals.values()) if vals else None}
    return {"generated_by": meta["command"], "seconds": round(meta["seconds"]),
            "rule": validated.ZOO_RULE,
            "prior": {ds: {s: res[ds]["scores"]["top1"]["tau"][s] for s in SCOPES} for ds in res},
            "random_level": level, "scores": scores}


def render(rows: list[dict], meta: dict, args) -> None:
    from bbselect.scoring.validated import keep_blocks

    res = analyse(rows)
    for ds in res:
        print(f"\n== {ds} ==")
        print("\n".join(score_table(res, ds)))
        print("\n".join(heads_table(res, ds)))
    print("\n".join(verdict(res)))
    print("\n" + readme_table(res))
    if getattr(args, "no_doc", False):
        return
    if meta.get("quick") and Path(args.doc).resolve() == (Path(__file__).resolve().parents[1] / "docs" / "validation.md"):
        print("--quick: docs/validation.md and validated.json are left as they are (pass --doc FILE to see the page)")
        return
    doc = Path(args.doc)
    old = doc.read_text() if doc.is_file() else ""
    from bbselect.scoring.validated import block

    new_block = page(rows, res, meta)
    cur = block(old, "zoo")
    text = old.replace(cur, new_block) if cur else old.rstrip("\n") + "\n\n" + new_block + "\n"
    doc.write_text(keep_blocks(old, text, owns=("zoo",)))
    if meta.get("quick"):
        print(f"--quick: wrote the QUICK block into {doc}; validated.json left as it is")
        return
    vpath = Path(args.validated)
    validated.write(vpath, {"zoo": zoo_json(res, meta)}, owns=("zoo",))
    print(f"wrote {doc} and {vpath}")


def readme_table(res: dict) -> str:
    """The compact table docs/evidence.md quotes under "Across families" (printed by ``render``)."""
    dss = list(res)
    lines = ["| estimator | τ across ImageNet families (" + " / ".join(dss) + ") | τ across everything ("
             + " / ".join(dss) + ") | off-task VGG16 below every ImageNet network | may rank across families? |",
             "|---|---|---|---|---|"]
    for key, head in PRIORS[:1] + LABEL_FREE + LABEL_AWARE + BOX:
        have = [ds for ds in dss if key in res[ds]["scores"]]
        def t(s, key=key, have=have):
            return " / ".join(fmt(res[ds]["scores"][key]["tau"][s]["tau"]) if ds in have else "–" for ds in dss)
        off = " / ".join(yes(res[ds]["scores"][key]["offtask_last"]) if ds in have else "–" for ds in dss)
        verdict = "prior" if key == "top1" else ("**yes**" if rule(res, key)["scope"] == "across" else "no")
        lines.append(f"| {head} | {t('imagenet')} | {t('all')} | {off} | {verdict} |")
    return "\n".join(lines)
