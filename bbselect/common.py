"""Small helpers every room shares, each written once: number checks and formatting, "did you
mean", and file digests. Pure functions; the only I/O is reading a file to hash it."""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import stat
from difflib import get_close_matches
from pathlib import Path

# A spread below this share of the values' own magnitude counts as none ("constant", "dead"): float32
# carries ~7 significant digits. Relative, so the tests hold at any scale (random-init activations are
# ~1e-16 and still differ between images). Used by the map, channel, stability and probe checks.
CONSTANT_RTOL = 1e-6


def finite(x) -> bool:
    """A real, finite number (numpy scalars included; bools, None and strings are not numbers here)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def float_or_nan(x) -> float:
    """``float(x)`` for a finite number, NaN for anything else (None, NaN, inf, a string)."""
    return float(x) if finite(x) else math.nan


def fmt_num(x, digits: int = 2, style: str = "f") -> str:
    """A string or an integer as written, a finite real with ``digits`` (``style`` "f" or "g"), else "n/a"."""
    if isinstance(x, str):
        return x
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return str(int(x))
    return f"{x:.{digits}{style}}" if finite(x) else "n/a"


def fmt_value(x, digits: int = 3) -> str:
    """A score for people: three decimals below 1 (0.8125 -> 0.812, 0.0301 -> 0.030), three
    significant figures above (12.34 -> 12.3); ``n/a`` when missing."""
    if not finite(x):
        return "n/a"
    x = float(x)
    if abs(x) < 1:  # shares, accuracies, AUROC, mAP: three decimals read alike down a column
        return f"{x:.3f}"
    mag = int(math.floor(math.log10(abs(x))))
    return f"{x:.{max(0, digits - 1 - mag)}f}"


def fmt_gflops(g) -> str:
    """GFLOPs, in every report, headline and verdict: three significant figures below 100 (0.0123, 7.8),
    whole numbers above; ``n/a`` when missing."""
    if not finite(g):
        return "n/a"
    return f"{g:.3g}" if g < 100 else f"{g:.0f}"


def fmt_interval(s: dict | None, digits: int = 3) -> str:
    """``mean [lo, hi]`` — the one interval format of every report, verdict and table — the bare mean when the interval is unknown, ``n/a`` without a mean."""
    s = s or {}
    if not finite(s.get("mean")):
        return "n/a"
    m = fmt_value(s["mean"], digits)
    if finite(s.get("lo")) and finite(s.get("hi")):
        return f"{m} [{fmt_value(s['lo'], digits)}, {fmt_value(s['hi'], digits)}]"
    return m


def close_matches(word: str, choices, n: int = 1) -> list[str]:
    """Up to ``n`` entries of ``choices`` that look like ``word`` (difflib's ratio, best first)."""
    return get_close_matches(str(word), [str(c) for c in choices], n=n)


def did_you_mean(word: str, choices, n: int = 1, quote: bool = True) -> str:
    """``"; did you mean 'x'?"`` (or ``x or y`` for n > 1), or "" when nothing is close."""
    hint = close_matches(word, choices, n)
    if not hint:
        return ""
    return "; did you mean " + " or ".join(repr(h) if quote else h for h in hint) + "?"


def readable(name: str) -> str:
    """``name`` as valid Unicode. Python holds the bytes of a file name that are not UTF-8 (common in
    zips made on Windows) as lone surrogates (PEP 383), which no UTF-8 report, JSON or hash can take;
    they become ``\\xNN`` here (``caf\\xe9.jpg``). Valid text is returned unchanged: image names get
    this once, when found, and every text file a run writes gets it again (a folder path can hold
    such bytes too)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        try:
            return os.fsencode(name).decode("utf-8", "backslashreplace")
        except UnicodeError:
            return name.encode("utf-8", "backslashreplace").decode("utf-8")


def special_file(path: str | Path) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder ("a FIFO", "a
    character device", ...), else None. Only ``stat``: opening a FIFO blocks until a writer comes, and
    a device such as ``/dev/zero`` never ends."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((what for test, what in kinds if test(mode)), "a special file")


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
