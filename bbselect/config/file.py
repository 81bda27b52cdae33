"""YAML-driven runs: ``bbselect run CONFIG.yaml [--set key=value ...]``.

File format
    Every ``CompareConfig`` field is a top-level key of the same name (``configs/default.yaml``
    lists them all, with type, default and meaning). Three more top-level keys:

    ``sweep:`` (alias ``grid:``)  key -> non-empty list of values; one run per point of the
                                  cartesian product (see ``sweep_points``). A swept key overrides
                                  the same key's plain value in the file.
    ``gates:``                    name -> a number, a string, or a list or mapping of those;
                                  stored for the quality gates (``gates.py``), not read here.

    Values are typed and checked per field (``values``: what each field type accepts), read
    from YAML with a line number for every error (``yamlio``), and a sweep becomes its named
    points in ``sweep_points``. This module merges the sources, keeps where every value came from
    (``LoadedConfig.origins``: a rule ``validate.resolve`` finds broken names the file and line, the
    ``--set`` or the option) and writes a config back out.

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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bbselect.config.schema import CompareConfig
from bbselect.config.sweep_points import expand_sweep
from bbselect.config.values import KEYS, KINDS, BadValue, check_value, locate
from bbselect.config.yamlio import parse_set, read_file
from bbselect.errors import UsageError

_RANK = {"default": 0, "yaml": 1, "set": 2, "cli": 3}


@dataclass
class LoadedConfig:
    base: CompareConfig
    sweep: dict[str, list] = field(default_factory=dict)
    gates: dict[str, object] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # key (or sweep.KEY / gates.NAME) -> origin
    notes: list[str] = field(default_factory=list)
    sweep_origins: dict[str, list[str]] = field(default_factory=dict)  # swept key -> each value's origin

    def points(self) -> list[tuple[str, CompareConfig]]:
        return expand_sweep(self.base, self.sweep)

    def origins(self, point: CompareConfig | None = None) -> dict[str, str]:
        """Where each value of ``point`` (a point of ``points()``; default the base) came from, for
        ``validate.resolve``'s messages (config/rules.py): a swept key's is its value's own line."""
        out = {k: self.source.get(k, "default") for k in KEYS}
        for key, vals in self.sweep.items() if point is not None else ():
            lines = self.sweep_origins.get(key) or [self.source.get(f"sweep.{key}", "set")] * len(vals)
            got = getattr(point, key)
            at = [i for i, v in enumerate(vals) if check_value(key, copy.deepcopy(v)) == got]
            out[key] = "sweep " + (lines[at[0]] if at else lines[0])
        return out


def build_config(yaml_path: Path | None, sets: list[str], cli: dict[str, object], *,
                 given_as: str = "cli") -> LoadedConfig:
    """Merge defaults < YAML file < ``--set`` < explicit CLI options (see the module docstring).
    ``given_as``: the origin of ``cli`` (``api:run`` for the Python API's keywords)."""
    empty: tuple = ({}, {}, {}, {}, {})
    values, sweep, gates, source, sweep_origins = read_file(Path(yaml_path)) if yaml_path is not None else empty
    for key in KEYS:
        source.setdefault(key, "default")
    set_values: dict[str, object] = {}
    for raw in sets:
        key, value = parse_set(raw)
        set_values[key] = value
    for key, value in set_values.items():
        if key.startswith(("sweep.", "gates.")):
            group, name = (sweep, key[6:]) if key.startswith("sweep.") else (gates, key[6:])
            if group is sweep:
                sweep_origins.pop(name, None)  # the --set list's values are all "set"
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
        except BadValue as bad:
            raise UsageError(f"{locate(key, value, given_as)}: {bad}") from None
        source[key] = given_as
    notes = []
    for key in list(sweep):
        how = source[key].split(":")[0].replace("api", "cli")
        if _RANK[how] > _RANK[source[f"sweep.{key}"].split(":")[0]]:
            del sweep[key]
            sweep_origins.pop(key, None)
            origin = source.pop(f"sweep.{key}")
            origin = origin[5:] if origin.startswith("yaml:") else f"--set sweep.{key}"
            typed = f"--{key.replace('_', '-')}" if given_as == "cli" else f"{key}=..."
            given = typed if how == "cli" else f"--set {key}"
            notes.append(f"{given} replaces the sweep over '{key}' from {origin}")
    base = CompareConfig(**copy.deepcopy(values))
    _apply_gates(base, gates, source)
    expand_sweep(base, sweep)  # fail now on an oversized or duplicate sweep
    return LoadedConfig(base, sweep, gates, source, notes, sweep_origins)


def _apply_gates(base: CompareConfig, gates: dict[str, object], source: dict[str, str]) -> None:
    """``gates:`` in a file sets ``fail_under`` / ``expect_best`` unless a key of that name was given."""
    if "fail_under" in gates and source["fail_under"] == "default":
        fu = gates["fail_under"]
        base.fail_under = [f"{k}={v}" for k, v in fu.items()] if isinstance(fu, dict) else list(fu)
        source["fail_under"] = "gate " + source["gates.fail_under"]
    if "expect_best" in gates and source["expect_best"] == "default":
        base.expect_best = str(gates["expect_best"])
        source["expect_best"] = "gate " + source["gates.expect_best"]


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
