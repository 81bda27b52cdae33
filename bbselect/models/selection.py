"""How a user selects a backbone: a registry name or a model file, with per-backbone keys.

A selection is ``NAME[:key=value,...]`` (a registry name) or ``PATH.keras[:key=value,...]`` (a model
file, ``.keras`` or whole-model ``.h5``; ``models/modelfile.py``). Keys, besides a registry entry's
constructor options (``mobilenet:alpha=0.25``):

``layer=``       this backbone's layer: a stage c2..c5 or a layer name (``resnet50:layer=c4``)
``name=``        its label in reports (default: the name with its options; a model file's stem)
``preprocess=``  raw | tf | torch | caffe (``models/preprocess.py``) or a registry name whose family's
                 preprocessing the network was trained with; default: the family's own, ``raw`` for files
``weights=PATH`` a weights file for this registry backbone (global ``--weights`` for the others); its
                 sha256 is in the cache key
``top1=``        the network's documented ImageNet top-1 accuracy in percent (0–100); carried on the
                 selection for reports, never part of the label or the cache key

A registry name is looked up first: ``resnet50:...`` is always the registry's, ``resnet50.keras`` a file.
Two selections may not share a label (``name=`` tells them apart).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bbselect.common import did_you_mean
from bbselect.errors import UsageError
from bbselect.models import modelfile
from bbselect.models import preprocess as pp
from bbselect.models.registry import REGISTRY, BackboneSpec, get_spec


@dataclass(frozen=True)
class Selection:
    """A backbone chosen by the user: spec, constructor options and the per-backbone keys."""

    spec: BackboneSpec
    options: tuple[tuple[str, Any], ...] = ()
    layer: str | None = None
    name: str | None = None  # name=: the label
    preprocess: str | None = None  # preprocess=, None when it is the backbone's default
    weights: str | None = None  # weights=PATH (resolved) of a registry backbone
    top1: float | None = None  # top1=: documented ImageNet top-1 in percent (no effect on maps or keys)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        parts = [f"{k}={_fmt(v)}" for k, v in self.options]
        if self.layer:
            parts.append(f"layer={self.layer}")
        if self.preprocess:
            parts.append(f"preprocess={self.preprocess}")
        if self.weights:
            parts.append(f"weights={modelfile.short_stem(self.weights)}")
        base = modelfile.short_stem(self.spec.path) if self.spec.path else self.spec.name
        return base + (":" + ",".join(parts) if parts else "")

    @property
    def preprocess_name(self) -> str:
        """The preprocessing this backbone runs with, as the report names it."""
        if self.preprocess:
            return self.preprocess
        if self.spec.path:
            return pp.MODEL_FILE_DEFAULT
        if self.spec.model is not None:
            return self.spec.preprocess_label or ("raw" if self.spec.preprocess_fn is None else "your function")
        return f"{self.spec.name} ({self.spec.preprocess_module}.preprocess_input)"

    def prepare(self, batch):
        """Preprocess a float32 RGB batch in [0, 255] for this backbone."""
        if self.preprocess is None:
            return self.spec.preprocess(batch)
        if self.preprocess in pp.GENERIC:
            return pp.apply(self.preprocess, batch)
        return get_spec(self.preprocess).preprocess(batch)

    def key_options(self) -> dict[str, Any]:
        """Constructor options plus what else changes the maps (preprocessing), for the cache key."""
        return {**dict(self.options), **({"preprocess": self.preprocess} if self.preprocess else {})}

    def layer_or(self, run_layer: str) -> str:
        """The layer this backbone runs at: its own ``layer=`` override, else the run's ``--layer``."""
        return self.layer or run_layer

    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)


def _fmt(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


COMMON_KEYS = ("layer", "name", "preprocess", "weights", "top1")  # besides a registry entry's own options
FILE_KEYS = ("layer", "name", "preprocess", "top1")


def parse_selection(text: str) -> Selection:
    """Parse ``NAME[:key=value,...]`` or ``PATH.keras[:key=value,...]`` (module docstring). Options at
    their default are dropped from the label."""
    text = text.strip()
    head, _, rest = text.partition(":")
    m = re.match(r"^(.*?\.(?:keras|h5|hdf5))(?::(.*))?$", text, re.I | re.S)
    if head.lower() not in REGISTRY and m and m.group(1).strip():
        spec, rest = _file_spec(m.group(1).strip()), m.group(2) or ""
    else:
        spec = get_spec(head)
    allowed = list(FILE_KEYS) if spec.path else sorted(spec.options) + list(COMMON_KEYS)
    options: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = (x.strip() for x in item.partition("="))
        if not eq:
            raise UsageError(f"backbone {text!r}: expected key=value, got {item!r}")
        if key not in allowed:
            what = "a model file" if spec.path else f"backbone {spec.name}"
            raise UsageError(f"{what} has no option {key!r}{did_you_mean(key, allowed)} (options: {', '.join(allowed)})")
        if key in COMMON_KEYS:
            keys[key] = _parse_key(spec, key, value)
        else:
            options[key] = spec.options[key].parse(key, value)
    kept = tuple(sorted((k, v) for k, v in options.items() if v != spec.options[k].default))
    return Selection(spec, kept, **keys)


def _file_spec(path_text: str) -> BackboneSpec:
    if path_text.lower().endswith(modelfile.WEIGHTS_ONLY_SUFFIX):
        raise UsageError(f"{path_text}: a .weights.h5 file holds weights only, not a model; give it to the "
                         f"architecture it was saved from: -b NAME:weights={path_text}")
    path = modelfile.existing_file(path_text, "model file")
    return BackboneSpec(modelfile.short_stem(path), "(model file)", "", "file", path=str(path),
                        identity=modelfile.sha256(path))


def _parse_key(spec: BackboneSpec, key: str, value: str) -> Any:
    if key == "layer":
        if not value:
            raise UsageError("layer=: expected a stage c2..c5 or a layer name")
        return value
    if key == "name":
        if not value or len(value) > 80 or not value.isprintable():
            raise UsageError(f"name={value!r}: expected 1 to 80 printable characters")
        return value
    if key == "top1":
        try:
            top1 = float(value)
        except ValueError:
            top1 = math.nan
        if not 0 <= top1 <= 100:
            raise UsageError(f"top1={value}: expected the ImageNet top-1 accuracy in percent, 0 to 100")
        return top1
    if key == "weights":
        if value.lower() in ("imagenet", "none", ""):
            raise UsageError(f"weights={value}: per backbone, give a weights file (PATH); imagenet and none "
                             f"are set for all backbones with --weights")
        return str(modelfile.existing_file(value, "weights file"))
    low = value.lower()
    if low in pp.GENERIC:
        name = low
    elif low in REGISTRY and REGISTRY[low].model is None:
        name = low
        if not spec.is_own and REGISTRY[low].preprocess_module == spec.preprocess_module:
            return None  # the backbone's own preprocessing: the default, not a key
    else:
        choices = list(pp.GENERIC) + [n for n, s in REGISTRY.items() if s.model is None]
        raise UsageError(f"preprocess={value!r}: expected raw, tf, torch, caffe or a backbone family name"
                         f"{did_you_mean(low, choices)}")
    return None if spec.path and name == pp.MODEL_FILE_DEFAULT else name
