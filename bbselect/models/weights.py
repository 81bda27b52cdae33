"""Resolve ``--weights`` and build a backbone with them.

``imagenet``  Keras' pretrained file, from its cache ``$KERAS_HOME/models`` (default ``~/.keras/models``),
              downloaded on first use. Offline, a missing file is a clear error — never random weights.
``none``      random initialisation (seeded with ``--seed``). Every output then says RANDOM WEIGHTS.
``PATH``      a local ``.h5`` / ``.weights.h5`` file saved from the same constructor and options.

A registry backbone's own ``weights=PATH`` (``-b mobilenetv2:weights=PATH``) takes the place of
``--weights`` for it alone. A model file (``-b PATH.keras``) and a user's model object carry their own
weights, whatever ``--weights`` says.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from bbselect.common import file_digest
from bbselect.errors import UsageError, WeightsUnavailable
from bbselect.models import runtime
from bbselect.models import modelfile
from bbselect.models.selection import Selection

# Keras warns, rather than fails, when parts of a weights file do not match the model.
_PARTIAL_LOAD = re.compile(r"freshly-initialized|Skipping loading|were not loaded|mismatch", re.I)


@dataclass(frozen=True)
class WeightsInfo:
    kind: str  # "imagenet" | "none" | "file" | "custom" (a user's model object) | "model-file" (-b PATH.keras)
    source: str | None  # file the weights came from
    md5: str | None
    seed: int | None = None
    sha256: str | None = None  # a model file's or a per-backbone weights file's

    @property
    def random(self) -> bool:
        return self.kind == "none"

    def as_dict(self) -> dict:
        out = {"kind": self.kind, "source": self.source, "md5": self.md5, "seed": self.seed}
        return {**out, "sha256": self.sha256} if self.sha256 else out


def parse_weights(text: str) -> str:
    """Validate the --weights value: 'imagenet', 'none', or an existing file path. A file that does
    not exist is unavailable weights (exit 4), like a failed ImageNet download."""
    low = text.strip().lower()
    if low in ("imagenet", "none"):
        return low
    path = Path(text).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(
            f"--weights {text!r}: not 'imagenet', 'none', or an existing weights file"
        )
    return str(path.resolve())


def keras_models_dir() -> Path:
    """Where Keras caches downloaded weights: ``$KERAS_HOME/models`` (default ``~/.keras/models``)."""
    try:
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:
        home = os.environ.get("KERAS_HOME", "~/.keras")
    return Path(home).expanduser() / "models"


def md5sum(path: str | Path) -> str:
    """md5 of a weights file: the identity Keras' own file checks and the shared data's README use."""
    return file_digest(path, "md5")


@contextlib.contextmanager
def _record_get_file(seen: list):
    """Record which files keras.applications asks ``get_file`` for (name, url, returned path)."""
    try:
        from keras.src.utils import file_utils
    except ImportError:  # private module moved: we only lose the file name in messages
        yield
        return
    original = file_utils.get_file

    def recording(fname=None, origin=None, *args, **kwargs):
        entry = {"fname": fname, "origin": origin, "path": None}
        seen.append(entry)
        entry["path"] = original(fname, origin, *args, **kwargs)
        return entry["path"]

    file_utils.get_file = recording
    try:
        yield
    finally:
        file_utils.get_file = original


def _offline_message(sel: Selection, seen: list, err: Exception) -> str:
    wanted = seen[-1]["fname"] if seen and seen[-1].get("fname") else None
    if not wanted:
        m = re.search(r"/([^/\s]+\.h5)", str(err))
        wanted = m.group(1) if m else "the ImageNet weights file"
    models = keras_models_dir()
    return (
        f"ImageNet weights for {sel.label} are not available: Keras could not download {wanted} "
        f"(no network?).\n"
        f"  - put the file at {models / wanted} (set KERAS_HOME to use another cache folder; "
        f"Keras looks in $KERAS_HOME/models), or\n"
        f"  - pass a local file: --weights PATH/{wanted}, or\n"
        f"  - run with random weights to test the pipeline: --weights none "
        f"(scores then say nothing about pretrained features)."
    )


def build_backbone(sel: Selection, weights: str, input_size: int, seed: int = 0):
    """Build ``sel`` with ``include_top=False`` at ``input_size``; return (model, WeightsInfo). A model
    object or file is returned as it is: ``stages.trace`` fits it to ``input_size``."""
    keras = runtime.keras()
    if sel.spec.model is not None:  # a user's own model comes with its weights (registry.register_model)
        return sel.spec.model, WeightsInfo("custom", None, sel.spec.identity)
    if sel.spec.path is not None:
        return modelfile.load(sel.spec.path), WeightsInfo("model-file", sel.spec.path, None, sha256=sel.spec.identity)
    if sel.weights:
        weights = sel.weights
    if input_size < sel.spec.min_size:
        raise UsageError(f"{sel.spec.name} needs --input-size >= {sel.spec.min_size} (got {input_size})")
    ctor = sel.spec.keras_constructor()
    kwargs = dict(include_top=False, input_shape=(input_size, input_size, 3), **sel.kwargs())
    seen: list = []
    if weights == "none":
        keras.utils.set_random_seed(seed)
        model = ctor(weights=None, **kwargs)
        return model, WeightsInfo("none", None, None, seed)
    try:
        # Keras prints "Downloading data from ..." on stdout; keep stdout for --format json
        with _record_get_file(seen), warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("always")
            model = ctor(weights=weights, **kwargs)
        partial = [str(w.message) for w in caught if _PARTIAL_LOAD.search(str(w.message))]
        if partial:
            raise ValueError(f"only part of the weights matched ({len(partial)} groups left at random init)")
    except Exception as err:  # keras raises bare Exception on fetch failure
        text = str(err)
        if weights == "imagenet" and ("URL fetch failure" in text or "fetch failure" in text.lower()):
            raise WeightsUnavailable(_offline_message(sel, seen, err)) from None
        if weights == "imagenet":
            raise UsageError(f"{sel.label}: Keras has no ImageNet weights for these options: {text}") from None
        raise WeightsUnavailable(
            f"weights file {weights} does not fit {sel.label} (include_top=False, "
            f"input {input_size}): {text.splitlines()[0] if text else type(err).__name__}"
        ) from None
    if weights == "imagenet":
        path = next((e["path"] for e in reversed(seen) if e.get("path")), None)
        return model, WeightsInfo("imagenet", path, md5sum(path) if path else None)
    return model, WeightsInfo("file", weights, md5sum(weights), sha256=modelfile.sha256(weights) if sel.weights else None)
