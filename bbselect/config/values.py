"""The keys a run config may set, and the check of one value for one key against its declarations.

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
    Then what the field declares about its value alone (config/schema.py, config/rules.py): its
    ``choices``, its integer ``range`` and its ``check`` (``backbones`` against the registry, ``shard``,
    ``figures``, ``fail_under`` against the gate metrics). So a value out of range in a YAML file is
    refused with its file and line. Rules that need more than one value or the file system are declared
    on the setting too and checked by ``validate.resolve``. (How a YAML scalar becomes a string as
    written is ``yamlio``'s part.)
"""

from __future__ import annotations

import typing
from dataclasses import fields

import yaml

from bbselect.common import did_you_mean
from bbselect.config.rules import BadValue, Range, where
from bbselect.config.schema import CompareConfig
from bbselect.errors import UsageError

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


DECLARED: dict[str, dict] = {f.name: dict(f.metadata) for f in fields(CompareConfig)}  # key -> its declarations


def show_value(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (list, tuple, dict)):
        try:
            text = yaml.safe_dump(v if not isinstance(v, tuple) else list(v), default_flow_style=True).strip()
        except yaml.YAMLError:  # a Python object YAML cannot write (an API keyword)
            text = repr(v)
        text = text if len(text) <= 60 else text[:57] + "..."
        return ("a mapping " if isinstance(v, dict) else "a list ") + text
    return repr(v)


def _expect(kind: str, v):
    return BadValue(f"expected {EXPECTED[kind]}, got {show_value(v)}")


def range_of(key: str) -> Range | None:
    """The integers ``key`` takes (declared with ``range=`` in the schema), None when any."""
    return DECLARED[key].get("range")


def locate(key: str, value, origin: str | None = None) -> str:
    """Where ``key``'s value came from, as a message prefix (config/rules.py ``where``)."""
    return where(key, value, origin, DECLARED[key].get("flags") or ())


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
    meta = DECLARED[key]
    if meta.get("choices") and v not in meta["choices"]:
        raise BadValue(f"expected one of {', '.join(meta['choices'])}, got {show_value(v)}")
    if kind == "int" and meta.get("range") and (problem := meta["range"].problem(v)):
        raise BadValue(problem)
    if meta.get("check") and v is not None:
        meta["check"](v)
    return v


def unknown_key_error(key: str, at_text: str, extra=EXTRA_KEYS) -> UsageError:
    return UsageError(f"{at_text}: unknown key '{key}'{did_you_mean(key, [*KEYS, *extra])}")
