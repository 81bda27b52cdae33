"""The cross-family study's tables (Markdown, also printed): the estimators' τ per scope, the two heads'
agreement, the trained networks' ranks under each head, the per-configuration numbers and the compact
table docs/evidence.md quotes."""

from __future__ import annotations

from bbselect.common import finite
from studies.tables import fmt, fmt_ci, yes
from studies.zoo import plan
from studies.zoo.analyse import rule


def config_text(r: dict) -> str:
    kind = {"imagenet": "", "off-task": "off-task ", "random": "random-init ", "cascade": "cascade "}[r["kind"]]
    return f"{kind}{r['config']}"


def score_table(res: dict, ds: str) -> list[str]:
    lines = ["| estimator | τ within a family [95% CI] | τ across ImageNet families [95% CI] | τ across everything [95% CI] "
             "| pick in truth's tie set (ImageNet / all) | off-task below every ImageNet network | rule |",
             "|---|---|---|---|---|---|---|"]
    for key in plan.estimators(ds):
        s = res[ds]["scores"][key]
        name = f"*{plan.heading(key)}*" if key in plan.PRIORS else plan.heading(key)
        scope = "prior" if key in plan.PRIORS else ("**across families**" if rule(res, key)["scope"] == "across"
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
    box = ds == plan.BOX_SET
    cols = ["truth_pos", "truth_b"] if box else ["truth_b"]
    est = [k for k in plan.estimators(ds) if k != plan.TOP1]
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


def readme_table(res: dict) -> str:
    """The compact table docs/evidence.md quotes under "Across families" (printed by ``write.render``)."""
    dss = list(res)
    lines = ["| estimator | τ across ImageNet families (" + " / ".join(dss) + ") | τ across everything ("
             + " / ".join(dss) + ") | off-task VGG16 below every ImageNet network | may rank across families? |",
             "|---|---|---|---|---|"]
    for key in [plan.TOP1, *plan.scores()]:
        have = [ds for ds in dss if key in res[ds]["scores"]]
        def t(s, key=key, have=have):
            return " / ".join(fmt(res[ds]["scores"][key]["tau"][s]["tau"]) if ds in have else "–" for ds in dss)
        off = " / ".join(yes(res[ds]["scores"][key]["offtask_last"]) if ds in have else "–" for ds in dss)
        verdict = "prior" if key == plan.TOP1 else ("**yes**" if rule(res, key)["scope"] == "across" else "no")
        lines.append(f"| {plan.heading(key)} | {t('imagenet')} | {t('all')} | {off} | {verdict} |")
    return "\n".join(lines)
