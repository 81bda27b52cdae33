"""The answer at a glance: the headline and the compact ranking, from a run summary.

Pure functions of the summary (as built in memory, or read back from ``scores.json``). They read the
*primary evidence* generically, so whatever evidence ranks the backbones (label-free scores, probe
accuracy, box AUROC, a detection probe's mAP, ...) shows up without a change here. Per backbone:

    b["primary"]   {"metric": name, "mean", "lo", "hi", optional "chance", "higher_is_better"}
    b["tied_with"] labels whose evidence cannot be told apart from this backbone's
    b["cost"]      {"gflops", "params", and after ``with_timing``: "ms_per_image", "ms_lo", "ms_hi"}

The headline names the recommended backbone (rank 1), its evidence with the 95% interval, the
backbones tied with it, and the cheapest among those by GFLOPs (a stable, analytic cost: measured
ms/image changes from run to run). The HTML page, the terminal table, the notebook API and the
sweep index all use these, so they say the same thing.
"""

from __future__ import annotations


from bbselect.common import finite, fmt_interval
from bbselect.reports.formats import fmt_gflops
from bbselect.scoring import crossfamily

ELLIPSIS = "…"
UNSUPPORTED = ("UNVALIDATED: bbselect's validation study supports no label-free score as a predictor of "
               "transfer on these data (docs/validation.md), so this order describes the maps and is not "
               "evidence; give labels (class folders) or boxes for a verdict")


def shorten_end(text, n: int) -> str:
    """``text`` cut at the END to at most ``n`` characters (``…`` marks the cut); whitespace runs
    become one space. Backbone labels share their start (``mobilenet:alpha=0.25,layer=c4``), so the
    part that tells them apart must not be cut out of the middle; show the full text in a tooltip."""
    text = " ".join(str(text).split())
    if n < 1 or len(text) <= n:
        return text
    return text[: n - 1].rstrip() + ELLIPSIS


def evidence_of(b: dict) -> dict:
    """A backbone's primary evidence (``primary``, else its label-free ``separation``)."""
    return b.get("primary") or {"metric": "separation", **(b.get("separation") or {})}


def metric_of(summary: dict) -> str:
    for b in summary.get("backbones") or []:
        if evidence_of(b).get("metric"):
            return str(evidence_of(b)["metric"])
    return str((summary.get("evidence") or {}).get("metric") or "separation")


def chance_of(b: dict) -> float | None:
    """What the primary evidence scores by chance, when the evidence says so (``primary.chance``),
    or the known value of the metrics bbselect has ranked by so far; None when there is no such line."""
    ev = evidence_of(b)
    if finite(ev.get("chance")):
        return float(ev["chance"])
    metric = str(ev.get("metric") or "")
    if "AUROC" in metric or "auroc" in metric:
        return 0.5
    if "probe accuracy" in metric and finite((b.get("labels") or {}).get("chance")):
        return float(b["labels"]["chance"])
    return None


def scored(summary: dict) -> list[dict]:
    """Backbones with a finite primary evidence, in rank order."""
    bbs = [b for b in summary.get("backbones") or [] if finite(evidence_of(b).get("mean"))]
    return sorted(bbs, key=lambda b: b.get("rank") if isinstance(b.get("rank"), int) else 10**9)


def cheapest(backbones: list[dict]) -> dict | None:
    """The backbone with the fewest GFLOPs (ties keep rank order); None when no cost is known."""
    costed = [b for b in backbones if finite((b.get("cost") or {}).get("gflops"))]
    return min(costed, key=lambda b: b["cost"]["gflops"]) if costed else None


def warning_of(evidence: dict) -> str | None:
    """What the headline must add when the ranking evidence is not earned (None when it is): the
    evidence's own reason (e.g. a detection probe at its floor), else the unvalidated label-free text."""
    if evidence.get("supported", True):
        return None
    return evidence.get("unsupported") or UNSUPPORTED


