"""YAML-driven runs: ``bbselect run CONFIG.yaml [--set key=value ...]``.

File format
    Every ``CompareConfig`` field is a top-level key of the same name (``configs/default.yaml``
    lists them all, with type, default and meaning). Three more top-level keys:

    ``sweep:`` (alias ``grid:``)  key -> non-empty list of values; one run per point of the
                                  cartesian product (see ``expand_sweep``). A swept key overrides
                                  the same key's plain value in the file.
    ``gates:``                    name -> a number, a string, or a list or mapping of those;
                                  stored for the quality gates (``gates.py``), not read here.

    Files are read with YAML safe-load semantics only (no Python tags, nothing executed). Every
    problem -- bad YAML, a top level that is not a mapping, an unknown key (with a "did you mean"),
    a key given twice, a value of the wrong type -- is a ``UsageError`` (exit code 2) that names
    the file, the line and the key: ``x.yaml:7: key 'batch_size': expected an integer, got 'eight'``.

Values, by field type
    int          an integer; ``true``/``false``, ``8.0`` and ``"8"`` are refused
    bool         ``true``/``false`` (YAML 1.1's ``yes``/``no``/``on``/``off`` count too)
    str          any scalar, taken as written: ``figures: 5``, ``name: 010`` are "5", "010"
    str | None   as str; ``null``, ``~`` or nothing means None
    list[str]    a list of such strings, or one string (read as a one-item list)
    ``backbones``, ``resize`` and ``figures`` are also checked against the registry and the choices
    ``compare`` accepts; the other range checks (e.g. input_size a multiple of 32) stay in
    ``config.resolve``.

Precedence, highest first
    1. an option typed on the command line (``cli``: only options whose click parameter source is
       COMMANDLINE; defaults filled in by click do not count)
    2. ``--set key=value`` (the value is parsed as YAML: ``--set backbones=[vgg16,resnet50]``;
       a later ``--set`` of the same key wins)
    3. the YAML file
    4. the built-in defaults (``CompareConfig``'s field defaults)
    A key swept in the file but given by 1 or 2 is no longer swept: the explicit value wins (a note
    in ``LoadedConfig.notes`` says so). ``--set sweep.KEY=[a,b]`` replaces or adds a sweep list and
    ``--set sweep.KEY=`` removes it; ``--set gates.NAME=V`` does the same for gates.

Paths
    A relative ``images`` or ``output`` is relative to the current working directory, not to the
    YAML file, so ``bbselect run`` and ``bbselect compare`` given the same values read and write
    the same folders, and a run folder's saved ``config.yaml`` repeats the run from the same place.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import re
import typing
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path

import yaml

from . import registry
from .config import FIGURE_CHOICES, CompareConfig, parse_figures
from .errors import UsageError
from .images import RESIZE_MODES

KEYS: list[str] = CompareConfig.keys()
SWEEP_KEYS = ("sweep", "grid")
EXTRA_KEYS = (*SWEEP_KEYS, "gates")
MAX_POINTS = 256
BASE_POINT = "base"  # the name of the single point of an empty sweep
_NAME_MAX = 64
_NULL_TAG = "tag:yaml.org,2002:null"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "timestamp")}
_RANK = {"default": 0, "yaml": 1, "set": 2, "cli": 3}


def _kind_of(tp) -> str:
    args = set(typing.get_args(tp))
    if tp in (int, bool, str):
        return tp.__name__
    if typing.get_origin(tp) is list and args == {str}:
        return "list"
    if args == {str, type(None)}:
        return "optstr"
    raise TypeError(f"configfile: CompareConfig field type {tp!r} is not supported; extend _kind_of")


KINDS: dict[str, str] = {k: _kind_of(t) for k, t in typing.get_type_hints(CompareConfig).items() if k in KEYS}
EXPECTED = {"int": "an integer", "bool": "true or false", "str": "a string",
            "optstr": "a string or null", "list": "a string or a list of strings"}


@dataclass
class LoadedConfig:
    base: CompareConfig
    sweep: dict[str, list] = field(default_factory=dict)
    gates: dict[str, object] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # key (or sweep.KEY / gates.NAME) -> origin
    notes: list[str] = field(default_factory=list)

    def points(self) -> list[tuple[str, CompareConfig]]:
        return expand_sweep(self.base, self.sweep)


class _Bad(Exception):
    """A value error; the caller adds where it happened."""

    def __init__(self, text: str, node=None):
        super().__init__(text)
        self.node = node


def _show(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (list, tuple, dict)):
        text = yaml.safe_dump(v if not isinstance(v, tuple) else list(v), default_flow_style=True).strip()
        text = text if len(text) <= 60 else text[:57] + "..."
        return ("a mapping " if isinstance(v, dict) else "a list ") + text
    return repr(v)


def _expect(kind: str, v):
    return _Bad(f"expected {EXPECTED[kind]}, got {_show(v)}")


def _check_backbones(names: list[str]) -> None:
    if not names:
        raise _Bad("expected at least one backbone, got an empty list")
    for text in names:
        try:
            registry.parse_selection(text)
        except UsageError as err:
            raise _Bad(str(err)) from None


def _check_figures(text: str) -> None:
    try:
        parse_figures(text)
    except UsageError:
        raise _Bad(f"expected {FIGURE_CHOICES}, got {text!r}") from None


def _check_resize(text: str) -> None:
    if text not in RESIZE_MODES:
        raise _Bad(f"expected one of {', '.join(RESIZE_MODES)}, got {text!r}")


_CHOICES = {"backbones": _check_backbones, "figures": _check_figures, "resize": _check_resize}


def check_value(key: str, v):
    """Type-check a Python value for field ``key``; return it normalised (a str becomes [str] for a
    list field, a tuple a list). Raises ``_Bad`` without a location."""
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
    if key in _CHOICES and v is not None:
        _CHOICES[key](v)
    return v


def _text(node) -> str:
    """A scalar node read as a string, as written; null, lists and mappings are refused."""
    if isinstance(node, yaml.ScalarNode) and node.tag != _NULL_TAG:
        if node.tag not in _SCALAR_TAGS:
            raise _Bad(f"unsupported tag {node.tag}", node)
        return node.value
    raise _Bad(f"expected a string, got {_node_show(node)}", node)


def _node_show(node) -> str:
    if isinstance(node, yaml.ScalarNode):
        try:
            return _show(yaml.SafeLoader("").construct_object(node))
        except yaml.YAMLError:
            return repr(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def _construct(loader: yaml.SafeLoader, node):
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as err:
        raise _Bad(f"cannot read value: {err.problem}", node) from None


def _from_node(loader: yaml.SafeLoader, key: str, node):
    """Read a YAML node as a value of field ``key`` and check it."""
    kind = KINDS[key]
    if kind == "list" and isinstance(node, yaml.SequenceNode):
        value = [_text(item) for item in node.value]
    elif kind in ("str", "list") or (kind == "optstr" and node.tag != _NULL_TAG):
        value = _text(node)
    else:
        value = _construct(loader, node)
    return check_value(key, value)


def _line(node) -> int:
    return node.start_mark.line + 1


def _suggest(word: str, choices) -> str:
    hint = get_close_matches(word, list(choices), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def _compose(text: str, where: str, with_line: bool):
    """Compose one YAML document; syntax errors become UsageError naming ``where`` (and the line)."""
    try:
        loader = yaml.SafeLoader(text)
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark, ctx = err.problem_mark or err.context_mark, err.context_mark
        at = f"{where}:{mark.line + 1}" if with_line and mark else where
        what = err.problem or err.context
        if err.problem and err.problem.startswith("but ") and err.context:
            what = f"{err.context}, {err.problem}"
        elif err.problem and err.context:
            what += f" ({err.context}" + (f" on line {ctx.line + 1})" if with_line and ctx else ")")
        raise UsageError(f"{at}: invalid YAML: {what}") from None
    except yaml.reader.ReaderError as err:
        at = f"{where}:{text[: err.position].count(chr(10)) + 1}" if with_line else where
        raise UsageError(f"{at}: invalid YAML: character #x{err.character:04x} is not allowed") from None
    except yaml.YAMLError as err:
        raise UsageError(f"{where}: invalid YAML: {err}") from None


def _scalar_key(node, at) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL_TAG:
        raise UsageError(f"{at(node)}: expected a key name, got {_node_show(node)}")
    return node.value


def _pairs(node, at, what: str):
    """(key, key node, value node) of a mapping node, refusing repeated keys."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
        return []
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{at(node)}: {what} must be a mapping of key: value, got {_node_show(node)}")
    seen: dict[str, int] = {}
    out = []
    for knode, vnode in node.value:
        key = _scalar_key(knode, at)
        if key in seen:
            raise UsageError(f"{at(knode)}: key '{key}' given twice (first on line {seen[key]})")
        seen[key] = _line(knode)
        out.append((key, knode, vnode))
    return out


