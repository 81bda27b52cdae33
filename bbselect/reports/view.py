"""The presentation model: a run summary as what people read — the headline's parts and every table as data.

``report_view(summary)`` is what report.html and report.md show, ``terminal_view(summary)`` what the
end of a text-mode run prints. Every number in them is a ``formats.Cell`` (its kind and its one text,
from the one formatter of that kind) and every sentence is composed here or in ``headline`` /
``content``, so the renderers (``html``, ``markdown``, ``terminal``) only escape and lay out, and the
same value reads the same in all three. Pure functions of the summary (as built in memory, with
measured speeds merged by ``render.with_timing``, or as read back from scores.json).
"""

from __future__ import annotations

from bbselect.reports import content
from bbselect.reports.formats import Table, cell
from bbselect.common import finite
from bbselect.reports.headline import chance_of, evidence_of, headline, headline_parts, metric_of
from bbselect.scoring import registry

RANDOM_FLAG = "RANDOM WEIGHTS"
SUM_NOTE = ("The channel-sum map is C × the channel-mean map, so its scores are identical to the mean map's "
            "and are not listed separately.")
NO_SUM_SHEET = ("No contact sheet for the channel-sum map: it is C × the mean map, so it would repeat the mean "
                "sheet with another colour bar (sum is in every per-image figure and in the saved maps).")


def _ranked(summary: dict) -> list[dict]:
    return sorted(summary.get("backbones") or [],
                  key=lambda b: b.get("rank") if isinstance(b.get("rank"), int) else 10**9)


def _label(b: dict):
    return cell("label", b.get("label", "?"), flag=RANDOM_FLAG if content.is_random_backbone(b) else "")


def _evidence(b: dict):
    ev = evidence_of(b)
    return cell("interval", ev, sub=f"n = {cell('count', ev).text}" if finite(ev.get("n")) else "")


def _roles(summary: dict, backbones: list[dict]) -> tuple:
    """Per row: "best" (ranked first), "tied" (tied with it) or ""."""
    h = headline(summary)
    return tuple("best" if b.get("label") == h["best"] and h["best"] is not None
                 else "tied" if b.get("label") in h["tied"] else "" for b in backbones)


def _erank(st: dict):
    """Effective rank of the pooled features, with its share of the maximum: ``5.3 (76%)``."""
    er, frac = st.get("effective_rank"), st.get("effective_rank_fraction")
    text = cell("tenths", er).text + (f" ({cell('percent', frac).text})" if finite(er) and finite(frac) else "")
    return cell("tenths", er, text=text)


def ranking(summary: dict) -> Table:
    """The ranking: rank, backbone, where it was read, its evidence with the interval, ties, cost, health."""
    bbs = _ranked(summary)
    rows = []
    for b in bbs:
        cost, st = b.get("cost") or {}, content.channel_stats_of(b)
        tied = b.get("tied_with") or []
        rows.append([cell("count", b.get("rank")), _label(b),
                     cell("label", b.get("layer", "?"), sub=content.stage_text(b) if b.get("stage") else ""),
                     _evidence(b),
                     cell("label", ", ".join(tied), items=tuple(tied)), cell("gflops", cost.get("gflops")),
                     cell("params", cost.get("params")), cell("ms", cost), cell("percent", st.get("dead_fraction")),
                     _erank(st)])
    note = (f"{content.ranking_note(summary)} GFLOPs: analytic, of the layers the extractor runs, at the run's "
            "input size: the stable cost the chart and \"cheapest\" use. params: of those same layers. ms / image: "
            "median over timed forward passes (one image each) on this machine (their range in brackets). eff. "
            "rank: effective rank of the pooled features (share of the maximum in brackets).")
    return Table("ranking", "Ranking",
                 ["#", "backbone", "layer (stage)", f"{metric_of(summary)} [95% CI]", "tied with",
                  "GFLOPs", "params", "ms / image", "dead ch.", "eff. rank"], rows, note,
                 numeric=frozenset({0, 5, 6, 7, 8, 9}), best=_roles(summary, bbs))


