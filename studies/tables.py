"""Formatting shared by the studies' pages and terminal tables: one formatter per kind of number and
one Markdown table builder (the within-family and the cross-family study print same-shaped tables)."""

from __future__ import annotations

from bbselect.common import finite


def fmt(v, nd: int = 2) -> str:
    """A statistic with ``nd`` decimals, ``NaN`` when missing."""
    return "NaN" if not finite(v) else f"{v:.{nd}f}"


def fmt_p(v) -> str:
    """A p-value: three decimals, scientific below 1e-3, ``–`` when missing."""
    if not finite(v):
        return "–"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def fmt_ci(t: dict) -> str:
    """``{"tau", "lo", "hi"}`` as ``τ [lo, hi]``."""
    return f"{fmt(t['tau'])} [{fmt(t['lo'])}, {fmt(t['hi'])}]"


def yes(v) -> str:
    """A yes/no finding (``–`` when it could not be asked)."""
    return "–" if v is None else ("yes" if v else "**no**")


def markdown(head: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A Markdown table: ``align`` has one letter per column, ``l`` (left) or ``r`` (right)."""
    rule = "|" + "".join("---|" if a == "l" else "---:|" for a in align)
    return [_row(head), rule, *(_row(r) for r in rows)]


def _row(cells: list[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def terminal(head: list[tuple[str, int]], rows: list[list[str]]) -> list[str]:
    """A fixed-width terminal table: ``head`` = (title, width); the first column is left-aligned."""
    def line(cells):
        return " ".join(f"{c:{'<' if i == 0 else '>'}{w}s}" for i, (c, (_, w)) in enumerate(zip(cells, head)))
    return [line([h for h, _ in head]), *(line(r) for r in rows)]