def _sweep_list(loader, key: str, node, at, label: str) -> list:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise UsageError(f"{at(node)}: {label}: expected a non-empty list of values, got {_node_show(node)}")
    values, lines = [], []
    for item in node.value:
        try:
            v = _from_node(loader, key, item)
        except _Bad as bad:
            raise UsageError(f"{at(bad.node or item)}: {label}: {bad}") from None
        if v in values:
            first = lines[values.index(v)]
            raise UsageError(f"{at(item)}: {label}: value {_show(v)} listed twice (first on line {first})")
        values.append(v)
        lines.append(_line(item))
    return values


def _gate(loader, node, at, label: str):
    """A gate's value: a number, a string, or a list or a mapping (name -> value) of those."""
    try:
        value = _construct(loader, node)
    except _Bad as bad:
        raise UsageError(f"{at(node)}: {label}: {bad}") from None

    def scalar(v) -> bool:
        return isinstance(v, (int, float, str)) and not isinstance(v, bool)

    if not (scalar(value) or isinstance(value, list) and all(map(scalar, value))
            or isinstance(value, dict) and all(isinstance(k, str) and scalar(v) for k, v in value.items())):
        raise UsageError(f"{at(node)}: {label}: expected a number, a string, or a list or mapping of those, "
                         f"got {_show(value)}")
    return value


