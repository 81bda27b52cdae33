"""The HTML report (``report.html``) of a run summary: ``render_html``.

A pure function: a summary in, a string out; the caller writes the file. Every user-derived string
is HTML-escaped and figure paths are URL-quoted and stay relative. The page is self-contained:
inline CSS, no scripts, no external URLs, in the shell and stylesheet every bbselect page shares
(``page``). What the page says is shared with the Markdown report (``content``).

The first screen answers the question: the headline (recommended backbone, its evidence with the
95% interval, the backbones tied with it, the cheapest among them), one chart (that evidence per
backbone, and quality against GFLOPs), one representative per-image figure, then the ranking table.
Run facts, warnings, the verdict in full and the long explanations follow, folded in <details>.
"""

from __future__ import annotations

from bbselect.common import fmt_num
from bbselect.reports import content
from bbselect.reports.headline import (
    chance_of,
    evidence_of,
    fmt_gflops,
    fmt_interval,
    fmt_ms,
    fmt_params,
    headline,
    shorten_end,
)
from bbselect.reports.page import (
    banner,
    e,
    figure,
    headline_html,
    page,
    short_label,
    table,
)


def _label_html(b: dict, n: int = 30) -> str:
    rnd = content.is_random_backbone(b)
    return short_label(b.get("label", "?"), n) + (' <span class="random">RANDOM WEIGHTS</span>' if rnd else "")


def _where_html(b: dict) -> str:
    layer = short_label(b.get("layer", "?"), 22)
    return f"{layer} ({e(content.stage_text(b))})" if b.get("stage") else layer


def _first_screen(summary: dict) -> list[str]:
    run = summary.get("run") or {}
    metric = content.primary_metric(summary)
    figs = summary.get("figures") or {}
    out = [headline_html(summary)]
    if figs.get("overview_chart"):
        chance = (" Dashed line: what chance scores." if any(chance_of(b) is not None for b in summary.get("backbones", []))
                  else "")
        out.append(figure(figs["overview_chart"], "overview chart",
                          f"Left: {metric} per backbone, mean with 95% interval; dark = ranked first, light = tied "
                          f"with it.{chance} Right: {metric} against GFLOPs per image at {run.get('input_size', '?')} px "
                          "(analytic cost of the layers run), points numbered by rank as on the left; filled = "
                          "Pareto-optimal (nothing is both better and cheaper)."))
    rep = figs.get("representative")
    if rep:
        out.append(figure(rep["path"], f"per-image figure, {rep['image']}",
                          f"A representative image, {rep['image']} ({rep['why']}). Rows = backbones; columns = the "
                          "input as the network saw it, then the channel max, mean and sum maps, colour scales "
                          "shared across images. Every drawn figure is linked from the per-image table."))
    return out


def _ranking(summary: dict) -> list[str]:
    backbones = summary.get("backbones", [])
    h = headline(summary)
    group = {h["best"], *h["tied"]} if h["best"] else set()
    rows = []
    for b in backbones:
        cost, st = b.get("cost") or {}, content.channel_stats_of(b)
        tied = b.get("tied_with") or []
        rows.append([e(b.get("rank", "")), _label_html(b), _where_html(b),
                     e(fmt_interval(evidence_of(b))) + f"<br><small>n = {e(content.n_text(evidence_of(b)))}</small>",
                     '<span class="tie">' + ", ".join(short_label(t, 24) for t in tied) + "</span>" if tied else "",
                     e(fmt_gflops(cost.get("gflops"))), e(fmt_params(cost.get("params"))), e(fmt_ms(cost)),
                     content.fmt_percent(st.get("dead_fraction")), e(content.erank_text(b))])
    return ["<h2>Ranking</h2>",
            table(["#", "backbone", "layer (stage)", f"{content.primary_metric(summary)} [95% CI]", "tied with", "GFLOPs",
                   "params", "ms / image", "dead ch.", "eff. rank"], rows, numeric={0, 5, 6, 7, 8, 9},
                  row_class=lambda i: "best" if backbones[i].get("label") in group else None),
            f"<p><small>{e(content.ranking_note(summary))} GFLOPs: analytic, of the layers the extractor runs, at the "
            "run's input size: the stable cost the chart and \"cheapest\" use. params: of those same layers. "
            "ms / image: median over timed forward passes (one image each) on this machine (their range in brackets). eff. rank: "
            "effective rank of the pooled features (share of the maximum in brackets).</small></p>"]


def _folded(summary: dict) -> list[str]:
    backbones = summary.get("backbones", [])
    out = ["<details><summary>The verdict in full</summary>"
           f'<p class="verdict">{e(summary.get("verdict", ""))}</p>'
           + (f"<p><small>{e(content.evidence_line(summary))}</small></p>" if content.evidence_line(summary) else "")
           + "</details>"]
    if summary.get("warnings"):
        out.append(f"<details><summary>Notes and warnings ({len(summary['warnings'])})</summary>"
                   '<ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in summary["warnings"])
                   + "</ul></details>")
    out.append("<details><summary>Run facts and backbone details</summary>"
               + table(["setting", "value"], [[e(k), e(v)] for k, v in content.run_facts(summary)])
               + table(["backbone", "layer", "map h×w×C", "images / s", "weights"],
                       [[_label_html(b), e(b.get("layer", "?")), e(content.map_size_text(b)),
                         fmt_num((b.get("cost") or {}).get("images_per_s"), 1),
                         e((b.get("weights") or {}).get("source") or (b.get("weights") or {}).get("kind", "?"))]
                        for b in backbones], numeric={3})
               + "</details>")
    return out


