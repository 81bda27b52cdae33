"""The HTML page every bbselect page is built in: one stylesheet, one shell, shared pieces.

``report.html`` of a run and ``index.html`` of a sweep use the same ``page`` shell and ``CSS``, so they
look alike and have the same guarantees: self-contained (inline CSS, no scripts, no external URLs),
every user string escaped (``e``), no horizontal scroll at 1280 px (tables fit: long labels are
shortened at the end with the full text in a tooltip, long paths wrap anywhere).
"""

from __future__ import annotations

import html

from bbselect.reports.content import RANDOM_BANNER, url_of
from bbselect.reports.headline import headline, headline_parts, shorten_end

LABEL_CHARS = 30  # backbone labels in tables and headers (the full label is in the tooltip)

CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;margin:1.2em auto;padding:0 1em;color:#222}
h1{margin:.1em 0 .3em;font-size:1.5em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em;font-size:1.25em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px;max-width:100%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3;overflow-wrap:anywhere} .tablewrap{max-width:100%;overflow-x:auto} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.banner{background:#c00000;color:#fff;font-weight:700;font-size:1.25em;padding:.6em 1em;margin:.6em 0;border-radius:4px}
.headline{font-size:1.2em;background:#f6f8fa;border-left:5px solid #4472c4;padding:.55em 1em;margin:.4em 0 .8em}
.headline strong{font-size:1.1em} .headline .ci{white-space:nowrap} .muted{color:#555;font-size:.9em}
.warnings li{color:#8a4b00} .verdict{background:#f6f8fa;border-left:4px solid #4472c4;padding:.6em 1em}
.random{color:#c00000;font-weight:700} .degenerate{color:#c00000;font-size:.9em} .tie{color:#555;font-size:.9em}
tr.best td{background:#eef4ff}
img{max-width:100%;height:auto;border:1px solid #ddd} figure{margin:.8em 0} figcaption{color:#555;font-size:.9em}
details{margin:.6em 0} summary{cursor:pointer;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:0 1em} .charts figure{flex:1 1 480px;min-width:0;margin:.4em 0}
dt{font-weight:700;font-family:monospace} dd{margin:0 0 .6em 1.5em}
"""


def e(x) -> str:
    return html.escape(str(x), quote=True)


def short_label(text, n: int = LABEL_CHARS) -> str:
    """A label shortened at the end, with the exact full text as a tooltip when it was cut or its
    white space folded (HTML)."""
    cut = shorten_end(text, n)
    if cut == str(text):
        return e(cut)
    return f'<span title="{e(text)}">{e(cut)}</span>'


def table(header: list[str], rows: list[list[str]], numeric=frozenset(), row_class=None) -> str:
    """``header`` cells are escaped; row cells must already be HTML. ``row_class(i)`` -> class or None."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cls = row_class(i) if row_class else None
        cells = "".join(f'<td class="num">{c}</td>' if j in numeric else f"<td>{c}</td>" for j, c in enumerate(r))
        body.append((f'<tr class="{e(cls)}">' if cls else "<tr>") + cells + "</tr>")
    return (f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table></div>")


def figure(path: str, alt: str, caption: str) -> str:
    return f'<figure><img src="{e(url_of(path))}" alt="{e(alt)}"><figcaption>{e(caption)}</figcaption></figure>'


def banner() -> str:
    return f'<div class="banner">{e(RANDOM_BANNER)}</div>'


# how the HTML marks up each role of the headline's parts (``headline.headline_parts``)
HEADLINE_MARKUP = {"best": lambda t: f"<strong>{short_label(t, 40)}</strong>",
                   "cheapest": lambda t: f"<strong>{short_label(t)}</strong>", "label": short_label,
                   "interval": lambda t: f'<span class="ci">{e(t)}</span>',
                   "muted": lambda t: f'<span class="muted">{e(t)}</span>',
                   "alert": lambda t: f'<span class="random">{e(t)}</span>',
                   "prior": lambda t: f'<span class="prior">{e(t)}</span>', "text": e}


def parts_html(parts: list[tuple[str, str]]) -> str:
    """The headline's parts (the same as the plain headline's, in the same order), marked up by role."""
    return '<p class="headline" id="headline">' + "".join(HEADLINE_MARKUP[r](t) for r, t in parts) + "</p>"


def headline_html(summary: dict) -> str:
    """The headline of a summary (``headline.headline``), marked up: the plain headline's own parts."""
    return parts_html(headline_parts(headline(summary)))


def page(title: str, body: list[str]) -> str:
    """A complete HTML document with the shared stylesheet."""
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>", *body, "</body></html>"]) + "\n"
