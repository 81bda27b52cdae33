"""Model files as backbones: ``-b PATH.keras`` (or a whole-model ``.h5``), loaded safely.

A model file must be a whole Keras model — a functional or ``Sequential`` network saved with
``model.save(...)`` as ``.keras`` (Keras 3) or ``.h5`` (legacy whole model) — with one RGB image input,
fixed square ``(S, S, 3)`` or dynamic ``(None, None, 3)``, made of Keras' own layers, whose layers output
convolutional feature maps. It is loaded with ``keras.saving.load_model(..., safe_mode=True,
compile=False)``: a model whose loading would run code (a ``Lambda`` layer holding Python bytecode) is
refused with the layer's name, and nothing of it is executed; a layer class Keras does not know is
refused the same way (bbselect never imports code to rebuild it). A file of weights only
(``.weights.h5``) is not a model: give it to the architecture it was saved from, ``-b NAME:weights=PATH``.

A file's identity is the sha256 of its bytes (part of the cache key: a re-trained file never reuses old
maps, a renamed one does).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from bbselect.common import file_digest
from bbselect.errors import UsageError, WeightsUnavailable

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
WEIGHTS_ONLY_SUFFIX = ".weights.h5"
_DIGESTS: dict[tuple, str] = {}


def looks_like_model_path(text: str) -> bool:
    return text.lower().endswith(MODEL_SUFFIXES)


def existing_file(text: str, what: str) -> Path:
    """The resolved path of an existing file, or a UsageError naming ``what`` it was meant to be."""
    try:
        path = Path(text).expanduser()
        found = path.is_file()
    except (ValueError, RuntimeError, OSError):  # a NUL byte, ~unknown_user
        found = False
    if not found:
        raise UsageError(f"{what} {text!r}: no such file")
    return path.resolve()


def sha256(path: str | Path) -> str:
    """sha256 of a file, computed once per (path, size, modification time) in a process."""
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_digest(path, "sha256")
    return _DIGESTS[key]


def short_stem(path: str | Path) -> str:
    """A file's name without ``.keras`` / ``.h5`` / ``.weights.h5``: the default label of a model file."""
    name = Path(path).name
    for suffix in (WEIGHTS_ONLY_SUFFIX, *MODEL_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name


def load(path: str | Path):
    """Load a model file with safe mode (see module docstring); clear errors, never a Keras traceback."""
    from bbselect.models.runtime import keras

    path = Path(path)
    config = read_config(path)
    if config is None:
        raise UsageError(f"{path}: holds no model (weights only?); a model file is a whole model saved with "
                         f"model.save(). Weights go to the architecture they were saved from: "
                         f"-b NAME:weights={path}")
    lambdas = layers_where(config, lambda c: c.get("class_name") == "Lambda")
    try:
        return keras().saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as err:  # noqa: BLE001 - Keras raises ValueError/TypeError/OSError; each becomes a clear error
        text = str(err)
        if "safe_mode" in text or "unsafe" in text.lower():
            raise UsageError(
                f"{path}: refused: loading it would run Python code stored in the file (layer "
                f"{', '.join(map(repr, lambdas)) or '?'}: a Lambda layer); bbselect loads model files with "
                f"safe_mode=True and never executes such code. Re-save the model without Lambda layers "
                f"(use Keras layers or ops instead)") from None
        unknown = re.findall(r"[Cc]ould not locate (?:class|function) '?([\w.]+)'?", text)
        if unknown:
            names = layers_where(config, lambda c: c.get("class_name") in unknown)
            raise UsageError(f"{path}: layer {', '.join(map(repr, names)) or '?'} is of class "
                             f"{', '.join(sorted(set(unknown)))}, which Keras does not know; bbselect loads only "
                             f"Keras' own layers and never imports code to rebuild others") from None
        first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
        raise WeightsUnavailable(f"{path}: could not be loaded as a Keras model: {first[:300]}") from None


def read_config(path: Path) -> dict | None:
    """The model config stored in a ``.keras`` or whole-model ``.h5`` file; None when it holds none."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json")) if "config.json" in z.namelist() else None
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                return None
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise WeightsUnavailable(f"{path}: not a readable .keras or .h5 model file ({err})") from None


def layers_where(config, test) -> list[str]:
    """Names of the layers (at any depth) whose config entry passes ``test``."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            inner = node.get("config")
            if "class_name" in node and isinstance(inner, dict) and isinstance(inner.get("name"), str) \
                    and test(node):
                found.append(inner["name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    return found
