"""The studies' saved measurements (``--json FILE``; read back by ``--from-json FILE``) and the machine
they ran on.

Rows are keyed by the score registry's names (``bbselect.scoring.registry``; per-map scores as gate
metrics, ``mean.mass_ratio``).  Rows saved BEFORE the studies used those names (the studies were then
``studies/validation_study.py`` and ``studies/validation_zoo.py``) carry older keys: ``OLD_KEYS`` maps
them, in this one place, when such a file is read; nothing else about those rows changes.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

from bbselect.models.device import cpu_name

# row key in files saved before the rename -> registry name
OLD_KEYS = {"retrieval": "augmentation_retrieval", "map_auroc": "box_auroc",
            "mass_ratio": "mean.mass_ratio", "pointing": "mean.pointing"}
# the command recorded in those files -> the same measurement under its present name
OLD_COMMANDS = {"python studies/validation_study.py": "python -m studies.validation",
                "python studies/validation_zoo.py": "python -m studies.zoo"}
VERSIONED = ("tensorflow", "keras", "numpy", "scikit-learn", "scipy")


def registry_keys(row: dict) -> dict:
    """A row with its older keys renamed (a row that already uses registry names is returned as is)."""
    return {OLD_KEYS.get(k, k): v for k, v in row.items()}


def present_command(command: str) -> str:
    for old, new in OLD_COMMANDS.items():
        if command.startswith(old):
            return new + command[len(old):]
    return command


def load(paths: str) -> list[dict]:
    """The saved files (comma-separated paths), rows and box rows under registry names."""
    out = []
    for path in paths.split(","):
        saved = json.loads(Path(path).read_text())
        for key in ("rows", "box_rows"):
            if saved.get(key) is not None:
                saved[key] = [registry_keys(r) for r in saved[key]]
        saved["meta"] = {**saved["meta"], "command": present_command(saved["meta"]["command"])}
        out.append(saved)
    return out


def dump(path: Path, **parts) -> None:
    path.write_text(json.dumps(parts, indent=1, default=str))


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine(command: str, seconds: float, quick: bool, **extra) -> dict:
    """What a study's page says about the run: the command, the host and the library versions."""
    return {"command": command, "cores": os.cpu_count(), "cpu": cpu_name(), "platform": platform.platform(),
            "python": platform.python_version(), "seconds": seconds, "quick": quick,
            "versions": {p: _version(p) for p in VERSIONED}, **extra}
