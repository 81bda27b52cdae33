"""Read a config file, or one ``--set KEY=VALUE``, from YAML text into checked values.

Files are read with YAML safe-load semantics only (no Python tags, nothing executed). Every
problem -- bad YAML, a top level that is not a mapping, an unknown key (with a "did you mean"),
a key given twice, a value of the wrong type -- is a ``UsageError`` (exit code 2) that names
the file, the line and the key: ``x.yaml:7: key 'batch_size': expected an integer, got 'eight'``.
A ``--set`` error names the ``--set`` instead: ``--set batch_size=eight: expected an integer, got
'eight'`` (the same words; config/rules.py). Every key a file sets keeps its line, and every value of
a sweep list its own, so a rule ``validate.resolve`` finds broken later names them too.

Values are read from the YAML nodes rather than from ``yaml.safe_load``'s result, so that strings
are taken as written (``name: 010`` is "010") and every error has a line; the checks themselves
are ``values.check_value``. Merging the file with ``--set`` and the command line is
``file.build_config``'s job.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bbselect.config.values import (
    KINDS,
    SWEEP_KEYS,
    BadValue,
    check_value,
    show_value,
    unknown_key_error,
)
from bbselect.errors import UsageError

_NULL_TAG = "tag:yaml.org,2002:null"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "timestamp")}


def _text(node) -> str:
    """A scalar node read as a string, as written; null, lists and mappings are refused."""
    if isinstance(node, yaml.ScalarNode) and node.tag != _NULL_TAG:
        if node.tag not in _SCALAR_TAGS:
            raise BadValue(f"unsupported tag {node.tag}", node)
        return node.value
    raise BadValue(f"expected a string, got {_node_show(node)}", node)


def _node_show(node) -> str:
    if isinstance(node, yaml.ScalarNode):
        try:
            return show_value(yaml.SafeLoader("").construct_object(node))
        except yaml.YAMLError:
            return repr(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def _construct(loader: yaml.SafeLoader, node):
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as err:
        raise BadValue(f"cannot read value: {err.problem}", node) from None


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


def _sweep_list(loader, key: str, node, at, label: str) -> tuple[list, list[str]]:
    """A sweep key's values, and where each was written (``at`` of its node)."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise UsageError(f"{at(node)}: {label}: expected a non-empty list of values, got {_node_show(node)}")
    values, lines = [], []
    for item in node.value:
        try:
            v = _from_node(loader, key, item)
        except BadValue as bad:
            raise UsageError(f"{at(bad.node or item)}: {label}: {bad}") from None
        if v in values:
            first = lines[values.index(v)]
            raise UsageError(f"{at(item)}: {label}: value {show_value(v)} listed twice (first on line {first})")
        values.append(v)
        lines.append(_line(item))
    return values, [at(item) for item in node.value]


def _gate(loader, node, at, label: str):
    """A gate's value: a number, a string, or a list or a mapping (name -> value) of those."""
    try:
        value = _construct(loader, node)
    except BadValue as bad:
        raise UsageError(f"{at(node)}: {label}: {bad}") from None

    def scalar(v) -> bool:
        return isinstance(v, (int, float, str)) and not isinstance(v, bool)

    if not (scalar(value) or isinstance(value, list) and all(map(scalar, value))
            or isinstance(value, dict) and all(isinstance(k, str) and scalar(v) for k, v in value.items())):
        raise UsageError(f"{at(node)}: {label}: expected a number, a string, or a list or mapping of those, "
                         f"got {show_value(value)}")
    return value


def read_file(path: Path) -> tuple[dict, dict, dict, dict, dict]:
    """Read a config file: (values, sweep, gates, source, sweep_origins) -- only what the file sets.
    ``source`` maps every key it sets (``sweep.KEY``, ``gates.NAME`` too) to ``yaml:FILE:LINE`` (the
    key's line); ``sweep_origins`` each swept key to the ``yaml:FILE:LINE`` of each of its values."""
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
    values, sweep, gates, source, sweep_origins = {}, {}, {}, {}, {}
    pairs = _pairs(root, at, "the top level")
    both = [knode for k, knode, _ in pairs if k in SWEEP_KEYS][1:]
    if both:
        raise UsageError(f"{at(both[0])}: use either 'sweep:' or 'grid:', not both")
    for key, knode, vnode in pairs:
        if key in SWEEP_KEYS:
            for skey, sknode, svnode in _pairs(vnode, at, f"'{key}'"):
                if skey not in KINDS:
                    raise unknown_key_error(skey, f"{at(sknode)}: {key}", extra=())
                sweep[skey], lines = _sweep_list(loader, skey, svnode, at, f"{key} key '{skey}'")
                sweep_origins[skey] = [f"yaml:{line}" for line in lines]
                source[f"sweep.{skey}"] = f"yaml:{at(sknode)}"
        elif key == "gates":
            for gkey, gknode, gvnode in _pairs(vnode, at, "'gates'"):
                gates[gkey] = _gate(loader, gvnode, at, f"gate '{gkey}'")
                source[f"gates.{gkey}"] = f"yaml:{at(gknode)}"
        elif key in KINDS:
            try:
                values[key] = _from_node(loader, key, vnode)
            except BadValue as bad:
                raise UsageError(f"{at(bad.node or vnode)}: key '{key}': {bad}") from None
            source[key] = f"yaml:{at(knode)}"
        else:
            raise unknown_key_error(key, at(knode))
    return values, sweep, gates, source, sweep_origins


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
            raise unknown_key_error(sub, f"{where}: sweep", extra=())
        return f"sweep.{sub}", None if null else _sweep_list(loader, sub, node, at, f"sweep key '{sub}'")[0]
    if dot and prefix == "gates":
        return f"gates.{sub}", None if null else _gate(loader, node, at, f"gate '{sub}'")
    if key not in KINDS:
        raise unknown_key_error(key, where)
    try:
        return key, _from_node(loader, key, node if node is not None else yaml.ScalarNode(_NULL_TAG, ""))
    except BadValue as bad:
        raise UsageError(f"{where}: {bad}") from None  # "--set KEY=VALUE: ...", as rules.where says