def details(summary: dict) -> Table:
    """Each backbone's layer, map size, measured throughput and weights."""
    bbs = summary.get("backbones") or []
    rows = [[_label(b), cell("text", b.get("layer", "?")), cell("text", content.map_size_text(b)),
             cell("tenths", (b.get("cost") or {}).get("images_per_s")),
             cell("text", (b.get("weights") or {}).get("source") or (b.get("weights") or {}).get("kind", "?"))]
            for b in bbs]
    return Table("details", "Backbone details", ["backbone", "layer", "map h×w×C", "images / s", "weights"], rows,
                 numeric=frozenset({3}))


def all_scores(summary: dict) -> Table | None:
    """Every backbone-level score this run computed (the registry's, in tier order): one row per score,
    one column per backbone; the same values as ``scores.csv`` and ``--format json``."""
    bbs = _ranked(summary)
    specs = [s for s in registry.specs(per_map=False)
             if any(registry.at(b, s) is not None for b in bbs)]
    if not specs:
        return None
    rows = [[cell("text", s.title, title=s.doc), cell("text", s.tier),
             cell("text", "higher" if s.higher_is_better else "lower"),
             *[cell(s.kind, registry.at(b, s)) for b in bbs]] for s in specs]
    return Table("all_scores", "Every score of this run", ["score", "evidence", "better",
                                                            *[str(b.get("label", "?")) for b in bbs]],
                 rows, "One row per score bbselect computed here (its meaning in the tooltip); the same values "
                       "are in scores.csv and --format json.", numeric=frozenset(range(3, 3 + len(bbs))))


def run_facts(summary: dict) -> Table:
    return Table("run_facts", "Run facts", ["setting", "value"],
                 [[cell("text", k), cell("text", v)] for k, v in content.run_facts(summary)])


def map_scores(summary: dict) -> list[Table]:
    """One table per map aggregation (max, mean): each label-free shape score with its interval."""
    names = content.SCORE_NAMES
    out = []
    for agg in content.aggregations(summary):
        rows = []
        for b in summary.get("backbones") or []:
            per = (b.get("scores") or {}).get(agg) or {}
            rows.append([_label(b), *[cell("interval", per.get(n)) for n in names],
                         cell("count", per.get(names[0]) or {}),
                         cell("text", (b.get("degenerate") or {}).get(agg, "n/a"))])
        out.append(Table(f"map_{agg}", f"channel {agg} map",
                         ["backbone", *[f"{n} [95% CI]" for n in names], "images scored", "degenerate maps"],
                         rows, numeric=frozenset({len(names) + 1, len(names) + 2})))
    return out


def per_image(summary: dict) -> Table | None:
    """Each image's separation per backbone (its map scores in the tooltip, degenerate maps marked)."""
    images = summary.get("images") or []
    if not images:
        return None
    labels = [b.get("label", "?") for b in summary.get("backbones") or []]
    rows = []
    for im in images:
        size = "×".join(str(v) for v in im["size"]) if im.get("size") else ""
        row = [cell("label", im.get("rel", "?"), href=content.url_of(im["figure"]) if im.get("figure") else "",
                    sub=size)]
        for lb in labels:
            per = (im.get("scores") or {}).get(lb)
            if per is None:
                row.append(cell("number"))
                continue
            detail = "; ".join(f"{k}: " + ", ".join(f"{n} {cell('number', s.get(n)).text}" for n in content.SCORE_NAMES)
                               for k, s in per.items() if isinstance(s, dict))
            row.append(cell("number", content.image_separation(per), title=detail,
                            marks=tuple(f"degenerate {m}" for m in content.degenerate_marks(per))))
        rows.append(row)
    return Table("per_image", "Per-image scores", ["image", *labels], rows,
                 "Cell: the image's separation for that backbone (its individual scores in the tooltip); "
                 "degenerate maps are named. Linked names have a per-image figure.")


def _fig(path: str, alt: str, caption: str) -> dict:
    return {"path": path, "url": content.url_of(path), "alt": alt, "caption": caption}


