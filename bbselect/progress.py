"""Progress for long loops: a live bar with a rate (images/s, maps/s) on a terminal, plain periodic lines otherwise.

Everything goes to stderr so stdout stays free for machine-readable output.
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
        now = time.perf_counter()
        if self.tty:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            click.echo(f"\r[{bar}] {self._line()}", file=self.stream, nl=False)
        elif now - self._last >= self.every_s or self.done == self.total:
            click.echo(self._line(), file=self.stream)
            self._last = now

    def close(self) -> None:
        if not self.quiet and self.tty:
            click.echo("", file=self.stream)


def log(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        click.echo(message, file=sys.stderr)
