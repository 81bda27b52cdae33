"""Progress of the long phases (maps, scores, figures): one ``rich`` bar per phase on a terminal,
plain periodic lines otherwise, nothing with ``-q``.

On a terminal each phase gets its own bar with the count, rate (images/s, maps/s), elapsed time and
ETA, so there is no silent stretch between phases. Piped or redirected (CI logs), a line every
``every_s`` seconds (default 10) and one at the end. Everything goes to stderr, so stdout stays free
for machine-readable output.
"""

from __future__ import annotations

import sys
import time

import click


class Progress:
    def __init__(self, label: str, total: int, *, quiet: bool = False, every_s: float = 10.0, stream=None,
                 unit: str = "images"):
        self.label = label
        self.unit = unit
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.every_s = every_s
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last = self.t0
        self._bar = None
        if not quiet and self.tty:
            self._bar, self._task = _rich_bar(self.stream, label, total, unit)

    def rate(self) -> float:
        dt = time.perf_counter() - self.t0
        return self.done / dt if dt > 0 else 0.0

    def _line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.label}: {self.done}/{self.total} {self.unit} ({pct:3.0f}%), {self.rate():.1f} {self.unit}/s"

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=n, rate=f"{self.rate():.1f} {self.unit}/s")
            return
        now = time.perf_counter()
        if now - self._last >= self.every_s or self.done == self.total:
            click.echo(self._line(), file=self.stream)
            self._last = now

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _rich_bar(stream, label: str, total: int, unit: str):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    rate = TextColumn("{task.fields[rate]}")
    bar = Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit), rate,
              TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
              console=Console(file=stream), transient=False)
    task = bar.add_task(label, total=total, rate="")
    bar.start()
    return bar, task


def log(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        click.echo(message, file=sys.stderr)
