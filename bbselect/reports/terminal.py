"""The end of a text-mode run in the terminal: the headline, a compact ranking table, the report path.

A renderer of the presentation model (``view.terminal_view``): the headline's parts and the ranking's
cells are the reports' own (rank, backbone, evidence with its 95% interval, GFLOPs, measured ms/image
with its spread, and the documented ImageNet top-1 of the static prior); this module only lays them
out with ``rich`` (colours and box drawing on a terminal, plain text when piped).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bbselect.reports import view
from bbselect.reports.headline import shorten_end

STYLE = {"best": "bold", "tied": "", "": "dim"}  # ranked first, tied with it, the rest


def ranking_table(summary: dict, label_chars: int = 40) -> Table:
    model = view.terminal_view(summary)["ranking"]
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    longest = max((len(r[1].text) for r in model.rows), default=8)
    for j, title in enumerate(model.columns):
        if j == 1:  # labels differ at their end (layer=c3 / c4): keep them whole up to label_chars, never squeezed
            table.add_column(title, no_wrap=True, overflow="ellipsis", min_width=min(longest, label_chars),
                             max_width=label_chars)
        else:
            table.add_column(title, justify="right" if j in model.numeric or j == 2 else "left", no_wrap=j > 0,
                             min_width=6 if title == "GFLOPs" else None)
    mixed = len({bool(r[1].flag) for r in model.rows}) > 1  # all random: the headline says so already
    for r, role in zip(model.rows, model.best or ("",) * len(model.rows)):
        name = Text(shorten_end(r[1].text, label_chars))
        if r[1].flag and mixed:
            name.append(f" ({r[1].flag.lower()})", style="bold red")
        table.add_row(r[0].text, name, *[c.text for c in r[2:]], style=STYLE[role])
    return table


def print_result(summary: dict, report: Path, console: Console | None = None) -> None:
    """Headline, ranking table and the report's path."""
    console = console or Console(highlight=False)
    console.print("".join(text for _, text in view.terminal_view(summary)["headline"]), style="bold", soft_wrap=False)
    console.print(ranking_table(summary))
    console.print(f"report: {report}", soft_wrap=True)
