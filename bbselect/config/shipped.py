"""The sample images and example configs that ship with bbselect, found from any directory.

A wheel carries copies of the repository's top-level ``images/`` and ``configs/`` in
``bbselect/_shipped/`` (setup.py's build step); a source checkout or editable install reads the
top-level folders themselves. So ``bbselect compare`` with no folder and ``bbselect run
detector-512`` work after a plain ``pip install .``, wherever they are run.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # .../bbselect


def shipped_dir(kind: str) -> Path | None:
    """The folder of shipped ``images`` or ``configs``: inside the installed package, else the
    checkout's top-level folder; None when neither exists."""
    for where in (_PACKAGE / "_shipped" / kind, _PACKAGE.parent / kind):
        if where.is_dir():
            return where
    return None


def sample_images() -> Path | None:
    """The bundled sample photos (public-domain / CC0, see their LICENSES.md)."""
    return shipped_dir("images")


def config_names() -> list[str]:
    """Names of the shipped example configs (``bbselect run NAME``)."""
    d = shipped_dir("configs")
    return sorted(p.stem for p in d.glob("*.yaml")) if d else []


def find_config(name: str) -> Path | None:
    """A shipped config by name (``detector-512`` or ``detector-512.yaml``), or None."""
    d = shipped_dir("configs")
    if d is None or "/" in name or "\\" in name:
        return None
    path = d / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    return path if path.is_file() else None
