"""The labels part's verdict in words: per score, the label-free verdict (neighbourhood stability) and
data-driven caveats on what the "all configurations" τ is made of."""

from __future__ import annotations

from bbselect.common import finite
from bbselect.scoring import validated
from studies.tables import fmt, fmt_p
from studies.validation import plan
from studies.validation.analyse import supported


def per_score(res: dict) -> list[str]:
    out = []
    dss = list(res)
    for k in plan.label_scores():
        pred = [ds for ds in dss if validated.predicts(res[ds]["tau"][k])]
        sep = [ds for ds in dss if validated.separates(res[ds]["rvr"][k]["all"])]
        neg = [ds for ds in dss if validated.inverted(res[ds]["tau"][k])]
        if supported(res, k):
            word = "**supported** on both data sets"
        elif pred or sep:
            why = []
            if len(pred) < len(dss):
                why.append(("τ > 0 with p < 0.05 only on " + ", ".join(pred)) if pred
                           else "τ > 0 with p < 0.05 on neither data set")
            if len(sep) < len(dss):
                why.append(("pretrained ranked first in ≥ 80 % of pairs only on " + ", ".join(sep)) if sep
                           else "pretrained ranked first in ≥ 80 % of pairs on neither data set")
            word = "**not supported** (" + "; ".join(why) + ")"
        else:
            word = "**not supported**"
        if neg:
            word += f"; significantly *inverted* (higher score = worse probe) on {', '.join(neg)}"
        taus = ", ".join(f"{ds} τ = {fmt(res[ds]['tau'][k]['tau'])} (p {fmt_p(res[ds]['tau'][k]['p'])}, "
                         f"n = {res[ds]['tau'][k]['n']})" for ds in dss)
        rv = ", ".join(f"{ds} {fmt(res[ds]['rvr'][k]['all'])}" for ds in dss)
        tr = ", ".join(f"{ds} {fmt(res[ds]['tau_real'][k]['tau'])}" for ds in dss)
        out.append(f"- `{plan.heading(k)}` — {word}. {taus}. Pretrained ranked above random in {rv} of pairs. "
                   f"Pretrained-only τ: {tr}.")
    return out


def stability_verdict(res: dict) -> str:
    """What the label-free verdict may rest on: neighbourhood stability, if this study supports it (the
    tool ranks by it only while ``validated.json`` says so, and quotes its non-random τ)."""
    s = {ds: (res[ds]["tau"]["stability"], res[ds]["tau_nonrandom"]["stability"], res[ds]["tau_real"]["stability"])
         for ds in res}
    taus = "; ".join(f"{ds} τ = {fmt(a['tau'])} (p {fmt_p(a['p'])}) over all configurations, {fmt(b['tau'])} "
                     f"(p {fmt_p(b['p'])}) over pretrained + cascade (the τ the verdict quotes), {fmt(c['tau'])} "
                     "over pretrained only" for ds, (a, b, c) in s.items())
    if supported(res, "stability"):
        return ("**Label-free verdict: neighbourhood stability is supported** by the rule above, so bbselect "
                f"ranks by it when there are no labels and no boxes: {taus}.")
    return ("**Label-free verdict: neighbourhood stability is NOT supported** by the rule above on these "
            f"runs ({taus}), so `validated.json` says so and a label-free ranking is marked UNVALIDATED.")


def finer(rows: list[dict], res: dict) -> list[str]:
    """Data-driven caveats: what the 'all configurations' τ is made of."""
    real = [r for r in rows if r["kind"] == "real"]
    n_real = len(real) // max(1, len(res))

    def best(keys):
        return ", ".join(f"`{plan.heading(k)}` " + "/".join(fmt(res[ds]["tau_real"][k]["tau"]) for ds in res)
                         for k in keys)
    out = [f"**Choosing among pretrained candidates** (the tool's real use) is a finer question than "
           f"pretrained vs random. Over the {n_real} pretrained configurations only (τ per data set, "
           f"{' / '.join(res)}; n = {n_real}, so none of these is statistically meaningful): "
           + best(plan.label_free()) + "; label-aware " + best(plan.label_aware()) + "."]
    # dead_fraction / effective_rank mostly detect dead networks
    dead_real = sorted({r["dead_fraction"] for r in real if finite(r["dead_fraction"])})
    dead_rand = [r for r in rows if r["kind"] == "random" and finite(r["dead_fraction"]) and r["dead_fraction"] >= 0.99]
    n_rand = sum(1 for r in rows if r["kind"] == "random")
    out += ["", f"`dead_fraction` takes only the values {', '.join(fmt(v, 3) for v in dead_real)} on the pretrained "
            f"configurations, while {len(dead_rand)} of {n_rand} random-init configurations have every pooled "
            "channel dead (≥ 0.99; their maps are constant, so every map score is NaN for them). Its τ, and "
            "much of `effective_rank`'s, measures *\"is this network dead?\"* — useful as a sanity gate, "
            "not evidence for choosing between healthy pretrained backbones."]
    # coverage of max-map scores on pretrained configs
    cov = [r["n_images"] - r["max.otsu.n_missing"] for r in real
           if r.get("max.otsu.n_missing") is not None and finite(r["max.otsu"])]
    if cov:
        out += ["", f"The `max`-map scores exist for {len(cov)} of {len(real)} pretrained configurations, and "
                f"there they rest on a median of {sorted(cov)[len(cov) // 2]} scorable images out of ≈ 240 "
                "(MobileNet's channel-max map is saturated at the ReLU6 ceiling almost everywhere). Their τ "
                "values are therefore not a usable signal on this backbone, whatever their sign."]
    return out
