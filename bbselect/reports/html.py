"""The HTML report (``report.html``) of a run summary: ``render_html``.

A renderer of the presentation model (``view.report_view``): it escapes and lays out the model's
parts and cells and never formats a number or writes a sentence of its own, so the page reads as
report.md and the terminal do. A pure function: a summary in, a string out; the caller writes the
file. Every user-derived string is HTML-escaped and figure paths are URL-quoted and stay relative. The
page is self-contained: inline CSS, no scripts, no external URLs, in the shell and stylesheet every
bbselect page shares (``page``).

The first screen answers the question: the headline (recommended backbone, its evidence with the
95% interval, the backbones tied with it, the cheapest among them), one chart (that evidence per
backbone, and quality against GFLOPs), one representative per-image figure, then the ranking table.
Run facts, warnings, the verdict in full and the long explanations follow, folded in <details>.
"""

from __future__ import annotations

from bbselect.reports import view
from bbselect.reports.headline import shorten_end
from bbselect.reports.page import banner, e, figure, page, parts_html, short_label, table

# how many characters of a label a column shows (the full label is the tooltip); default LABEL_CHARS
WIDTHS = {("ranking", 2): 22, ("per_image", 0): 60}
HEADER_CHARS = {"per_image": 24, "all_scores": 24}


def cell_html(c, width: int | None = None) -> str:
    """One model cell as HTML: labels shortened at the end (full text as tooltip), a RANDOM WEIGHTS
    flag, a link, a second line, a tooltip, warning marks; the text itself is the model's."""
    if c.items:
        return '<span class="tie">' + ", ".join(short_label(t, 24) for t in c.items) + "</span>"
    text = short_label(c.text, width) if c.kind == "label" and width else short_label(c.text) if c.kind == "label" \
        else e(c.text)
    if c.href:
        text = f'<a href="{e(c.href)}">{text}</a>'
    if c.title:
        text = f'<span title="{e(c.title)}">{text}</span>'
    if c.flag:
        text += f' <span class="random">{e(c.flag)}</span>'
    if c.sub:
        text += f"<br><small>{e(c.sub)}</small>"
    return text + "".join(f'<br><span class="degenerate">{e(m)}</span>' for m in c.marks)


def table_html(t, heading: str | None = "h2") -> list[str]:
    header = [h if t.key not in HEADER_CHARS or i == 0 else shorten_end(h, HEADER_CHARS[t.key])
              for i, h in enumerate(t.columns)]
    rows = [[cell_html(c, WIDTHS.get((t.key, j))) for j, c in enumerate(r)] for r in t.rows]
    out = [f"<{heading}>{e(t.title)}</{heading}>"] if heading else []
    out.append(table(header, rows, numeric=t.numeric,
                     row_class=lambda i: "best" if t.best and t.best[i] in ("best", "tied") else None))
    return out + ([f"<p><small>{e(t.note)}</small></p>"] if t.note else [])


def _figure(f: dict) -> str:
    return figure(f["path"], f["alt"], f["caption"])


def _folded(v: dict) -> list[str]:
    out = ["<details><summary>The verdict in full</summary>"
           f'<p class="verdict">{e(v["verdict"])}</p>'
           + (f"<p><small>{e(v['evidence_line'])}</small></p>" if v["evidence_line"] else "")
           + "</details>"]
    if v["warnings"]:
        out.append(f"<details><summary>Notes and warnings ({len(v['warnings'])})</summary>"
                   '<ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in v["warnings"]) + "</ul></details>")
    out.append("<details><summary>Run facts and backbone details</summary>"
               + "".join(table_html(v["run_facts"], None)) + "".join(table_html(v["details"], None)) + "</details>")
    if v["all_scores"]:
        out.append(f"<details><summary>{e(v['all_scores'].title)}</summary>" + "".join(table_html(v["all_scores"], None))
                   + "</details>")
    out.append("<details><summary>Label-free map scores (they describe the figures)</summary>")
    for t in v["map_scores"]:
        out += table_html(t, "h3")
    out.append(f"<p><small>{e(v['map_note'])}</small></p>")
    if v["score_docs"]:
        out.append("<h3>How to read the scores</h3><dl>" + "".join(
            f"<dt>{e(k)}</dt><dd>{e(d)}</dd>" for k, d in v["score_docs"]) + "</dl>")
    return out + ["</details>"]


def render_html(summary: dict) -> str:
    v = view.report_view(summary)
    body = [f"<h1>bbselect: {e(v['name'])}</h1>"]
    if v["banner"]:
        body.append(banner())
    body.append(parts_html(v["headline"]))
    body += [_figure(f) for f in v["first_figures"]]
    body += table_html(v["ranking"])
    for t in v["evidence"]:
        body += table_html(t)
    if v["detections"]:
        body.append(_figure(v["detections"]))
    body += _folded(v)
    if v["figures"]:
        body += ["<h2>Figures</h2>", *[_figure(f) for f in v["figures"]]]
        body += [f"<p><small>{e(v['figures_note'])}</small></p>"] if v["figures_note"] else []
    if v["per_image"]:
        body += table_html(v["per_image"])
    if v["skipped"]:
        body += table_html(v["skipped"])
    return page(f"bbselect report: {v['name']}", body)