def _key_error(key: str, at_text: str, extra=EXTRA_KEYS) -> UsageError:
    return UsageError(f"{at_text}: unknown key '{key}'{_suggest(key, [*KEYS, *extra])}")


def read_file(path: Path) -> tuple[dict, dict, dict, dict]:
    """Read a config file: (values, sweep, gates, source) -- only what the file sets."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"config file {label} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"config file {label}: cannot read it ({err})") from None
    loader, root = _compose(text, label, True)

    def at(node):
        return f"{label}:{_line(node)}"

    if root is not None and not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{at(root)}: the top level must be a mapping of key: value, got {_node_show(root)}")
    values, sweep, gates, source = {}, {}, {}, {}
    pairs = _pairs(root, at, "the top level")
    both = [knode for k, knode, _ in pairs if k in SWEEP_KEYS][1:]
    if both:
        raise UsageError(f"{at(both[0])}: use either 'sweep:' or 'grid:', not both")
    for key, knode, vnode in pairs:
        if key in SWEEP_KEYS:
            for skey, sknode, svnode in _pairs(vnode, at, f"'{key}'"):
                if skey not in KINDS:
                    raise _key_error(skey, f"{at(sknode)}: {key}", extra=())
                sweep[skey] = _sweep_list(loader, skey, svnode, at, f"{key} key '{skey}'")
                source[f"sweep.{skey}"] = f"yaml:{at(sknode)}"
        elif key == "gates":
            for gkey, gknode, gvnode in _pairs(vnode, at, "'gates'"):
                gates[gkey] = _gate(loader, gvnode, at, f"gate '{gkey}'")
                source[f"gates.{gkey}"] = f"yaml:{at(gknode)}"
        elif key in KINDS:
            try:
                values[key] = _from_node(loader, key, vnode)
            except _Bad as bad:
                raise UsageError(f"{at(bad.node or vnode)}: key '{key}': {bad}") from None
            source[key] = f"yaml:{at(knode)}"
        else:
            raise _key_error(key, at(knode))
    return values, sweep, gates, source


def parse_set(raw: str) -> tuple[str, object]:
    """Parse one ``--set KEY=VALUE``. KEY is a field, ``sweep.KEY`` / ``grid.KEY`` or ``gates.NAME``;
    the value is checked like a file's. A ``None`` value for sweep.* / gates.* means remove it."""
    where = f"--set {raw}"
    key, eq, text = raw.partition("=")
    key = key.strip()
    prefix, dot, sub = key.partition(".")
    if not eq or not key or (dot and not sub):
        raise UsageError(f"{where}: expected KEY=VALUE, e.g. --set batch_size=4")
    loader, node = _compose(text, where, False)

    def at(_node):
        return where

    null = node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG)
    if dot and prefix in SWEEP_KEYS:
        if sub not in KINDS:
            raise _key_error(sub, f"{where}: sweep", extra=())
        return f"sweep.{sub}", None if null else _sweep_list(loader, sub, node, at, f"sweep key '{sub}'")
    if dot and prefix == "gates":
        return f"gates.{sub}", None if null else _gate(loader, node, at, f"gate '{sub}'")
    if key not in KINDS:
        raise _key_error(key, where)
    try:
        return key, _from_node(loader, key, node if node is not None else yaml.ScalarNode(_NULL_TAG, ""))
    except _Bad as bad:
        raise UsageError(f"{where}: key '{key}': {bad}") from None


