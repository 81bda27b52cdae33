"""The end of a text-mode run in the terminal: the headline, a compact ranking table, the report path.

Rendered with ``rich`` (colours and box drawing on a terminal, plain text when piped). The same
rows as ``Result.ranking`` (``headline.ranking_rows``): rank, backbone, evidence with its 95%
interval, GFLOPs, and measured ms/image (the median over timed forward passes, one image each; report.html shows the spread).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bbselect.reports.headline import (
    fmt_gflops,
    fmt_interval,
    fmt_ms,
    headline,
    headline_text,
    ranking_rows,
    shorten_end,
)


def ranking_table(summary: dict, label_chars: int = 40) -> Table:
    rows = ranking_rows(summary)
    metric = rows[0]["metric"] if rows else "score"
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("#", justify="right")
    longest = max((len(r["backbone"] or "") for r in rows), default=8)
    # labels differ at their end (layer=c3 / c4): keep them whole up to label_chars, never squeezed
    table.add_column("backbone", no_wrap=True, overflow="ellipsis", min_width=min(longest, label_chars),
                     max_width=label_chars)
    table.add_column(f"{metric}\n[95% CI]", justify="right", no_wrap=True)
    table.add_column("GFLOPs", justify="right", no_wrap=True, min_width=6)
    table.add_column("ms/image", justify="right", no_wrap=True)  # the median; its spread is in the report
    table.add_column("top-1 %", justify="right", no_wrap=True)  # the static prior (documented ImageNet top-1)
    best_tied = set()
    h = headline(summary)
    if h["best"] is not None:
        best_tied = {h["best"], *h["tied"]}
    mixed = len({r["random_weights"] for r in rows}) > 1  # all random: the headline says so already
    for r in rows:
        ms = {"ms_per_image": r["ms_per_image"]}
        name = Text(shorten_end(r["backbone"], label_chars))
        if r["random_weights"] and mixed:
            name.append(" (random)", style="bold red")
        style = "bold" if r["backbone"] == h["best"] else ("" if r["backbone"] in best_tied else "dim")
        table.add_row(str(r["rank"] if r["rank"] is not None else ""), name,
                      fmt_interval({"mean": r["value"], "lo": r["lo"], "hi": r["hi"]}),
                      fmt_gflops(r["gflops"]), fmt_ms(ms),
                      "?" if r.get("imagenet_top1") is None else f"{r['imagenet_top1']:.1f}", style=style)
    return table


def print_result(summary: dict, report: Path, console: Console | None = None) -> None:
    """Headline, ranking table and the report's path."""
    console = console or Console(highlight=False)
    console.print(headline_text(headline(summary)), style="bold", soft_wrap=False)
    console.print(ranking_table(summary))
    console.print(f"report: {report}", soft_wrap=True)
