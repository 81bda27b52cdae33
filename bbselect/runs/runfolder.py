"""A finished run folder read back: its resolved settings (``config.yaml``) and manifest (``run.json``).

Everything read from a run folder is untrusted (a shard folder can come from anywhere): ``load_run``
checks the manifest's shape, that every image id is one safe file name and every ``maps_dir`` is
``maps/<one safe name>`` (``store.rundir.is_safe_component``), so no path built from them can leave
the run folder; anything else is an input error (exit 3) before a file is read or written."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bbselect.config.schema import CompareConfig
from bbselect.errors import InputError
from bbselect.store.rundir import is_safe_component


def read_config(run_dir: Path) -> CompareConfig:
    """The resolved settings saved in a run folder's config.yaml."""
    try:
        raw = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    except FileNotFoundError:
        raise InputError(f"{run_dir} is not a bbselect run folder (no config.yaml)") from None
    except yaml.YAMLError as err:
        raise InputError(f"{run_dir}/config.yaml is unreadable: {err}") from None
    known = set(CompareConfig.keys())
    return CompareConfig(**{k: v for k, v in raw.items() if k in known})


def load_run(run_dir: Path) -> tuple[dict, CompareConfig]:
    """Read a finished run folder's manifest and config; clear errors if it is not one."""
    cfg = read_config(run_dir)
    try:
        manifest = json.loads((run_dir / "run.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{run_dir} is not a finished bbselect run (no run.json); "
                         f"finish it with `bbselect compare --resume {run_dir}`") from None
    except ValueError as err:
        raise InputError(f"{run_dir}/run.json is unreadable: {err}") from None
    problem = manifest_problem(manifest)
    if problem:
        raise InputError(f"{run_dir}/run.json is damaged or was not written by bbselect: {problem}")
    return manifest, cfg


def _records(doc: dict, key: str, fields: tuple[str, ...]) -> str | None:
    items = doc.get(key)
    if not isinstance(items, list):
        return f"'{key}' is not a list"
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in fields):
            return f"an entry of '{key}' lacks one of {', '.join(fields)}"
    return None


def manifest_problem(manifest) -> str | None:
    """What makes a run folder's manifest unusable (None when nothing does): its shape, and any image
    id or maps folder that is not a safe name inside the run folder."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("run"), dict):
        return "not a bbselect manifest"
    why = (_records(manifest, "images", ("rel", "id", "path")) or _records(manifest, "skipped", ("rel", "reason"))
           or _records(manifest, "backbones", ("label", "maps_dir")))
    if why:
        return why
    for im in manifest["images"]:
        if not is_safe_component(im["id"]):
            return f"image id {im['id'][:80]!r} is not a safe file name"
    for b in manifest["backbones"]:
        parts = b["maps_dir"].split("/")
        if len(parts) != 2 or parts[0] != "maps" or not is_safe_component(parts[1]):
            return f"maps folder {b['maps_dir'][:80]!r} is not maps/<a safe name>"
    return None
