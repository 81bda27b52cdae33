"""The Markdown report (``report.md``) of a run summary: ``render_markdown``.

A pure function: a summary in, a string out; the caller writes the file. Every user-derived string
is made inert for GitHub-flavoured Markdown by ``md_escape`` (one line, no markup, no HTML); figure
paths are URL-quoted and stay relative. What the report says is shared with the HTML report
(``report_content``).
"""

from __future__ import annotations

from bbselect.common import fmt_num
from bbselect.reports import content
from bbselect.reports.headline import headline, headline_text

# "$" and "~": GitHub renders $...$ as math and ~~...~~ as strikethrough.
_MD_SPECIAL = {"\\": "\\\\", "|": "\\|", "`": "\\`", "[": "\\[", "]": "\\]", "*": "\\*", "_": "\\_",
               "$": "\\$", "~": "\\~", "<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_escape(x) -> str:
    """A user string made inert for a GFM table cell or paragraph (one line, no markup, no HTML)."""
    text = " ".join(str(x).splitlines())
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in text)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Cells must already be escaped (numbers need no escaping)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c if c else " " for c in r) + " |" for r in rows]
    return lines


def _md_label(b: dict) -> str:
    rnd = content.is_random_backbone(b)
    return md_escape(b.get("label", "?")) + (" **RANDOM WEIGHTS**" if rnd else "")


def render_markdown(summary: dict) -> str:
    run = summary.get("run") or {}
    backbones = summary.get("backbones", [])
    out = [f"# bbselect report: {md_escape(run.get('name', ''))}", ""]
    if content.is_random_run(summary):
        out += [f"> **⚠ {content.RANDOM_BANNER}**", ""]
    out += [f"**{md_escape(headline_text(headline(summary)))}**", ""]
    figs = summary.get("figures") or {}
    if figs.get("overview_chart"):
        out += [f"![overview: evidence per backbone, and quality vs GFLOPs]({content.url_of(figs['overview_chart'])})",
                ""]
    if figs.get("representative"):
        rep = figs["representative"]
        out += [f"![per-image figure, {md_escape(rep['image'])}]({content.url_of(rep['path'])})", ""]
    out += [f"- **{k}:** {md_escape(v)}" for k, v in content.run_facts(summary)] + [""]
    if summary.get("warnings"):
        out += ["## Warnings", ""] + [f"- {md_escape(w)}" for w in summary["warnings"]] + [""]
    out += ["## Verdict", "", md_escape(summary.get("verdict", "")), ""]
    if content.evidence_line(summary):
        out += [md_escape(content.evidence_line(summary)), ""]

    out += ["## Ranking", ""]
    rows = []
    for b in backbones:
        cost, st = b.get("cost") or {}, content.channel_stats_of(b)
        rows.append([str(b.get("rank", "")), _md_label(b), md_escape(content.where_text(b)), md_escape(content.map_size_text(b)),
                     f"{content.fmt_interval(b.get('primary') or b.get('separation'))} (n = {content.n_text(b.get('primary') or b.get('separation'))})",
                     md_escape(content.ties_text(b)),
                     content.fmt_millions(cost.get("params")), fmt_num(cost.get("gflops")), fmt_num(cost.get("ms_per_image"), 1),
                     fmt_num(cost.get("images_per_s"), 1), content.fmt_percent(st.get("dead_fraction")), content.erank_text(b)])
    out += _md_table(["rank", "backbone", "layer (stage)", "map h×w×C", f"{md_escape(content.primary_metric(summary))} [95% CI]", "ties",
                      "params (M)", "GFLOPs", "ms / image", "images / s", "dead channels", "effective rank"], rows)
    out += ["", md_escape(content.ranking_note(summary)), ""]

    for title, header, erows, note in content.evidence_sections(summary):
        out += [f"## {title}", ""] + _md_table(header, [[md_escape(c) for c in r] for r in erows])
        out += ["", md_escape(note), ""]
    if content.detections_figure(summary):
        out += [f"![detection probe on held-out images]({content.url_of(content.detections_figure(summary))})", "",
                md_escape(content.DETECTIONS_CAPTION), ""]

    out += ["## Label-free map scores", ""]
    for agg in content.aggregations(summary):
        out += [f"### channel {md_escape(agg)} map", ""]
        rows = []
        for b in backbones:
            per = (b.get("scores") or {}).get(agg) or {}
            rows.append([_md_label(b), *[content.fmt_interval(per.get(n)) for n in content.SCORE_NAMES], content.n_text(per.get(content.SCORE_NAMES[0])),
                         md_escape((b.get("degenerate") or {}).get(agg, "n/a"))])
        out += _md_table(["backbone", *[f"{n} mean [95% CI]" for n in content.SCORE_NAMES], "images scored",
                          "degenerate maps"], rows) + [""]
    out += ["The channel-sum map is C × the channel-mean map, so its scores equal the mean map's.", ""]

    if summary.get("score_docs"):
        out += ["## How to read the scores", ""]
        out += [f"- **{md_escape(k)}**: {md_escape(v)}" for k, v in summary["score_docs"].items()] + [""]

    figs = summary.get("figures") or {}
    if figs.get("class_scatter") or figs.get("contact_sheets") or figs.get("stability"):
        out += ["## Figures", ""]
        for label, path in (figs.get("class_scatter") or {}).items():
            out += [f"![classes, {md_escape(label)}]({content.url_of(path)})", ""]
        if figs.get("stability"):
            out += [f"![neighbourhood stability]({content.url_of(figs['stability'])})", ""]
        for agg, path in (figs.get("contact_sheets") or {}).items():
            if path:
                out += [f"![contact sheet, channel {md_escape(agg)}]({content.url_of(path)})", ""]
        if figs.get("contact_sheets"):
            out += ["No contact sheet for the channel-sum map: it is C × the mean map, so it would repeat "
                    "the mean sheet with another colour bar (sum is in every per-image figure and the saved maps).", ""]

    images = summary.get("images") or []
    if images:
        labels = [b.get("label", "?") for b in backbones]
        out += ["## Per-image scores", "", "Cell: the image's separation for that backbone; degenerate maps noted.", ""]
        rows = []
        for im in images:
            name = md_escape(im.get("rel", "?"))
            row = [f"[{name}]({content.url_of(im['figure'])})" if im.get("figure") else name]
            for lb in labels:
                per = (im.get("scores") or {}).get(lb)
                if per is None:
                    row.append("n/a")
                    continue
                marks = content.degenerate_marks(per)
                row.append(fmt_num(content.image_separation(per)) + "".join(f" ⚠ degenerate {md_escape(m)}" for m in marks))
            rows.append(row)
        out += _md_table(["image", *[md_escape(lb) for lb in labels]], rows) + [""]

    skipped = summary.get("skipped") or []
    if skipped:
        out += [f"## Skipped files ({len(skipped)})", ""]
        out += _md_table(["file", "reason"], [[md_escape(s.get("rel", "?")), md_escape(s.get("reason", ""))]
                                              for s in skipped]) + [""]
    return "\n".join(out).rstrip("\n") + "\n"