def build_config(yaml_path: Path | None, sets: list[str], cli: dict[str, object]) -> LoadedConfig:
    """Merge defaults < YAML file < ``--set`` < explicit CLI options (see the module docstring)."""
    values, sweep, gates, source = read_file(Path(yaml_path)) if yaml_path is not None else ({}, {}, {}, {})
    for key in KEYS:
        source.setdefault(key, "default")
    set_values: dict[str, object] = {}
    for raw in sets:
        key, value = parse_set(raw)
        set_values[key] = value
    for key, value in set_values.items():
        if key.startswith(("sweep.", "gates.")):
            group, name = (sweep, key[6:]) if key.startswith("sweep.") else (gates, key[6:])
            if value is None:
                group.pop(name, None)
                source.pop(key, None)
            else:
                group[name] = value
                source[key] = "set"
            if key.startswith("sweep.") and value is not None and name in set_values:
                raise UsageError(f"--set {name}=... and --set {key}=... contradict each other; keep one")
        else:
            values[key] = value
            source[key] = "set"
    for key, value in cli.items():
        if key not in KINDS:
            raise ValueError(f"build_config: {key!r} is not a CompareConfig field")
        try:
            values[key] = check_value(key, value)
        except _Bad as bad:
            raise UsageError(f"option --{key.replace('_', '-')}: {bad}") from None
        source[key] = "cli"
    notes = []
    for key in list(sweep):
        how = source[key].split(":")[0]
        if _RANK[how] > _RANK[source[f"sweep.{key}"].split(":")[0]]:
            del sweep[key]
            origin = source.pop(f"sweep.{key}")
            origin = origin[5:] if origin.startswith("yaml:") else f"--set sweep.{key}"
            given = f"--{key.replace('_', '-')}" if how == "cli" else f"--set {key}"
            notes.append(f"{given} replaces the sweep over '{key}' from {origin}")
    base = CompareConfig(**copy.deepcopy(values))
    expand_sweep(base, sweep)  # fail now on an oversized or duplicate sweep
    return LoadedConfig(base, sweep, gates, source, notes)


# ---------------------------------------------------------------- sweeps

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
            raise _key_error(key, "sweep", extra=())
        if not isinstance(vals, (list, tuple)) or not vals:
            raise UsageError(f"sweep key '{key}': expected a non-empty list of values, got {_show(vals)}")
        try:
            norm[key] = [check_value(key, copy.deepcopy(v)) for v in vals]
        except _Bad as bad:
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


# ---------------------------------------------------------------- writing

def dump_config(cfg: CompareConfig, sweep: dict[str, list] | None = None,
                gates: dict[str, object] | None = None) -> str:
    """YAML text of ``cfg`` (every field, in dataclass order), plus ``sweep:`` / ``gates:`` when
    given; ``build_config`` reads it back to an equal config, sweep and gates."""
    data: dict[str, object] = {k: getattr(cfg, k) for k in KEYS}
    if sweep:
        data["sweep"] = {k: list(v) for k, v in sweep.items()}
    if gates:
        data["gates"] = dict(gates)
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000)
    return "# bbselect run configuration; `bbselect run THIS_FILE` repeats it\n" + body
