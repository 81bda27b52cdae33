"""A finished run folder read back: its resolved settings (``config.yaml``) and manifest (``run.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bbselect.config.schema import CompareConfig
from bbselect.errors import InputError


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
    return manifest, cfg
