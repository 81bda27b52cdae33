"""Expand a sweep (``sweep:`` in a config file) into its named points, one ``CompareConfig`` each.

The points are the cartesian product of the swept values over the base config; each gets a short
folder-safe name (``resnet50-inputsize224``) that is unique within the sweep. Running the points
and summarising them is ``sweep.py``'s job.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import re
from dataclasses import replace

from bbselect.config.schema import CompareConfig
from bbselect.config.values import (
    KINDS,
    BadValue,
    check_value,
    show_value,
    unknown_key_error,
)
from bbselect.errors import UsageError

MAX_POINTS = 256
BASE_POINT = "base"  # the name of the single point of an empty sweep
_NAME_MAX = 64


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]+", "_", text).strip("._") or "_"


def _token(key: str, value) -> str:
    """Strings stand for themselves (resnet50, c4, letterbox); a list joins them with '+';
    numbers, booleans and null carry the key: inputsize224, overlay / nooverlay, namenull."""
    short = key.replace("_", "")
    if isinstance(value, list):
        return "+".join(_safe(v) for v in value) or f"no{short}"
    if isinstance(value, str):
        return _safe(value)
    if isinstance(value, bool):
        return short if value else f"no{short}"
    return f"{short}{'null' if value is None else value}"


def point_name(assignment: dict[str, object]) -> str:
    """A point's folder-safe name: its tokens joined by '-', in sweep key order. Names longer than
    64 characters are cut and end in 8 hex digits of a hash of the full name."""
    name = "-".join(_token(k, v) for k, v in assignment.items()) or BASE_POINT
    if len(name) > _NAME_MAX:
        name = name[: _NAME_MAX - 9].rstrip("-._") + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


def expand_sweep(base: CompareConfig, sweep: dict[str, list]) -> list[tuple[str, CompareConfig]]:
    """The points of ``sweep`` over ``base``: the cartesian product with keys in the given order and
    values in list order (the last key varies fastest), each ``(name, config)``. Names come from
    ``point_name``; if two points would share one, the later ones get -2, -3... An empty sweep is
    one point, ``(BASE_POINT, base)``. At most ``MAX_POINTS`` points; identical points are refused."""
    norm: dict[str, list] = {}
    for key, vals in sweep.items():
        if key not in KINDS:
            raise unknown_key_error(key, "sweep", extra=())
        if not isinstance(vals, (list, tuple)) or not vals:
            raise UsageError(f"sweep key '{key}': expected a non-empty list of values, got {show_value(vals)}")
        try:
            norm[key] = [check_value(key, copy.deepcopy(v)) for v in vals]
        except BadValue as bad:
            raise UsageError(f"sweep key '{key}': {bad}") from None
    total = math.prod(len(v) for v in norm.values())
    if total > MAX_POINTS:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in norm.items())
        raise UsageError(f"the sweep has {total} points ({sizes}); at most {MAX_POINTS} are allowed -- "
                         "split it into several config files")
    points, seen, names = [], {}, set()
    for combo in itertools.product(*norm.values()):
        assignment = dict(zip(norm, combo))
        cfg = replace(copy.deepcopy(base), **copy.deepcopy(assignment))
        ident = repr(sorted(cfg.to_dict().items()))
        name = point_name(assignment)
        if ident in seen:
            raise UsageError(f"sweep points {seen[ident]!r} and {name!r} are the same run; "
                             "remove the repeated value")
        seen[ident] = name
        unique, n = name, 1
        while unique in names:
            n += 1
            unique = f"{name}-{n}"
        names.add(unique)
        points.append((unique, cfg))
    return points
