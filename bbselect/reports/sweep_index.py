"""A sweep's ``index.html``: the same page, stylesheet and headline as a run's ``report.html``.

Every (point, backbone) of the sweep is one candidate. The headline names the best candidate by the
primary evidence (mean with its 95% interval), the candidates whose intervals overlap it, and the
cheapest of those by GFLOPs, exactly as a run's report does for its backbones; then the charts and
one table of all candidates, each linking to its point's full report. The RANDOM WEIGHTS banner
shows when every point ran with random weights.
"""

from __future__ import annotations

from bbselect.common import finite
from bbselect.reports.content import url_of
from bbselect.reports.formats import Table, cell
from bbselect.reports.headline import headline, headline_parts
from bbselect.reports.html import table_html
from bbselect.reports.markdown import md_escape, md_number, table_md
from bbselect.reports.page import banner, e, figure, headline_html, page


def _overlap(a: dict, b: dict) -> bool:
    if not all(finite(x) for x in (a.get("lo"), a.get("hi"), b.get("lo"), b.get("hi"))):
        return False
    return a["lo"] <= b["hi"] and b["lo"] <= a["hi"]


def candidates(rows: list[dict]) -> dict:
    """A summary-shaped dict whose backbones are the sweep's (point, backbone) rows, ranked by their
    primary evidence, with ties (overlapping intervals) and GFLOPs, for ``headline``."""
    entries = []
    for r in rows:
        entries.append({"label": f"{r['point']} · {r['backbone']}",
                        "primary": {"metric": r.get("metric"), "mean": r.get("primary"), "lo": r.get("primary_lo"),
                                    "hi": r.get("primary_hi")},
                        "cost": {"gflops": r.get("gflops"), "params": r.get("params")},
                        "weights": {"kind": r.get("weights")}, "row": r})
    ranked = sorted(entries, key=lambda b: -b["primary"]["mean"] if finite(b["primary"]["mean"]) else float("inf"))
    for i, b in enumerate(ranked, start=1):
        b["rank"] = i
        b["tied_with"] = [o["label"] for o in ranked if o is not b and _overlap(b["primary"], o["primary"])]
    random = bool(rows) and all(r.get("weights") == "none" for r in rows)
    n = max((r.get("n_images") or 0 for r in rows), default=0)  # each point scores the same images
    return {"run": {"random_weights": random, "n_images": n or None}, "backbones": ranked}


def swept_text(sweep: dict) -> str:
    """``layer: c3, c4, c5 · input_size: 224, 320`` instead of raw JSON."""
    return " · ".join(f"{k}: {', '.join(str(v) for v in vals)}" for k, vals in sweep.items())


def sweep_table(summary: dict, metric: str) -> Table:
    """Every candidate of ``candidates(rows)`` as model cells: the sweep's one table, in every format."""
    top = summary["backbones"][:1]
    best = {top[0]["label"]} if top and finite(top[0]["primary"]["mean"]) else set()
    rows = []
    for b in summary["backbones"]:
        r = b["row"]
        rows.append([cell("count", b["rank"]), cell("label", r["point"], href=url_of(r["report"])),
                     cell("label", r["backbone"], flag="RANDOM" if r.get("weights") == "none" else ""),
                     cell("label", r.get("layer") or "?", sub=r.get("stage") or ""),
                     cell("interval", b["primary"]), cell("count", r.get("n_images")), cell("gflops", r.get("gflops")),
                     cell("params", r.get("params")), cell("ms", r)])
    return Table("sweep", "Every candidate", ["#", "point", "backbone", "layer (stage)", f"{metric} [95% CI]",
                                              "images", "GFLOPs", "params", "ms / image"], rows,
                 "GFLOPs and params: of the layers each extractor runs, at the point's input size. ms / image: "
                 "median over timed forward passes (one image each), measured on this machine.",
                 numeric=frozenset({0, 5, 6, 7, 8}),
                 best=tuple("best" if b["label"] in best else "" for b in summary["backbones"]))


def render_markdown(name: str, rows: list[dict], sweep: dict) -> str:
    """The sweep's ``summary.md``: the headline and the table of ``index.html``, in Markdown."""
    summary = candidates(rows)
    metric = next((r.get("metric") for r in rows if r.get("metric")), "score")
    said = "".join(md_number(t) if role == "interval" else md_escape(t) for role, t in headline_parts(headline(summary)))
    out = [f"# bbselect sweep: {md_escape(name)}", "", f"**{said}**", "",
           md_escape(f"Swept {swept_text(sweep)}."), ""]
    return "\n".join(out + table_md(sweep_table(summary, metric), None)).rstrip("\n") + "\n"


def render_index(name: str, rows: list[dict], charts: list[str], sweep: dict) -> str:
    summary = candidates(rows)
    metric = next((r.get("metric") for r in rows if r.get("metric")), "score")
    points = list(dict.fromkeys(r["point"] for r in rows))
    body = [f"<h1>bbselect sweep: {e(name)}</h1>"]
    if summary["run"]["random_weights"]:
        body.append(banner())
    body.append(headline_html(summary))
    body.append(f'<p class="muted">Swept {e(swept_text(sweep))} — {len(points)} points, each a full run '
                "(its name links to its report). Candidates are compared on their own runs' evidence; "
                "overlapping 95% intervals count as tied.</p>")
    body.append('<div class="charts">' + "".join(figure(c, c, _caption(c, metric)) for c in charts) + "</div>")
    body += table_html(sweep_table(summary, metric), None)
    return page(f"bbselect sweep: {name}", body)


def _caption(chart: str, metric: str) -> str:
    if chart.startswith("score_vs_cost"):
        return f"{metric} (95% interval) against GFLOPs, every point of the sweep; one colour per backbone."
    key = chart[len("score_by_"):].rsplit(".", 1)[0] if chart.startswith("score_by_") else chart
    return f"{metric} (95% interval) across the values of {key}, one line per backbone."
