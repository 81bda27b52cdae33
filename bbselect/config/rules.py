"""What a setting declares besides its default and help, and how a broken rule's message reads.

A ``CompareConfig`` field (config/schema.py) is made by ``setting(...)``; it may declare

    choices=(...)        the closed set of values it takes
    range=(lo, hi[, s])  the integers it takes (a multiple of s above lo)
    check=fn             a test of the value alone, ``fn(value)`` raises ``BadValue`` (``backbones``,
                         ``shard``, ``figures``, ``fail_under``, ``layer``; config/checks.py)
    rules=(Rule(...),)   tests that need other settings (``uses=``) or the outside world (``world=True``:
                         files, weights, memory)

Choices, range and check are about one value, so they run wherever a value enters (``values.check_value``:
a YAML file, a ``--set``, an option, an API keyword); rules run on the whole config (``validate.resolve``,
before any work). Either way a broken one reads ``WHERE: CORE``: CORE is the same words whatever the
source, WHERE says where the value came from (``where``)::

    --probe detection: detection needs boxes, but boxes is none        an option (or its default)
    sweep.yaml:7: key 'probe': detection needs boxes, but boxes is none    a config file and line
    --set probe=detection: detection needs boxes, but boxes is none        a --set
    bbselect.compare(probe='detection'): detection needs boxes, ...        a Python API keyword

A rule over several settings adds where the others came from when that is elsewhere: ``(boxes:
sweep.yaml:9)``. An origin is a short string: ``cli``, ``default``, ``set``, ``api:FUNCTION``,
``yaml:FILE:LINE``, prefixed by ``sweep `` for a value of a sweep list or ``gate `` for a ``gates:`` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field

import yaml

from bbselect.errors import UsageError


class BadValue(Exception):
    """A value error without a location; the caller adds where the value came from."""

    def __init__(self, text: str, node=None):
        super().__init__(text)
        self.node = node


@dataclass(frozen=True)
class Range:
    """The integers a setting takes: ``lo`` to ``hi``, in steps of ``step`` from ``lo``."""

    lo: int
    hi: int
    step: int = 1

    def problem(self, v: int) -> str | None:
        if v < self.lo:
            return f"expected at least {self.lo:,}, got {v:,}"
        if v > self.hi:
            return f"expected at most {self.hi:,}, got {v:,}"
        if (v - self.lo) % self.step:
            return f"expected a multiple of {self.step}, got {v:,}"
        return None

    def text(self) -> str:
        """``32 to 4,096, a multiple of 32``: for help texts and the starter config."""
        return f"{self.lo:,} to {self.hi:,}" + (f", a multiple of {self.step}" if self.step > 1 else "")


@dataclass(frozen=True)
class Rule:
    """A test of a setting against other settings (``uses``) or the world (``world=True``).

    ``ok(cfg)`` is True when the rule holds; ``message`` (a string, formatted with the config's values,
    or a function of the config) says what is wrong. ``error`` is the error class (its exit code);
    ``tag`` lets a caller skip a rule (``memory``: ``resolve(check_memory=False)``)."""

    ok: Callable
    message: str | Callable
    uses: tuple[str, ...] = ()
    error: type = UsageError
    world: bool = False
    tag: str = ""

    @classmethod
    def from_problem(cls, problem: Callable, **kw) -> Rule:
        """A rule from one function that returns what is wrong (falsy when nothing is)."""
        return cls(lambda cfg: not problem(cfg), problem, **kw)

    def problem(self, cfg) -> str | None:
        if self.ok(cfg):
            return None
        return self.message(cfg) if callable(self.message) else self.message.format(**vars(cfg))


def setting(default=MISSING, *, help: str = "", metavar: str | None = None, flags: tuple[str, ...] = (),
            choices: tuple[str, ...] | None = None, range: tuple[int, ...] | None = None, check=None,
            rules: tuple[Rule, ...] = (), factory=None, doc: str | None = None):
    """A ``CompareConfig`` field with what the CLI, ``bbselect config``, the docs and the checks know of it.

    ``help`` is the option's meaning (a field without help has no command-line option: ``images`` is the
    argument); ``flags`` replaces the default ``--field-name``; ``doc`` is the meaning for config files
    when ``help`` is not (config/starter.py); ``choices``, ``range``, ``check`` and ``rules`` as in the
    module docstring."""
    meta = {"help": help, "metavar": metavar, "flags": flags, "choices": choices, "doc": doc,
            "range": Range(*range) if range else None, "check": check, "rules": tuple(rules)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def shown(v, limit: int = 120) -> str:
    """A value as a user would type it (``true``, ``null``, ``[a, b]``, ``224``), cut to one short line."""
    try:
        text = str(v)
        if isinstance(v, (bool, list, tuple, dict)) or v is None:
            text = yaml.safe_dump(list(v) if isinstance(v, tuple) else v, default_flow_style=True, width=10**6)
            text = text.strip().removesuffix("...").strip()
    except yaml.YAMLError:  # a Python object YAML cannot write (an API keyword): as Python shows it
        pass
    return text if len(text) <= limit else text[:limit - 3] + "..."


def flag(key: str, flags: tuple[str, ...] = ()) -> str:
    """The option a key is typed as: its last declared flag (``--backbone``), else ``--key-name``."""
    return flags[-1] if flags else "--" + key.replace("_", "-")


def where(key: str, value, origin: str | None, flags: tuple[str, ...] = ()) -> str:
    """Where a value came from, as a message's prefix (module docstring); ``None`` means the command line."""
    kind, origin = split_origin(origin)
    if origin.startswith("yaml:"):
        label = {"sweep": "sweep key", "gate": "gate"}.get(kind, "key")
        return f"{origin[5:]}: {label} '{key}'"
    if origin == "set":
        if kind == "sweep":
            return f"--set sweep.{key}=[...] (the value {shown(value)})"
        return f"--set {'gates.' if kind == 'gate' else ''}{key}={shown(value)}"
    if origin.startswith("api:"):
        return f"bbselect.{origin[4:]}({key}={repr(shown(value)) if isinstance(value, str) else shown(value)})"
    if origin == "default":
        return f"{key} {shown(value)} (the default)"
    if key == "images" and not flags:
        return f"images {shown(value)}"
    if isinstance(value, bool):
        return flag(key, flags) if value else "--no-" + flag(key, flags)[2:]
    return f"{flag(key, flags)} {shown(value)}"


def place(key: str, value, origin: str | None, flags: tuple[str, ...] = ()) -> str:
    """The short form of ``where`` for the other settings a rule names: ``x.yaml:9`` or the option."""
    text = where(key, value, origin, flags)
    return text.rsplit(": ", 1)[0] if split_origin(origin)[1].startswith("yaml:") else text


def split_origin(origin: str | None) -> tuple[str, str]:
    """(``sweep`` / ``gate`` / ``""``, the origin proper) of an origin string; None is ``cli``."""
    origin = origin or "cli"
    if origin.startswith(("sweep ", "gate ")):
        kind, origin = origin.split(" ", 1)
        return kind, origin
    return "", origin