def headline(summary: dict) -> dict:
    """What the first line of every output says: ``best``, ``metric``, ``evidence`` (mean, lo, hi),
    ``prior`` (what the static ImageNet-top-1 prior picks, or None), ``scope`` (the warning when a score
    supported within a family only ranks different families, else None), ``untrained`` (backbones whose
    features look untrained or off-task, or None),
    ``tied`` (labels), ``cheapest`` (label, or None when the best is itself the cheapest of its tie
    group), ``gflops`` (label -> GFLOPs of the tie group), ``random_weights``, ``n_images``,
    ``warning`` (what the headline adds when the evidence is not earned, else None), ``finetune`` (for the
    detection probe: what its mAP means for a fine-tuned detector, from the fine-tuning study, else None), ``sample``
    (when stability ranks and ran on a sample, e.g. "a stratified sample of 300 of 2,000 images ..."); ``best`` is None
    when no backbone could be scored."""
    run = summary.get("run") or {}
    out = {"best": None, "metric": metric_of(summary), "evidence": None, "tied": [], "cheapest": None,
           "gflops": {}, "random_weights": bool(run.get("random_weights")), "n_images": run.get("n_images"),
           "kind": (summary.get("evidence") or {}).get("evidence"),
           "warning": warning_of(summary.get("evidence") or {}),
           "finetune": (summary.get("evidence") or {}).get("finetune"),
           "sample": ((summary.get("evidence") or {}).get("sample") or {}).get("text")}
    cf = summary.get("cross_family") or {}
    out.update(prior=crossfamily.prior_text(cf), scope=crossfamily.scope_warning(cf, out["metric"]),
               untrained=crossfamily.untrained_text(cf))
    ranked = scored(summary)
    if not ranked:
        return out
    best = ranked[0]
    ev = evidence_of(best)
    tied = [b for b in ranked[1:] if b.get("label") in set(best.get("tied_with") or [])]
    group = [best, *tied]
    cheap = cheapest(group)
    out.update(best=best.get("label"), evidence={k: ev.get(k) for k in ("mean", "lo", "hi")},
               tied=[b.get("label") for b in tied],
               cheapest=cheap.get("label") if cheap is not None and cheap is not best else None,
               gflops={b.get("label"): (b.get("cost") or {}).get("gflops") for b in group})
    return out


NO_RECOMMENDATION = ("No recommendation: no backbone could be scored on these images "
                     "(every map was degenerate); try another --layer.")


def headline_parts(h: dict) -> list[tuple[str, str]]:
    """The headline sentence as (role, text) parts, in order: joined they are ``headline_text``; the
    HTML page marks up the same parts by role (``best``/``cheapest``: the backbone named first / the
    cheapest one, ``label``: another backbone, ``interval``, ``muted``, ``alert``, ``prior``, ``text``)."""
    out = [("alert", "RANDOM WEIGHTS"), ("text", " — ")] if h.get("random_weights") else []
    if h["best"] is None:
        return out + [("text", NO_RECOMMENDATION)]
    lead = "Ranked first (NOT validated across families)" if h.get("scope") else "Recommended"
    basis = (f", on {h['sample']}" if h.get("sample") else f", {h['n_images']} images" if h.get("n_images") else "")
    out += [("text", f"{lead}: "), ("best", h["best"]), ("text", f" — {h['metric']} "),
            ("interval", fmt_interval(h["evidence"])), ("text", " "), ("muted", f"(95% interval{basis})")]
    if h.get("finetune"):
        out += [("text", "; "), ("muted", h["finetune"])]
    if h["tied"]:
        out.append(("text", "; tied with "))
        for i, t in enumerate(h["tied"]):
            out += [("text", ", ")] * bool(i) + [("label", t)]
        if h["cheapest"]:
            out += [("text", "; cheapest among them: "), ("cheapest", h["cheapest"]),
                    ("text", f" ({fmt_gflops(h['gflops'].get(h['cheapest']))} vs "
                             f"{fmt_gflops(h['gflops'].get(h['best']))} GFLOPs)")]
        else:
            out.append(("text", "; it is also the cheapest of them"))
    else:
        out.append(("text", "; no other backbone is tied with it"))
    for k in ("warning", "scope", "prior", "untrained"):
        if h.get(k):
            out += [("text", "; "), ("prior" if k == "prior" else "alert", h[k])]
    return out + [("text", ".")]


def headline_text(h: dict) -> str:
    """The headline as one plain line (the terminal's first line, ``--format json``'s headline, report.md)."""
    return "".join(text for _, text in headline_parts(h))


def ranking_rows(summary: dict) -> list[dict]:
    """One plain dict per backbone in rank order: what the terminal table, ``Result.ranking`` and
    ``to_pandas()`` show. Costs include measured speed only when the summary has it (``with_timing``)."""
    timing = (summary.get("timing") or {}).get("backbones") or {}
    rows = []
    bbs = sorted(summary.get("backbones") or [],
                 key=lambda b: b.get("rank") if isinstance(b.get("rank"), int) else 10**9)
    for b in bbs:
        ev = evidence_of(b)
        cost = {**(b.get("cost") or {}), **timing.get(b.get("label"), {})}
        rows.append({
            "rank": b.get("rank"), "backbone": b.get("label"), "layer": b.get("layer"), "stage": b.get("stage"),
            "metric": ev.get("metric"), "value": _plain(ev.get("mean")), "lo": _plain(ev.get("lo")),
            "hi": _plain(ev.get("hi")), "tied_with": list(b.get("tied_with") or []),
            "gflops": _plain(cost.get("gflops")), "params": cost.get("params"),
            "ms_per_image": _plain(cost.get("ms_per_image")), "ms_lo": _plain(cost.get("ms_lo")),
            "ms_hi": _plain(cost.get("ms_hi")),
            "random_weights": (b.get("weights") or {}).get("kind") == "none",
            "imagenet_top1": (b.get("top1") or {}).get("value"),  # the static prior; None = unknown
        })
    return rows


def _plain(x):
    return float(x) if finite(x) else None
