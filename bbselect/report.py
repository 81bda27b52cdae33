"""HTML / Markdown / CSV renderings of the run summary (the dict that is also saved as scores.json).

Pure functions: a summary in, a string (or CSV rows) out; the caller writes files.

Safety: every user-derived string (file names, labels, layer names, reasons, verdict, warnings) is
escaped for the target format; figure paths are URL-quoted and stay relative. The HTML page is
self-contained: inline CSS, no scripts, no external URLs. Missing numbers (NaN, null) read "n/a".
Accepts the summary as built in memory (NaN floats) and as read back from scores.json (nulls).
"""

from __future__ import annotations

import html
import math
import numbers
from urllib.parse import quote

from .ranking import separation

SCORE_NAMES = ("otsu", "top10_mass", "concentration")
RANDOM_BANNER = "RANDOM WEIGHTS — scores say nothing about pretrained features"


# --------------------------------------------------------------------------
# numbers and shared pieces
# --------------------------------------------------------------------------

def _finite(x) -> bool:
    """A real, finite number (numpy scalars included; bools and None are not numbers here)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _num(x, digits: int = 2) -> str:
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return str(int(x))
    return f"{x:.{digits}f}" if _finite(x) else "n/a"


def _ci(s: dict | None, digits: int = 2) -> str:
    """``mean [lo, hi]``; "n/a" without a mean; the bare mean when the interval is unknown."""
    s = s or {}
    if not _finite(s.get("mean")):
        return "n/a"
    m = f"{s['mean']:.{digits}f}"
    if _finite(s.get("lo")) and _finite(s.get("hi")):
        return f"{m} [{s['lo']:.{digits}f}, {s['hi']:.{digits}f}]"
    return m


def _n(s: dict | None) -> str:
    s = s or {}
    miss = s.get("n_missing") or 0
    return f"{s.get('n', 'n/a')}" + (f" ({miss} missing)" if miss else "")


def _millions(p) -> str:
    if not _finite(p):
        return "n/a"
    m = p / 1e6
    return f"{m:.1f}" if m >= 10 else f"{m:.2f}"


def _percent(f) -> str:
    return f"{100 * f:.0f}%" if _finite(f) else "n/a"


def channel_stats_of(b: dict) -> dict:
    """Channel statistics: ``channels_stats`` (pipeline) or a dict under ``channels`` (older schema)."""
    stats = b.get("channels_stats")
    if isinstance(stats, dict):
        return stats
    ch = b.get("channels")
    return ch if isinstance(ch, dict) else {}


def _erank(b: dict) -> str:
    st = channel_stats_of(b)
    if not _finite(st.get("effective_rank")):
        return "n/a"
    frac = st.get("effective_rank_fraction")
    return f"{st['effective_rank']:.1f}" + (f" ({100 * frac:.0f}%)" if _finite(frac) else "")


def _where(b: dict) -> str:
    return f"{b.get('layer', '?')} ({b['stage']})" if b.get("stage") else str(b.get("layer", "?"))


def _map_size(b: dict) -> str:
    shape = b.get("map_shape") or []
    size = "×".join(str(s) for s in shape) if shape else "n/a"
    ch = b.get("channels")
    ch = ch if isinstance(ch, int) else channel_stats_of(b).get("n_channels")
    return f"{size}×{ch}" if isinstance(ch, int) else size


def _ties(b: dict) -> str:
    tied = b.get("tied_with") or []
    return "tied with " + ", ".join(tied) if tied else ""


def _aggregations(summary: dict) -> list[str]:
    out: list[str] = []
    for b in summary.get("backbones", []):
        for k in (b.get("scores") or {}):
            if k not in out:
                out.append(k)
    return out


def image_separation(per_map: dict | None) -> float:
    """One image's separation for one backbone (``ranking.separation`` on the summary's dicts)."""
    return separation(per_map or {})


def _degenerate_marks(per_map: dict | None) -> list[str]:
    return [f"{k}: {s['degenerate']}" for k, s in (per_map or {}).items()
            if isinstance(s, dict) and s.get("degenerate")]


def _url(path: str) -> str:
    """A relative URL for a figure path: backslashes to '/', everything else percent-quoted."""
    return quote(str(path).replace("\\", "/"), safe="/")


def _is_random(summary: dict) -> bool:
    return bool((summary.get("run") or {}).get("random_weights"))


def _run_facts(summary: dict) -> list[tuple[str, str]]:
    run = summary.get("run") or {}
    kinds = sorted({(b.get("weights") or {}).get("kind", "?") for b in summary.get("backbones", [])})
    facts = [("run", run.get("name")), ("created", run.get("created")), ("images folder", run.get("images_dir")),
             ("images scored", run.get("n_images")), ("files skipped", run.get("n_skipped")),
             ("input size", run.get("input_size")), ("resize", run.get("resize")),
             ("layer", run.get("layer")), ("weights", ", ".join(kinds) or None)]
    return [(k, str(v)) for k, v in facts if v is not None]


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

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


def _random_backbone(b: dict) -> bool:
    return bool(b.get("random_weights")) or (b.get("weights") or {}).get("kind") == "none"


def _label_html(b: dict) -> str:
    rnd = _random_backbone(b)
    return _e(b.get("label", "?")) + (' <span class="random">RANDOM WEIGHTS</span>' if rnd else "")


def _ranking_note(summary: dict) -> str:
    metric = _primary_metric(summary)
    what = {
        "separation": "Separation: per image, the mean of the three map scores over the max and mean maps "
                      "(degenerate maps left out); its mean over images with a 95% bootstrap interval.",
        "linear-probe accuracy": "Linear-probe accuracy: out-of-fold accuracy of a logistic regression on the "
                                 "pooled features, with a 95% Wilson interval.",
        "box AUROC": "Box AUROC: per image, the AUROC of map values against the box mask (mean of the max and "
                     "mean maps); its mean over annotated images with a 95% bootstrap interval.",
    }.get(metric, metric)
    return what + " Backbones whose intervals overlap are marked as tied."


def _primary_metric(summary: dict) -> str:
    return (summary.get("evidence") or {}).get("metric", "separation")


def _evidence_line(summary: dict) -> str:
    ev = summary.get("evidence") or {}
    if not ev:
        return ""
    parts = [f"Evidence used for the ranking: {ev.get('evidence', 'label-free')} ({ev.get('metric', 'separation')})."]
    if ev.get("labels"):
        parts.append(f"Labels: {ev['labels']}.")
    bx = ev.get("boxes")
    if bx:
        parts.append(f"Boxes: {bx.get('n_boxes')} {bx.get('format')} boxes on {bx.get('images_with_boxes')} images; "
                     f"{bx.get('images_without')} images without annotation.")
        parts.extend(bx.get("notes") or [])
    return " ".join(parts)


def _evidence_sections(summary: dict) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows of plain strings, note) for the label- and box-aware tables."""
    backbones = summary.get("backbones", [])
    out = []
    labelled = [b for b in backbones if b.get("labels")]
    if labelled:
        rows = [[b.get("label", "?"), _ci(b["labels"].get("linear_probe")), _ci(b["labels"].get("knn")),
                 _num(b["labels"].get("logme"), 3), str(b["labels"].get("n", "")),
                 str(b["labels"].get("n_classes", "")), _num(b["labels"].get("chance"))] for b in labelled]
        out.append(("Label-aware scores",
                    ["backbone", "linear probe [95% CI]", "kNN [95% CI]", "LogME", "images", "classes", "chance"],
                    rows, "Accuracy of a logistic-regression probe and of k-nearest neighbours on the pooled "
                          "features (5-fold stratified cross-validation; 95% Wilson interval). LogME: log "
                          "evidence per image of a Bayesian linear model (higher = better; compare within a "
                          "dataset only). Chance = share of the largest class."))
    boxed = [b for b in backbones if b.get("boxes")]
    if boxed:
        rows = []
        for b in boxed:
            for agg, per in (b["boxes"].get("maps") or {}).items():
                rows.append([b.get("label", "?"), agg, _ci(per.get("auroc")), _ci(per.get("mass_ratio")),
                             _ci(per.get("pointing")), _n(per.get("auroc"))])
        out.append(("Box-aware scores", ["backbone", "map", "AUROC [95% CI]", "mass in boxes / area [95% CI]",
                                         "pointing game [95% CI]", "images"],
                    rows, "AUROC: chance 0.5. Mass ratio: activation share inside the boxes over their area "
                          "share, chance 1. Pointing game: share of images whose map peak lies in a box."))
    return out


