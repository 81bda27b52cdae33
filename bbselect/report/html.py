"""The HTML report (``report.html``) of a run summary: ``render_html``.

A pure function: a summary in, a string out; the caller writes the file. Every user-derived string
is HTML-escaped and figure paths are URL-quoted and stay relative. The page is self-contained:
inline CSS, no scripts, no external URLs. What the page says is shared with the Markdown report
(``report_content``).
"""

from __future__ import annotations

import html

from bbselect.common import fmt_num
from bbselect.report import content

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px} th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.banner{background:#c00000;color:#fff;font-weight:700;font-size:1.35em;padding:.8em 1em;margin:1em 0;border-radius:4px}
.warnings li{color:#8a4b00} .verdict{background:#f6f8fa;border-left:4px solid #4472c4;padding:.6em 1em}
.random{color:#c00000;font-weight:700} .degenerate{color:#c00000;font-size:.9em} .tie{color:#555;font-size:.9em}
img{max-width:100%;border:1px solid #ddd} figure{margin:1em 0} figcaption{color:#555;font-size:.9em}
dt{font-weight:700;font-family:monospace} dd{margin:0 0 .6em 1.5em}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """``header`` cells are escaped; row cells must already be HTML (escaped by the caller)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _label_html(b: dict) -> str:
    rnd = content.is_random_backbone(b)
    return _e(b.get("label", "?")) + (' <span class="random">RANDOM WEIGHTS</span>' if rnd else "")


def render_html(summary: dict) -> str:
    run = summary.get("run") or {}
    backbones = summary.get("backbones", [])
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>bbselect report: {_e(run.get('name', ''))}</title><style>{_CSS}</style></head><body>",
           f"<h1>bbselect report: {_e(run.get('name', ''))}</h1>"]
    out.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in content.run_facts(summary))
               + "</table>")
    if content.is_random_run(summary):
        out.append(f'<div class="banner">{_e(content.RANDOM_BANNER)}</div>')
    if summary.get("warnings"):
        out.append('<h2>Warnings</h2><ul class="warnings">'
                   + "".join(f"<li>{_e(w)}</li>" for w in summary["warnings"]) + "</ul>")
    out.append(f'<h2>Verdict</h2><p class="verdict">{_e(summary.get("verdict", ""))}</p>')
    if content.evidence_line(summary):
        out.append(f"<p><small>{_e(content.evidence_line(summary))}</small></p>")

    out.append("<h2>Ranking</h2>")
    rows = []
    for b in backbones:
        cost, st = b.get("cost") or {}, content.channel_stats_of(b)
        ties = content.ties_text(b)
        rows.append([_e(b.get("rank", "")), _label_html(b), _e(content.where_text(b)), _e(content.map_size_text(b)),
                     _e(content.fmt_ci(b.get("primary") or b.get("separation")))
                     + f"<br><small>n = {_e(content.n_text(b.get('primary') or b.get('separation')))}</small>",
                     f'<span class="tie">{_e(ties)}</span>' if ties else "",
                     content.fmt_millions(cost.get("params")), fmt_num(cost.get("gflops")), fmt_num(cost.get("ms_per_image"), 1),
                     fmt_num(cost.get("images_per_s"), 1), content.fmt_percent(st.get("dead_fraction")), _e(content.erank_text(b))])
    metric = content.primary_metric(summary)
    out.append(_table(["rank", "backbone", "layer (stage)", "map h×w×C", f"{metric} [95% CI]", "ties",
                       "params (M)", "GFLOPs", "ms / image", "images / s", "dead channels", "effective rank"],
                      rows, numeric={0, 6, 7, 8, 9, 10, 11}))
    out.append(f"<p><small>{_e(content.ranking_note(summary))} Effective rank in brackets: share of the maximum "
               "possible rank.</small></p>")

    for title, header, erows, note in content.evidence_sections(summary):
        out.append(f"<h2>{_e(title)}</h2>")
        out.append(_table(header, [[_e(c) for c in r] for r in erows]))
        out.append(f"<p><small>{_e(note)}</small></p>")
    if content.detections_figure(summary):
        out.append(f'<figure><img src="{_e(content.url_of(content.detections_figure(summary)))}" '
                   f'alt="detection probe on held-out images"><figcaption>{_e(content.DETECTIONS_CAPTION)}'
                   "</figcaption></figure>")

    out.append("<h2>Label-free map scores</h2>")
    for agg in content.aggregations(summary):
        out.append(f"<h3>channel {_e(agg)} map</h3>")
        rows = []
        for b in backbones:
            per = (b.get("scores") or {}).get(agg) or {}
            rows.append([_label_html(b), *[_e(content.fmt_ci(per.get(n))) for n in content.SCORE_NAMES],
                         _e(content.n_text(per.get(content.SCORE_NAMES[0]))), _e((b.get("degenerate") or {}).get(agg, "n/a"))])
        out.append(_table(["backbone", *[f"{n} mean [95% CI]" for n in content.SCORE_NAMES], "images scored",
                           "degenerate maps"], rows, numeric={4, 5}))
    out.append("<p><small>The channel-sum map is C × the channel-mean map, so its scores are identical to "
               "the mean map's and are not listed separately.</small></p>")

    if summary.get("score_docs"):
        out.append("<h2>How to read the scores</h2><dl>" + "".join(
            f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in summary["score_docs"].items()) + "</dl>")

    figs = summary.get("figures") or {}
    if figs.get("score_chart") or figs.get("contact_sheets"):
        out.append("<h2>Figures</h2>")
        if figs.get("score_chart"):
            out.append(f'<figure><img src="{_e(content.url_of(figs["score_chart"]))}" alt="score chart">'
                       "<figcaption>Separation with 95% CI, and measured cost.</figcaption></figure>")
        if figs.get("quality_cost_chart"):
            out.append(f'<figure><img src="{_e(content.url_of(figs["quality_cost_chart"]))}" alt="quality vs cost">'
                       "<figcaption>Ranking score vs measured ms/image; filled = Pareto-optimal.</figcaption></figure>")
        for label, path in (figs.get("class_scatter") or {}).items():
            out.append(f'<figure><img src="{_e(content.url_of(path))}" alt="classes, {_e(label)}">'
                       f"<figcaption>{_e(label)}: pooled features of each image, PCA, coloured by class."
                       "</figcaption></figure>")
        if figs.get("stability"):
            out.append(f'<figure><img src="{_e(content.url_of(figs["stability"]))}" alt="neighbourhood stability">'
                       "<figcaption>Neighbourhood stability: for a few images, the image, its augmented view, the "
                       "image's nearest neighbours among the originals and the view's among the views; neighbours "
                       "found by both are framed green.</figcaption></figure>")
        for agg, path in (figs.get("contact_sheets") or {}).items():
            if path:
                out.append(f'<figure><img src="{_e(content.url_of(path))}" alt="contact sheet, channel {_e(agg)}">'
                           f"<figcaption>Contact sheet: channel {_e(agg)} maps, colour scale shared per "
                           "backbone.</figcaption></figure>")

    images = summary.get("images") or []
    if images:
        labels = [b.get("label", "?") for b in backbones]
        out.append("<h2>Per-image scores</h2><p><small>Cell: the image's separation for that backbone; "
                   "hover for the individual scores. Degenerate maps are named in red.</small></p>")
        rows = []
        for im in images:
            name = _e(im.get("rel", "?"))
            cell0 = f'<a href="{_e(content.url_of(im["figure"]))}">{name}</a>' if im.get("figure") else name
            if im.get("size"):
                cell0 += f"<br><small>{_e('×'.join(str(v) for v in im['size']))}</small>"
            row = [cell0]
            for lb in labels:
                per = (im.get("scores") or {}).get(lb)
                if per is None:
                    row.append("n/a")
                    continue
                detail = "; ".join(f"{k}: " + ", ".join(f"{n} {fmt_num(s.get(n))}" for n in content.SCORE_NAMES)
                                   for k, s in per.items() if isinstance(s, dict))
                cell = f'<span title="{_e(detail)}">{fmt_num(content.image_separation(per))}</span>'
                marks = content.degenerate_marks(per)
                if marks:
                    cell += "".join(f'<br><span class="degenerate">degenerate {_e(m)}</span>' for m in marks)
                row.append(cell)
            rows.append(row)
        out.append(_table(["image", *labels], rows))

    skipped = summary.get("skipped") or []
    if skipped:
        out.append(f"<h2>Skipped files ({len(skipped)})</h2>")
        out.append(_table(["file", "reason"], [[_e(s.get("rel", "?")), _e(s.get("reason", ""))] for s in skipped]))
    out.append("</body></html>")
    return "\n".join(out) + "\n"