def first_figures(summary: dict) -> list[dict]:
    """The overview chart and the representative per-image figure (the first screen), with captions."""
    figs, run, metric = summary.get("figures") or {}, summary.get("run") or {}, content.primary_metric(summary)
    out = []
    if figs.get("overview_chart"):
        chance = (" Dashed line: what chance scores." if any(chance_of(b) is not None for b in summary.get("backbones", []))
                  else "")
        out.append(_fig(figs["overview_chart"], "overview: evidence per backbone, and quality vs GFLOPs",
                        f"Left: {metric} per backbone, mean with 95% interval; dark = ranked first, light = tied "
                        f"with it.{chance} Right: {metric} against GFLOPs per image at {run.get('input_size', '?')} px "
                        "(analytic cost of the layers run), points numbered by rank as on the left; filled = "
                        "Pareto-optimal (nothing is both better and cheaper)."))
    rep = figs.get("representative")
    if rep:
        out.append(_fig(rep["path"], f"per-image figure, {rep['image']}",
                        f"A representative image, {rep['image']} ({rep['why']}). Rows = backbones; columns = the "
                        "input as the network saw it, then the channel max, mean and sum maps, colour scales "
                        "shared across images. Every drawn figure is linked from the per-image table."))
    return out


def more_figures(summary: dict) -> list[dict]:
    """Class scatters, the stability figure and the contact sheets, with captions."""
    figs = summary.get("figures") or {}
    out = [_fig(path, f"classes, {label}", f"{label}: pooled features of each image, PCA, coloured by class.")
           for label, path in (figs.get("class_scatter") or {}).items()]
    if figs.get("stability"):
        out.append(_fig(figs["stability"], "neighbourhood stability",
                        "Neighbourhood stability: for a few images, the image, its augmented view, the image's "
                        "nearest neighbours among the originals and the view's among the views; neighbours found "
                        "by both are framed green."))
    out += [_fig(path, f"contact sheet, channel {agg}", f"Contact sheet: channel {agg} maps of a sample stratified "
                 "by class, colour scale shared per backbone.")
            for agg, path in (figs.get("contact_sheets") or {}).items() if path]
    return out


def report_view(summary: dict) -> dict:
    """Everything report.html and report.md show, in their order, as plain data."""
    run = summary.get("run") or {}
    det = content.detections_figure(summary)
    sheets = any((summary.get("figures") or {}).get("contact_sheets", {}).values())
    skipped = summary.get("skipped") or []
    return {
        "name": str(run.get("name", "")),
        "banner": content.RANDOM_BANNER if content.is_random_run(summary) else None,
        "headline": headline_parts(headline(summary)),
        "first_figures": first_figures(summary),
        "ranking": ranking(summary),
        "evidence": content.evidence_sections(summary),
        "detections": _fig(det, "detection probe on held-out images", content.DETECTIONS_CAPTION) if det else None,
        "verdict": str(summary.get("verdict", "")),
        "evidence_line": content.evidence_line(summary),
        "warnings": [str(w) for w in summary.get("warnings") or []],
        "run_facts": run_facts(summary),
        "details": details(summary),
        "all_scores": all_scores(summary),
        "map_scores": map_scores(summary),
        "map_note": SUM_NOTE,
        "score_docs": list((summary.get("score_docs") or {}).items()),
        "figures": more_figures(summary),
        "figures_note": NO_SUM_SHEET if sheets else "",
        "per_image": per_image(summary),
        "skipped": Table("skipped", f"Skipped files ({len(skipped)})", ["file", "reason"],
                         [[cell("label", s.get("rel", "?")), cell("text", s.get("reason", ""))] for s in skipped])
        if skipped else None,
    }


TERMINAL_COLUMNS = (0, 1, 3, 5, 7)  # rank, backbone, evidence, GFLOPs, ms / image: of the ranking table


def terminal_view(summary: dict) -> dict:
    """The end of a text-mode run: the headline and a compact ranking (the report's cells, plus each
    backbone's documented ImageNet top-1, the static prior)."""
    full = ranking(summary)
    rows = [[r[i] for i in TERMINAL_COLUMNS] + [cell("top1", (b.get("top1") or {}).get("value"))]
            for r, b in zip(full.rows, _ranked(summary))]
    metric = metric_of(summary)
    table = Table("ranking", "Ranking", ["#", "backbone", f"{metric}\n[95% CI]", "GFLOPs", "ms/image", "top-1 %"],
                  rows, numeric=frozenset(range(6)) - {1}, best=full.best)
    return {"headline": headline_parts(headline(summary)), "ranking": table}
