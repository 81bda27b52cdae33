"""The keys a run config may set, and the type and choice check of one value for one key.

Every ``CompareConfig`` field is a key (``KEYS``); a config file has three more top-level keys
(``EXTRA_KEYS``: ``sweep:``, its alias ``grid:``, and ``gates:``). ``check_value`` is the one check
of a value, whether it came from a YAML file, a ``--set``, a typed option or a sweep list; it raises
``BadValue`` without a location, and the caller says where the value came from.

Values, by field type
    int          an integer; ``true``/``false``, ``8.0`` and ``"8"`` are refused
    bool         ``true``/``false`` (YAML 1.1's ``yes``/``no``/``on``/``off`` count too)
    str          any scalar, taken as written: ``figures: 5``, ``name: 010`` are "5", "010"
    str | None   as str; ``null``, ``~`` or nothing means None
    list[str]    a list of such strings, or one string (read as a one-item list)
    ``backbones``, ``resize``, ``figures``, ``shard`` and ``fail_under`` are also checked against the
    registry, the choices ``compare`` accepts and the gate metrics; integers against ``RANGES``. So a
    value out of range in a YAML file is refused with its file and line. Checks that need more than
    one value or the file system (weights file, images folder, ``expect_best`` among the backbones,
    memory) are ``validate.resolve``'s. (How a YAML scalar becomes a string as written is
    ``yamlio``'s part.)
"""

from __future__ import annotations

import typing

import yaml

from bbselect.common import did_you_mean
from bbselect.config.schema import (
    FIGURE_CHOICES,
    MAX_SHARDS,
    CompareConfig,
    parse_figures,
    parse_shard,
    short,
)
from bbselect.errors import UsageError
from bbselect.inputs.decode import RESIZE_MODES
from bbselect.models import selection
from bbselect.scoring.gates import parse_fail_under

KEYS: list[str] = CompareConfig.keys()
SWEEP_KEYS = ("sweep", "grid")
EXTRA_KEYS = (*SWEEP_KEYS, "gates")


def _kind_of(tp) -> str:
    args = set(typing.get_args(tp))
    if tp in (int, bool, str):
        return tp.__name__
    if typing.get_origin(tp) is list and args == {str}:
        return "list"
    if args == {str, type(None)}:
        return "optstr"
    raise TypeError(f"configvalues: CompareConfig field type {tp!r} is not supported; extend _kind_of")


KINDS: dict[str, str] = {k: _kind_of(t) for k, t in typing.get_type_hints(CompareConfig).items() if k in KEYS}
EXPECTED = {"int": "an integer", "bool": "true or false", "str": "a string",
            "optstr": "a string or null", "list": "a string or a list of strings"}


class BadValue(Exception):
    """A value error; the caller adds where it happened."""

    def __init__(self, text: str, node=None):
        super().__init__(text)
        self.node = node


def show_value(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (list, tuple, dict)):
        text = yaml.safe_dump(v if not isinstance(v, tuple) else list(v), default_flow_style=True).strip()
        text = text if len(text) <= 60 else text[:57] + "..."
        return ("a mapping " if isinstance(v, dict) else "a list ") + text
    return repr(v)


def _expect(kind: str, v):
    return BadValue(f"expected {EXPECTED[kind]}, got {show_value(v)}")


def _check_backbones(names: list[str]) -> None:
    if not names:
        raise BadValue("expected at least one backbone, got an empty list")
    for text in names:
        try:
            selection.parse_selection(text)
        except UsageError as err:
            raise BadValue(str(err)) from None


def _check_figures(text: str) -> None:
    try:
        parse_figures(text)
    except UsageError:
        raise BadValue(f"expected {FIGURE_CHOICES}, got {text!r}") from None


def _check_resize(text: str) -> None:
    if text not in RESIZE_MODES:
        raise BadValue(f"expected one of {', '.join(RESIZE_MODES)}, got {text!r}")


def _check_shard(text: str) -> None:
    if text.strip().lower() != "auto":
        try:
            parse_shard(text)
        except UsageError:
            raise BadValue(f"expected I/N with 1 <= I <= N <= {MAX_SHARDS:,} (e.g. 1/4) or auto, "
                           f"got {short(text)}") from None


def _check_fail_under(items) -> None:
    try:
        parse_fail_under(items)
    except UsageError as err:
        raise BadValue(str(err)) from None


_CHOICES = {"backbones": _check_backbones, "figures": _check_figures, "resize": _check_resize,
            "shard": _check_shard, "fail_under": _check_fail_under}


# key -> (lowest, highest, step): the allowed integers. Upper bounds keep a typo from asking for
# hundreds of GiB (``--input-size 96000``) or overflowing (``--batch-size 99999999999999999999``).
RANGES = {
    "input_size": (32, 4096, 32),
    "batch_size": (1, 1024, 1),
    "seed": (0, 2**32 - 1, 1),
    "stability_seed": (0, 2**32 - 1, 1),
    "stability_views": (1, 16, 1),
    "stability_k": (1, 10_000, 1),
    "stability_max_images": (0, 2_000_000_000, 1),
    "max_pixels": (1, 2_000_000_000, 1),
    "cache_max_mb": (0, 2**30, 1),
}


def range_problem(key: str, v: int) -> str | None:
    """Why the integer ``v`` is out of range for ``key``; None if it is fine."""
    if key not in RANGES:
        return None
    lo, hi, step = RANGES[key]
    if v < lo:
        return f"expected at least {lo:,}, got {v:,}"
    if v > hi:
        return f"expected at most {hi:,}, got {v:,}"
    if (v - lo) % step:
        return f"expected a multiple of {step}, got {v:,}"
    return None


def check_value(key: str, v):
    """Type-check a Python value for field ``key``; return it normalised (a str becomes [str] for a
    list field, a tuple a list). Raises ``BadValue`` without a location."""
    kind = KINDS[key]
    if kind == "int" and not (isinstance(v, int) and not isinstance(v, bool)):
        raise _expect(kind, v)
    if kind == "bool" and not isinstance(v, bool):
        raise _expect(kind, v)
    if (kind == "str" or (kind == "optstr" and v is not None)) and not isinstance(v, str):
        raise _expect(kind, v)
    if kind == "list":
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise _expect(kind, v)
        v = list(v)
    if kind == "int" and range_problem(key, v):
        raise BadValue(range_problem(key, v))
    if key in _CHOICES and v is not None:
        _CHOICES[key](v)
    return v


def unknown_key_error(key: str, at_text: str, extra=EXTRA_KEYS) -> UsageError:
    return UsageError(f"{at_text}: unknown key '{key}'{did_you_mean(key, [*KEYS, *extra])}")
