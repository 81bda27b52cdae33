"""How every number people read is written: one formatter per kind of number, and the cell that carries it.

The presentation model (``view``) holds every value a report shows as a :class:`Cell`: its kind, its
raw value and its one text, made here by :func:`cell`. The renderers (HTML, Markdown, the terminal)
only escape and lay those texts out, so a value reads the same in all of them. Missing numbers (NaN,
None) read "n/a". Scores and intervals use ``common.fmt_value`` / ``common.fmt_interval`` (the verdict,
written in ``scoring``, uses them too): three decimals below 1, three significant figures above.
"""

from __future__ import annotations

from dataclasses import dataclass

from bbselect.common import finite, fmt_gflops, fmt_interval, fmt_value

NA = "n/a"


def fmt_signed(x) -> str:
    """A difference: ``+0.012`` / ``-0.030`` (a score's digits, with its sign always written)."""
    return NA if not finite(x) else ("+" if x >= 0 else "") + fmt_value(x)


def fmt_signed_interval(s: dict | None) -> str:
    """A difference with its interval: ``+0.012 [-0.010, 0.030]``."""
    s = s or {}
    if not finite(s.get("mean")):
        return NA
    known = finite(s.get("lo")) and finite(s.get("hi"))
    return fmt_signed(s["mean"]) + (f" [{fmt_value(s['lo'])}, {fmt_value(s['hi'])}]" if known else "")


def fmt_logme(x) -> str:
    """A log evidence (LogME, ROI-LogME, TLogME; unbounded, often above 1): three decimals."""
    return f"{x:.3f}" if finite(x) else NA


def fmt_percent(f) -> str:
    """A share as a whole percentage: 0.123 -> 12%."""
    return f"{100 * f:.0f}%" if finite(f) else NA


def fmt_count(x) -> str:
    """A count; given a score's statistics (``n``, ``n_missing``): ``12 (3 missing)``."""
    if isinstance(x, dict):
        miss = x.get("n_missing") or 0
        return fmt_count(x.get("n")) + (f" ({miss} missing)" if miss else "")
    return str(int(x)) if finite(x) else NA


def fmt_params(p) -> str:
    """Parameters in readable units: 10864 -> 10.9 k, 23587712 -> 23.6 M."""
    if not finite(p):
        return NA
    p = float(p)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if p >= div:
            return f"{p / div:.3g} {unit}"
    return f"{p:.0f}"


def fmt_ms(cost: dict | None) -> str:
    """Measured ms/image: the median, with the spread over timed forward passes when known."""
    cost = cost or {}
    ms = cost.get("ms_per_image")
    if not finite(ms):
        return NA
    lo, hi = cost.get("ms_lo"), cost.get("ms_hi")
    if finite(lo) and finite(hi) and hi > lo:
        return f"{ms:.1f} ({lo:.1f}–{hi:.1f})"
    return f"{ms:.1f}"


def fmt_tenths(x) -> str:
    """A rate or a size to one decimal (images / s, effective rank, ImageNet top-1 %)."""
    return f"{x:.1f}" if finite(x) else NA


def fmt_seconds(x) -> str:
    return f"{x:.0f}" if finite(x) else NA


def fmt_top1(x) -> str:
    """A documented ImageNet top-1 (%); "?" when nobody documented it (the prior does not know)."""
    return fmt_tenths(x) if finite(x) else "?"


def _text(x) -> str:
    return "" if x is None else str(x)


# kind -> its one formatter. "text" and "label" are user or run strings, shown as they are.
FORMATS = {"number": fmt_value, "interval": fmt_interval, "signed": fmt_signed,
           "signed_interval": fmt_signed_interval, "logme": fmt_logme, "percent": fmt_percent,
           "count": fmt_count, "gflops": fmt_gflops, "params": fmt_params, "ms": fmt_ms,
           "tenths": fmt_tenths, "seconds": fmt_seconds, "top1": fmt_top1, "text": _text, "label": _text}
NUMERIC = frozenset(FORMATS) - {"text", "label", "interval", "signed_interval"}


@dataclass(frozen=True)
class Cell:
    """One value as people read it. ``text`` is the whole formatted value; ``sub`` a second, smaller
    line (``n = 12``), ``title`` details for a tooltip, ``href`` a relative (URL-quoted) link, ``flag``
    a warning word beside a label (RANDOM WEIGHTS), ``marks`` warnings under the value, ``items`` the
    labels of a list cell (tied backbones)."""

    kind: str
    text: str
    value: object = None
    sub: str = ""
    title: str = ""
    href: str = ""
    flag: str = ""
    marks: tuple = ()
    items: tuple = ()


def cell(kind: str, value=None, text: str | None = None, **extra) -> Cell:
    """The cell of ``value`` as ``kind`` (its text from ``FORMATS[kind]``, unless the view composes it:
    ``text``, for a number with words, e.g. "n/a (fewer than two classes)")."""
    return Cell(kind, FORMATS[kind](value) if text is None else text, value, **extra)


@dataclass(frozen=True)
class Table:
    """A table of the model: ``key`` names it, ``columns`` are header texts, ``numeric`` the indexes
    of number columns (right-aligned), ``best`` the indexes of the rows to highlight."""

    key: str
    title: str
    columns: list
    rows: list
    note: str = ""
    numeric: frozenset = frozenset()
    best: frozenset = frozenset()