def _map_scores(summary: dict) -> list[str]:
    backbones = summary.get("backbones", [])
    out = ["<details><summary>Label-free map scores (they describe the figures)</summary>"]
    for agg in content.aggregations(summary):
        out.append(f"<h3>channel {e(agg)} map</h3>")
        rows = []
        for b in backbones:
            per = (b.get("scores") or {}).get(agg) or {}
            rows.append([_label_html(b), *[e(content.fmt_interval(per.get(n))) for n in content.SCORE_NAMES],
                         e(content.n_text(per.get(content.SCORE_NAMES[0]))), e((b.get("degenerate") or {}).get(agg, "n/a"))])
        out.append(table(["backbone", *[f"{n} [95% CI]" for n in content.SCORE_NAMES], "images scored",
                          "degenerate maps"], rows, numeric={4, 5}))
    out.append("<p><small>The channel-sum map is C × the channel-mean map, so its scores are identical to "
               "the mean map's and are not listed separately.</small></p>")
    if summary.get("score_docs"):
        out.append("<h3>How to read the scores</h3><dl>" + "".join(
            f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary["score_docs"].items()) + "</dl>")
    out.append("</details>")
    return out


def _figures(summary: dict) -> list[str]:
    figs = summary.get("figures") or {}
    sheets = {k: p for k, p in (figs.get("contact_sheets") or {}).items() if p}
    if not (sheets or figs.get("class_scatter") or figs.get("stability")):
        return []
    out = ["<h2>Figures</h2>"]
    for label, path in (figs.get("class_scatter") or {}).items():
        out.append(figure(path, f"classes, {label}", f"{label}: pooled features of each image, PCA, coloured by class."))
    if figs.get("stability"):
        out.append(figure(figs["stability"], "neighbourhood stability",
                          "Neighbourhood stability: for a few images, the image, its augmented view, the image's "
                          "nearest neighbours among the originals and the view's among the views; neighbours found "
                          "by both are framed green."))
    for agg, path in sheets.items():
        out.append(figure(path, f"contact sheet, channel {agg}",
                          f"Contact sheet: channel {agg} maps of a sample stratified by class, colour scale "
                          "shared per backbone."))
    if sheets:
        out.append("<p><small>No contact sheet for the channel-sum map: it is C × the mean map, so it would "
                   "repeat the mean sheet with another colour bar (sum is in every per-image figure and in the "
                   "saved maps).</small></p>")
    return out


def _per_image(summary: dict) -> list[str]:
    images = summary.get("images") or []
    if not images:
        return []
    backbones = summary.get("backbones", [])
    labels = [b.get("label", "?") for b in backbones]
    out = ["<h2>Per-image scores</h2><p><small>Cell: the image's separation for that backbone; hover for the "
           "individual scores. Degenerate maps are named in red. Linked names have a per-image figure."
           "</small></p>"]
    rows = []
    for im in images:
        name = short_label(im.get("rel", "?"), 60)
        cell0 = f'<a href="{e(content.url_of(im["figure"]))}">{name}</a>' if im.get("figure") else name
        if im.get("size"):
            cell0 += f"<br><small>{e('×'.join(str(v) for v in im['size']))}</small>"
        row = [cell0]
        for lb in labels:
            per = (im.get("scores") or {}).get(lb)
            if per is None:
                row.append("n/a")
                continue
            detail = "; ".join(f"{k}: " + ", ".join(f"{n} {fmt_num(s.get(n))}" for n in content.SCORE_NAMES)
                               for k, s in per.items() if isinstance(s, dict))
            cell = f'<span title="{e(detail)}">{fmt_num(content.image_separation(per))}</span>'
            marks = content.degenerate_marks(per)
            if marks:
                cell += "".join(f'<br><span class="degenerate">degenerate {e(m)}</span>' for m in marks)
            row.append(cell)
        rows.append(row)
    header = ["image", *[shorten_end(lb, 24) for lb in labels]]
    out.append(table(header, rows))
    return out


def render_html(summary: dict) -> str:
    run = summary.get("run") or {}
    body = [f"<h1>bbselect: {e(run.get('name', ''))}</h1>"]
    if content.is_random_run(summary):
        body.append(banner())
    body += _first_screen(summary)
    body += _ranking(summary)
    for title, header, erows, note in content.evidence_sections(summary):
        body += [f"<h2>{e(title)}</h2>", table(header, [[e(c) for c in r] for r in erows]),
                 f"<p><small>{e(note)}</small></p>"]
    if content.detections_figure(summary):
        body.append(figure(content.detections_figure(summary), "detection probe on held-out images",
                           content.DETECTIONS_CAPTION))
    body += _folded(summary)
    body += _map_scores(summary)
    body += _figures(summary)
    body += _per_image(summary)
    skipped = summary.get("skipped") or []
    if skipped:
        body += [f"<h2>Skipped files ({len(skipped)})</h2>",
                 table(["file", "reason"], [[e(s.get("rel", "?")), e(s.get("reason", ""))] for s in skipped])]
    return page(f"bbselect report: {run.get('name', '')}", body)
