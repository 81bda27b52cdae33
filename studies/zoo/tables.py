"""The cross-family study's tables (Markdown, also printed): the estimators' τ per scope, the two heads'
agreement, the trained networks' ranks under each head and the per-configuration numbers.  (The compact
table other pages quote is rendered from validated.json: ``bbselect.scoring.studytables``.)"""

from __future__ import annotations

from bbselect.common import finite
from studies.tables import fmt, fmt_ci, markdown, yes
from studies.zoo import plan
from studies.zoo.analyse import rule

HEAD_NAMES = {"_b": "second head (design B) vs bbselect's probe",
              "_pos": "bbselect's probe with per-position normalisation vs as shipped"}
TRUTH_NAMES = {"truth": "bbselect's probe (as shipped)", "truth_pos": "bbselect's probe, per-position normalised",
               "truth_b": "head B"}


def config_text(r: dict) -> str:
    kind = {"imagenet": "", "off-task": "off-task ", "random": "random-init ", "cascade": "cascade "}[r["kind"]]
    return f"{kind}{r['config']}"


def score_table(res: dict, ds: str) -> list[str]:
    rows = []
    for key in plan.estimators(ds):
        s = res[ds]["scores"][key]
        prior = key in plan.PRIORS
        scope = "prior" if prior else ("**across families**" if rule(res, key)["scope"] == "across"
                                       else "within a family only")
        rows.append([f"*{plan.heading(key)}*" if prior else plan.heading(key), fmt_ci(s["tau"]["within"]),
                     fmt_ci(s["tau"]["imagenet"]), fmt_ci(s["tau"]["all"]),
                     f"{yes(s['pick']['imagenet'])} / {yes(s['pick']['all'])}", yes(s["offtask_last"]), scope])
    head = ["estimator", "τ within a family [95% CI]", "τ across ImageNet families [95% CI]",
            "τ across everything [95% CI]", "pick in truth's tie set (ImageNet / all)",
            "off-task below every ImageNet network", "rule"]
    return markdown(head, rows, "l" * 7)


def heads_table(res: dict, ds: str) -> list[str]:
    rows = [[HEAD_NAMES[h], fmt_ci(t["within"]), fmt_ci(t["imagenet"]), fmt_ci(t["all"]),
             f"{yes(t['pick']['imagenet'])} / {yes(t['pick']['all'])}"] for h, t in res[ds]["heads"].items()]
    head = ["ground truth compared", "τ within a family", "τ across ImageNet families", "τ across everything",
            "B's best in A's tie set (ImageNet / all)"]
    return markdown(head, rows, "l" * 5)


def ranks_table(rows: list[dict], ds: str) -> list[str]:
    """The trained networks' ground truth under each head, with its rank among them (1 = best)."""
    sub = [r for r in rows if r["dataset"] == ds and r["kind"] in ("imagenet", "off-task")]
    heads = [h for h in ("truth", "truth_pos", "truth_b") if any(finite(r.get(h)) for r in sub)]
    rank = {}
    for h in heads:
        order = sorted((r for r in sub if finite(r.get(h))), key=lambda r: -r[h])
        rank[h] = {r["config"]: i + 1 for i, r in enumerate(order)}
    out = []
    for r in sorted(sub, key=lambda r: rank["truth"].get(r["config"], 99)):
        rs = [rank[h].get(r["config"]) for h in heads]
        known = [x for x in rs if x is not None]
        out.append([config_text(r), *(f"{fmt(r.get(h), 3)} ({x})" for h, x in zip(heads, rs)),
                    str(max(known) - min(known)) if known else "–"])
    head = ["configuration", *(f"{TRUTH_NAMES[h]} (rank)" for h in heads), "largest rank change"]
    return markdown(head, out, "l" * (len(heads) + 2))


def _value(k: str, v) -> str:
    if k == "params" and finite(v):
        return f"{v / 1e6:.1f} M"
    return fmt(v, 1 if k in ("effective_rank", "gflops") else 3)


def rows_table(rows: list[dict], ds: str) -> list[str]:
    sub = sorted((r for r in rows if r["dataset"] == ds), key=lambda r: -r["truth"] if finite(r["truth"]) else 9)
    cols = ["truth_pos", "truth_b"] if ds == plan.BOX_SET else ["truth_b"]
    est = [k for k in plan.estimators(ds) if k != plan.TOP1]
    out = [[config_text(r), r["family"], fmt(r.get("top1"), 1),
            f"{fmt(r['truth'], 3)} [{fmt(r.get('truth_lo'))}, {fmt(r.get('truth_hi'))}]",
            *(fmt(r.get(c), 3) for c in cols), *(_value(k, r.get(k)) for k in est)] for r in sub]
    head = ["configuration", "family", "top-1", "truth [95% CI]", *cols, *est]
    return markdown(head, out, "llrl" + "r" * (len(cols) + len(est)))
