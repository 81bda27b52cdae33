"""One presentation model: the same value reads the same in report.html, report.md and the terminal.

The reports are parsed back (HTML tables, GFM tables, the terminal's lines) and compared column by
column, so a renderer that formats a number its own way is caught; and the renderer modules are
checked never to format a number themselves (they import no formatter and write no format spec).
"""

import ast
import re
import html
import io
from html.parser import HTMLParser
from pathlib import Path

from rich.console import Console
from test_report import _cells, _tables, make_summary

from bbselect.reports.headline import headline, headline_text
from bbselect.reports.html import render_html
from bbselect.reports.markdown import render_markdown
from bbselect.reports.terminal import print_result

REPORTS = Path(__file__).resolve().parents[2] / "bbselect" / "reports"
RENDERERS = ("html.py", "markdown.py", "terminal.py", "page.py")


def realistic():
    """test_report's summary (as pipeline.compare builds it) with what a real run adds: measured speed
    with its spread, a small GFLOPs figure, label-aware scores and the prior's top-1."""
    s = make_summary()
    vgg, mob = s["backbones"]
    mob["cost"].update(gflops=0.0123, params=218_544, ms_per_image=4.61, ms_lo=4.5, ms_hi=5.52, images_per_s=123.45)
    vgg["cost"].update(ms_lo=80.04, ms_hi=91.2)
    vgg["top1"] = {"value": 71.3}
    for b, acc in ((vgg, 0.8125), (mob, 0.6667)):
        b["labels"] = {"linear_probe": {"mean": acc, "lo": acc - 0.2, "hi": acc + 0.1}, "knn": {"mean": acc - 0.05},
                       "logme": -1.23456, "n": 3, "n_classes": 2, "chance": 0.6667}
    return s


class _TableText(HTMLParser):
    """Every <table> of a page as rows of cell texts (tags dropped, entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.row, self.cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "br" and self.cell is not None:
            self.cell += " "

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr":
            self.tables[-1].append(self.row)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def html_table(page: str, second_header: str) -> list[list[str]]:
    """The page's table whose second column starts with ``second_header``, as rows of cell texts."""
    p = _TableText()
    p.feed(page)
    return next(t for t in p.tables if t[0][1].startswith(second_header))


def md_table(md: str, second_header: str) -> list[list[str]]:
    """The same for a GFM table (the rule line dropped, escapes kept)."""
    rows = next(t for t in _tables(md) if _cells(t[0])[1].strip().startswith(second_header))
    return [[c.strip() for c in _cells(line)] for i, line in enumerate(rows) if i != 1]


def column(rows: list[list[str]], header: str) -> dict[str, str]:
    """backbone -> the cell under ``header`` (the header that starts with it)."""
    j = next(i for i, h in enumerate(rows[0]) if h.startswith(header))
    k = next(i for i, h in enumerate(rows[0]) if h.startswith("backbone"))
    return {r[k].split(" RANDOM")[0].replace("\\", ""): second_line(r[j]) for r in rows[1:]}


def second_line(text: str) -> str:
    """A cell's second line is laid out as a new line in HTML and in brackets in Markdown: one form."""
    return re.sub(r" \((n = \d+)\)$", r" \1", text)


def terminal_text(summary: dict) -> str:
    out = io.StringIO()
    print_result(summary, Path("report.html"), Console(file=out, width=200, highlight=False))
    return out.getvalue()


def test_every_ranking_number_reads_the_same_in_html_markdown_and_the_terminal():
    s = realistic()
    page, md, term = render_html(s), render_markdown(s), terminal_text(s)
    h_rank, m_rank = html_table(page, "backbone"), md_table(md, "backbone")
    for header in ("separation", "GFLOPs", "params", "ms / image", "dead ch", "eff. rank"):
        assert column(h_rank, header) == column(m_rank, header), header
    gflops, ms = column(h_rank, "GFLOPs"), column(h_rank, "ms / image")
    assert gflops["mobilenet:alpha=0.25"] == "0.0123" and ms["mobilenet:alpha=0.25"] == "4.6 (4.5–5.5)"
    lines = {lb: next(line for line in term.splitlines() if line.lstrip(" 0123456789").startswith(lb + " "))
             for lb in ("vgg16", "mobilenet:alpha=0.25")}
    for lb, line in lines.items():  # the terminal's row shows the report's texts
        evidence = column(h_rank, "separation")[lb].split(" n = ")[0]
        assert evidence in line and gflops[lb] in line and ms[lb] in line, line
    assert "71.3" in lines["vgg16"]
    # label-aware scores: the same texts in both reports
    h_lab, m_lab = html_table(page, "linear-probe accuracy"), md_table(md, "linear-probe accuracy")
    for header in ("linear-probe accuracy", "kNN", "LogME", "images", "classes", "chance"):
        assert column(h_lab, header) == column(m_lab, header), header
    # the headline: one sentence, its interval verbatim in all three
    first = headline_text(headline(s))
    shown = re.search(r'<p class="headline" id="headline">(.*?)</p>', page).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", shown)) == first
    assert first in term.replace("\n", " ") and f"**{first}**" in md
    assert "0.400 [0.350, 0.450]" in first and "(0.0123 vs 30.7 GFLOPs)" in first


def test_every_number_cell_of_the_model_is_in_both_reports_verbatim():
    from bbselect.reports import formats, view

    s = realistic()
    page, md = html.unescape(render_html(s)), render_markdown(s)
    v = view.report_view(s)
    tables = [v["ranking"], v["details"], *v["evidence"], *v["map_scores"], v["per_image"]]
    cells = [c for t in tables for r in t.rows for c in r if c.kind not in ("text", "label")]
    assert len(cells) > 40
    for c in cells:
        assert c.text.startswith(formats.FORMATS[c.kind](c.value))  # its kind's one formatter (+ words)
        assert c.text in page and c.text in md, (c.kind, c.text)


def _imports_and_format_specs(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    specs = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.FormattedValue) and n.format_spec is not None]
    return names, modules, specs


def test_renderers_never_format_a_number_themselves():
    """HTML, Markdown and the terminal take every number's text from the model: they import no number
    formatter (``bbselect.common``, ``reports.formats``, ``fmt_*``) and write no format spec (``:.3f``)."""
    for name in RENDERERS:
        names, modules, specs = _imports_and_format_specs(REPORTS / name)
        assert not [n for n in names if n[0] in ("bbselect.common", "bbselect.reports.formats")
                    or n[1].startswith("fmt_") or n[1] == "formats"], name
        assert not {m for m in modules if m.endswith(("common", "formats"))}, name
        assert not specs, f"{name} formats numbers itself at lines {specs}"


def test_the_ranking_note_of_a_cheap_box_score_says_what_it_is_and_how_ties_are_made():
    """Ranked by the objectness probe (no ``method`` text), the note read "objectness-probe AUROC Backbones
    whose intervals overlap are marked as tied" — half a sentence, and wrong: its ties are paired."""
    from bbselect.reports import content
    from bbselect.scoring import registry

    spec = registry.get("objectness")
    summary = {"evidence": {"evidence": "boxes", "metric": spec.title},
               "backbones": [{"label": "a", "primary": {"mean": 0.8, "paired": {"b": {"tied": True}}}}]}
    note = content.ranking_note(summary)
    assert note.startswith(spec.doc) and "paired comparison" in note and "intervals overlap" not in note