def render_html(summary: dict) -> str:
    run = summary.get("run") or {}
    backbones = summary.get("backbones", [])
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>bbselect report: {_e(run.get('name', ''))}</title><style>{_CSS}</style></head><body>",
           f"<h1>bbselect report: {_e(run.get('name', ''))}</h1>"]
    out.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _run_facts(summary))
               + "</table>")
    if _is_random(summary):
        out.append(f'<div class="banner">{_e(RANDOM_BANNER)}</div>')
    if summary.get("warnings"):
        out.append('<h2>Warnings</h2><ul class="warnings">'
                   + "".join(f"<li>{_e(w)}</li>" for w in summary["warnings"]) + "</ul>")
    out.append(f'<h2>Verdict</h2><p class="verdict">{_e(summary.get("verdict", ""))}</p>')
    if _evidence_line(summary):
        out.append(f"<p><small>{_e(_evidence_line(summary))}</small></p>")

    out.append("<h2>Ranking</h2>")
    rows = []
    for b in backbones:
        cost, st = b.get("cost") or {}, channel_stats_of(b)
        ties = _ties(b)
        rows.append([_e(b.get("rank", "")), _label_html(b), _e(_where(b)), _e(_map_size(b)),
                     _e(_ci(b.get("primary") or b.get("separation")))
                     + f"<br><small>n = {_e(_n(b.get('primary') or b.get('separation')))}</small>",
                     f'<span class="tie">{_e(ties)}</span>' if ties else "",
                     _millions(cost.get("params")), _num(cost.get("gflops")), _num(cost.get("ms_per_image"), 1),
                     _num(cost.get("images_per_s"), 1), _percent(st.get("dead_fraction")), _e(_erank(b))])
    metric = _primary_metric(summary)
    out.append(_table(["rank", "backbone", "layer (stage)", "map h×w×C", f"{metric} [95% CI]", "ties",
                       "params (M)", "GFLOPs", "ms / image", "images / s", "dead channels", "effective rank"],
                      rows, numeric={0, 6, 7, 8, 9, 10, 11}))
    out.append(f"<p><small>{_e(_ranking_note(summary))} Effective rank in brackets: share of the maximum "
               "possible rank.</small></p>")

    for title, header, erows, note in _evidence_sections(summary):
        out.append(f"<h2>{_e(title)}</h2>")
        out.append(_table(header, [[_e(c) for c in r] for r in erows]))
        out.append(f"<p><small>{_e(note)}</small></p>")

    out.append("<h2>Label-free map scores</h2>")
    for agg in _aggregations(summary):
        out.append(f"<h3>channel {_e(agg)} map</h3>")
        rows = []
        for b in backbones:
            per = (b.get("scores") or {}).get(agg) or {}
            rows.append([_label_html(b), *[_e(_ci(per.get(n))) for n in SCORE_NAMES],
                         _e(_n(per.get(SCORE_NAMES[0]))), _e((b.get("degenerate") or {}).get(agg, "n/a"))])
        out.append(_table(["backbone", *[f"{n} mean [95% CI]" for n in SCORE_NAMES], "images scored",
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
            out.append(f'<figure><img src="{_e(_url(figs["score_chart"]))}" alt="score chart">'
                       "<figcaption>Separation with 95% CI, and measured cost.</figcaption></figure>")
        if figs.get("quality_cost_chart"):
            out.append(f'<figure><img src="{_e(_url(figs["quality_cost_chart"]))}" alt="quality vs cost">'
                       "<figcaption>Ranking score vs measured ms/image; filled = Pareto-optimal.</figcaption></figure>")
        for label, path in (figs.get("class_scatter") or {}).items():
            out.append(f'<figure><img src="{_e(_url(path))}" alt="classes, {_e(label)}">'
                       f"<figcaption>{_e(label)}: pooled features of each image, PCA, coloured by class."
                       "</figcaption></figure>")
        for agg, path in (figs.get("contact_sheets") or {}).items():
            if path:
                out.append(f'<figure><img src="{_e(_url(path))}" alt="contact sheet, channel {_e(agg)}">'
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
            cell0 = f'<a href="{_e(_url(im["figure"]))}">{name}</a>' if im.get("figure") else name
            if im.get("size"):
                cell0 += f"<br><small>{_e('×'.join(str(v) for v in im['size']))}</small>"
            row = [cell0]
            for lb in labels:
                per = (im.get("scores") or {}).get(lb)
                if per is None:
                    row.append("n/a")
                    continue
                detail = "; ".join(f"{k}: " + ", ".join(f"{n} {_num(s.get(n))}" for n in SCORE_NAMES)
                                   for k, s in per.items() if isinstance(s, dict))
                cell = f'<span title="{_e(detail)}">{_num(image_separation(per))}</span>'
                marks = _degenerate_marks(per)
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


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

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
    rnd = _random_backbone(b)
    return md_escape(b.get("label", "?")) + (" **RANDOM WEIGHTS**" if rnd else "")


def render_markdown(summary: dict) -> str:
    run = summary.get("run") or {}
    backbones = summary.get("backbones", [])
    out = [f"# bbselect report: {md_escape(run.get('name', ''))}", ""]
    out += [f"- **{k}:** {md_escape(v)}" for k, v in _run_facts(summary)] + [""]
    if _is_random(summary):
        out += [f"> **⚠ {RANDOM_BANNER}**", ""]
    if summary.get("warnings"):
        out += ["## Warnings", ""] + [f"- {md_escape(w)}" for w in summary["warnings"]] + [""]
    out += ["## Verdict", "", md_escape(summary.get("verdict", "")), ""]
    if _evidence_line(summary):
        out += [md_escape(_evidence_line(summary)), ""]

    out += ["## Ranking", ""]
    rows = []
    for b in backbones:
        cost, st = b.get("cost") or {}, channel_stats_of(b)
        rows.append([str(b.get("rank", "")), _md_label(b), md_escape(_where(b)), md_escape(_map_size(b)),
                     f"{_ci(b.get('primary') or b.get('separation'))} (n = {_n(b.get('primary') or b.get('separation'))})",
                     md_escape(_ties(b)),
                     _millions(cost.get("params")), _num(cost.get("gflops")), _num(cost.get("ms_per_image"), 1),
                     _num(cost.get("images_per_s"), 1), _percent(st.get("dead_fraction")), _erank(b)])
    out += _md_table(["rank", "backbone", "layer (stage)", "map h×w×C", f"{md_escape(_primary_metric(summary))} [95% CI]", "ties",
                      "params (M)", "GFLOPs", "ms / image", "images / s", "dead channels", "effective rank"], rows)
    out += ["", md_escape(_ranking_note(summary)), ""]

    for title, header, erows, note in _evidence_sections(summary):
        out += [f"## {title}", ""] + _md_table(header, [[md_escape(c) for c in r] for r in erows])
        out += ["", md_escape(note), ""]

    out += ["## Label-free map scores", ""]
    for agg in _aggregations(summary):
        out += [f"### channel {md_escape(agg)} map", ""]
        rows = []
        for b in backbones:
            per = (b.get("scores") or {}).get(agg) or {}
            rows.append([_md_label(b), *[_ci(per.get(n)) for n in SCORE_NAMES], _n(per.get(SCORE_NAMES[0])),
                         md_escape((b.get("degenerate") or {}).get(agg, "n/a"))])
        out += _md_table(["backbone", *[f"{n} mean [95% CI]" for n in SCORE_NAMES], "images scored",
                          "degenerate maps"], rows) + [""]
    out += ["The channel-sum map is C × the channel-mean map, so its scores equal the mean map's.", ""]

    if summary.get("score_docs"):
        out += ["## How to read the scores", ""]
        out += [f"- **{md_escape(k)}**: {md_escape(v)}" for k, v in summary["score_docs"].items()] + [""]

    figs = summary.get("figures") or {}
    if figs.get("score_chart") or figs.get("contact_sheets"):
        out += ["## Figures", ""]
        if figs.get("score_chart"):
            out += [f"![score chart]({_url(figs['score_chart'])})", ""]
        if figs.get("quality_cost_chart"):
            out += [f"![quality vs cost]({_url(figs['quality_cost_chart'])})", ""]
        for label, path in (figs.get("class_scatter") or {}).items():
            out += [f"![classes, {md_escape(label)}]({_url(path)})", ""]
        for agg, path in (figs.get("contact_sheets") or {}).items():
            if path:
                out += [f"![contact sheet, channel {md_escape(agg)}]({_url(path)})", ""]

    images = summary.get("images") or []
    if images:
        labels = [b.get("label", "?") for b in backbones]
        out += ["## Per-image scores", "", "Cell: the image's separation for that backbone; degenerate maps noted.", ""]
        rows = []
        for im in images:
            name = md_escape(im.get("rel", "?"))
            row = [f"[{name}]({_url(im['figure'])})" if im.get("figure") else name]
            for lb in labels:
                per = (im.get("scores") or {}).get(lb)
                if per is None:
                    row.append("n/a")
                    continue
                marks = _degenerate_marks(per)
                row.append(_num(image_separation(per)) + "".join(f" ⚠ degenerate {md_escape(m)}" for m in marks))
            rows.append(row)
        out += _md_table(["image", *[md_escape(lb) for lb in labels]], rows) + [""]

    skipped = summary.get("skipped") or []
    if skipped:
        out += [f"## Skipped files ({len(skipped)})", ""]
        out += _md_table(["file", "reason"], [[md_escape(s.get("rel", "?")), md_escape(s.get("reason", ""))]
                                              for s in skipped]) + [""]
    return "\n".join(out).rstrip("\n") + "\n"
