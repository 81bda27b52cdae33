"""The one registry of backbones.

Every CLI choice, config check and test reads this table; nothing else lists backbone names.
Each entry wraps a ``keras.applications`` constructor (uniform signature, ``include_top=False``),
that family's own ``preprocess_input``, the constructor options a user may set (e.g. MobileNet's
``alpha``) and the smallest input it accepts.

Stages follow the detector/FPN convention: stage ``cK`` is the *last* layer whose output has
stride ``2**K`` relative to the input (c2 = stride 4 … c5 = stride 32). Zero-padding layers are
never chosen. They are found from the built model (``find_stages``), so the rule is the same for
every family; ``bbselect layers NAME`` prints them. The default layer is ``c5``, the last conv stage.

A backbone is selected with ``NAME`` or ``NAME:key=value,key=value`` (``mobilenet:alpha=0.25``).
Besides constructor options, ``layer=`` picks that backbone's layer (``resnet50:layer=c4``).

Your own Keras model joins the same registry for the life of the process (``register_model``, used
by the Python API): an entry holding the built model, its preprocessing, and a digest of its
architecture and weights (part of the cache key, so a re-trained model never reuses old maps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from bbselect.common import did_you_mean
from bbselect.errors import UsageError
from bbselect.models.runtime import keras

STAGES = {"c2": 4, "c3": 8, "c4": 16, "c5": 32}
DEFAULT_BACKBONES = ("vgg16", "resnet50", "mobilenetv2")
DEFAULT_STAGE = "c5"


@dataclass(frozen=True)
class Option:
    """A constructor option a user may set."""

    type: type
    default: Any
    choices: tuple = ()

    def parse(self, name: str, text: str) -> Any:
        try:
            if self.type is bool:
                low = text.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value = low in ("true", "1", "yes")
            else:
                value = self.type(text)
        except ValueError:
            raise UsageError(f"option {name}={text!r}: expected {self.type.__name__}") from None
        if self.choices and value not in self.choices:
            raise UsageError(
                f"option {name}={text}: must be one of {', '.join(map(str, self.choices))}"
            )
        return value


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    constructor: str  # attribute of keras.applications
    preprocess_module: str  # attribute of keras.applications holding preprocess_input
    family: str
    options: dict[str, Option] = field(default_factory=dict)
    min_size: int = 32
    stage_size: int = 64  # smallest input at which all of c2..c5 are found (tests build at this size)
    model: Any = field(default=None, compare=False)  # a user's own built model (register_model)
    preprocess_fn: Callable | None = field(default=None, compare=False)
    identity: str | None = None  # digest of a user model's architecture and weights

    def keras_constructor(self) -> Callable:
        return getattr(keras().applications, self.constructor)

    def preprocess(self, batch):
        """This family's own ``preprocess_input`` on a float32 RGB batch in [0, 255] (a user model:
        its ``preprocess_fn``, or the batch as it is)."""
        if self.model is not None:
            return batch if self.preprocess_fn is None else self.preprocess_fn(batch)
        module = getattr(keras().applications, self.preprocess_module)
        return module.preprocess_input(batch)


_ALPHA_V1 = Option(float, 1.0, (0.25, 0.5, 0.75, 1.0))  # width multiplier
_ALPHA_V2 = Option(float, 1.0, (0.35, 0.5, 0.75, 1.0, 1.3, 1.4))
_ALPHA_V3 = Option(float, 1.0, (0.75, 1.0))
_MINIMAL = Option(bool, False)  # MobileNetV3 minimalistic variant


def _specs() -> list[BackboneSpec]:
    s = [
        BackboneSpec("vgg16", "VGG16", "vgg16", "vgg"),
        BackboneSpec("vgg19", "VGG19", "vgg19", "vgg"),
        BackboneSpec("resnet50", "ResNet50", "resnet", "resnet"),
        BackboneSpec("resnet101", "ResNet101", "resnet", "resnet"),
        BackboneSpec("resnet152", "ResNet152", "resnet", "resnet"),
        BackboneSpec("resnet50v2", "ResNet50V2", "resnet_v2", "resnet_v2"),
        BackboneSpec("resnet101v2", "ResNet101V2", "resnet_v2", "resnet_v2"),
        BackboneSpec("resnet152v2", "ResNet152V2", "resnet_v2", "resnet_v2"),
        BackboneSpec("mobilenet", "MobileNet", "mobilenet", "mobilenet", {"alpha": _ALPHA_V1}),
        BackboneSpec("mobilenetv2", "MobileNetV2", "mobilenet_v2", "mobilenet", {"alpha": _ALPHA_V2}),
        BackboneSpec(
            "mobilenetv3small", "MobileNetV3Small", "mobilenet_v3", "mobilenet",
            {"alpha": _ALPHA_V3, "minimalistic": _MINIMAL},
        ),
        BackboneSpec(
            "mobilenetv3large", "MobileNetV3Large", "mobilenet_v3", "mobilenet",
            {"alpha": _ALPHA_V3, "minimalistic": _MINIMAL},
        ),
        BackboneSpec("densenet121", "DenseNet121", "densenet", "densenet"),
        BackboneSpec("densenet169", "DenseNet169", "densenet", "densenet"),
        BackboneSpec("densenet201", "DenseNet201", "densenet", "densenet"),
        BackboneSpec("inceptionv3", "InceptionV3", "inception_v3", "inception", min_size=75, stage_size=224),
        BackboneSpec(
            "inceptionresnetv2", "InceptionResNetV2", "inception_resnet_v2", "inception", min_size=75, stage_size=224
        ),
        BackboneSpec("xception", "Xception", "xception", "inception", min_size=71, stage_size=96),
    ]
    for b in range(8):
        s.append(BackboneSpec(f"efficientnetb{b}", f"EfficientNetB{b}", "efficientnet", "efficientnet"))
    for v in ("B0", "B1", "B2", "B3", "S", "M", "L"):
        s.append(BackboneSpec(f"efficientnetv2{v.lower()}", f"EfficientNetV2{v}", "efficientnet_v2", "efficientnet_v2"))
    for v in ("Tiny", "Small", "Base", "Large", "XLarge"):
        s.append(BackboneSpec(f"convnext_{v.lower()}", f"ConvNeXt{v}", "convnext", "convnext"))
    return s


REGISTRY: dict[str, BackboneSpec] = {spec.name: spec for spec in _specs()}


def model_digest(model) -> str:
    """sha256 (16 hex digits) of a Keras model's architecture and weights."""
    import hashlib

    import numpy as np

    h = hashlib.sha256(model.to_json().encode())
    for w in model.weights:
        h.update(np.ascontiguousarray(np.asarray(w)).tobytes())
    return h.hexdigest()[:16]


def register_model(model, preprocess: Callable | None = None) -> str:
    """Add a built Keras model (a backbone of your own) to the registry; return its name to select it.

    The name is the model's own, lower-cased, with characters that selections use (``:``, ``,``,
    ``=``, spaces) replaced; it may not shadow a built-in backbone. The model must take fixed-size
    square RGB inputs (``input_shape=(S, S, 3)``)."""
    import re

    shape = tuple(getattr(model, "input_shape", None) or ())
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
        raise UsageError(f"model {getattr(model, 'name', '?')!r}: expected a functional Keras model with a fixed "
                         f"square RGB input, input_shape=(S, S, 3); got {shape or 'no input shape'}")
    name = re.sub(r"[^a-z0-9_.\-]+", "_", str(model.name).lower()).strip("_") or "model"
    if name in REGISTRY and REGISTRY[name].model is None:
        name = f"custom_{name}"
    REGISTRY[name] = BackboneSpec(name, "(your model)", "", "custom", model=model, preprocess_fn=preprocess,
                                  identity=model_digest(model), min_size=int(shape[1]))
    return name


def names() -> list[str]:
    return list(REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        msg = f"unknown backbone {name!r}{did_you_mean(name.lower(), REGISTRY, n=3, quote=False)}"
        msg += " (`bbselect backbones` lists them)"
        raise UsageError(msg) from None


@dataclass(frozen=True)
class Selection:
    """A backbone chosen by the user: spec, constructor options and an optional layer override."""

    spec: BackboneSpec
    options: tuple[tuple[str, Any], ...] = ()
    layer: str | None = None

    @property
    def label(self) -> str:
        parts = [f"{k}={_fmt(v)}" for k, v in self.options]
        if self.layer:
            parts.append(f"layer={self.layer}")
        return self.spec.name + (":" + ",".join(parts) if parts else "")

    def layer_or(self, run_layer: str) -> str:
        """The layer this backbone runs at: its own ``layer=`` override, else the run's ``--layer``."""
        return self.layer or run_layer

    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)


def _fmt(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def parse_selection(text: str) -> Selection:
    """Parse ``NAME[:key=value,...]``. Options at their default are dropped from the label."""
    name, _, rest = text.strip().partition(":")
    spec = get_spec(name)
    options: dict[str, Any] = {}
    layer = None
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise UsageError(f"backbone {text!r}: expected key=value, got {item!r}")
        if key == "layer":
            layer = value.strip()
            continue
        if key not in spec.options:
            allowed = sorted(spec.options) + ["layer"]
            raise UsageError(
                f"backbone {spec.name} has no option {key!r}{did_you_mean(key, allowed)}"
                + f" (options: {', '.join(allowed)})"
            )
        options[key] = spec.options[key].parse(key, value.strip())
    kept = tuple(sorted((k, v) for k, v in options.items() if v != spec.options[k].default))
    return Selection(spec, kept, layer)


# ---------------------------------------------------------------- stages (from a built model)

def layer_stride(input_size: int, out_size: int) -> int:
    """Stride of a layer as a power of two, rounding the input/output ratio in log2."""
    return 2 ** int(round(math.log2(input_size / max(out_size, 1))))


def spatial_layers(model) -> list[tuple[str, tuple, int]]:
    """(name, output_shape, stride) of every 4-D layer output, in topological order."""
    size = model.input_shape[1]
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None else None
        if shape is None or len(shape) != 4 or shape[1] is None:
            continue
        rows.append((layer.name, shape, layer_stride(size, shape[1])))
    return rows


def find_stages(model) -> dict[str, str]:
    """Map c2..c5 to the last non-padding layer of each stride (see module docstring)."""
    found: dict[str, str] = {}
    by_name = {layer.name: layer for layer in model.layers}
    for name, _shape, stride in spatial_layers(model):
        kind = type(by_name[name]).__name__
        if kind in ("ZeroPadding2D", "InputLayer"):
            continue
        for stage, s in STAGES.items():
            if stride == s:
                found[stage] = name
    return found


def resolve_layer(model, wanted: str | None) -> tuple[str, str | None]:
    """Return (keras layer name, stage name or None) for a stage name, a raw layer name, or None."""
    stages = find_stages(model)
    wanted = wanted or DEFAULT_STAGE
    if wanted.lower() in STAGES:
        key = wanted.lower()
        if key not in stages:
            raise UsageError(
                f"{model.name} has no layer at stride {STAGES[key]} at this input size "
                f"(stages found: {', '.join(stages) or 'none'}); try a larger --input-size"
            )
        return stages[key], key
    names_ = [layer.name for layer in model.layers]
    if wanted not in names_:
        raise UsageError(
            f"{model.name} has no layer {wanted!r}{did_you_mean(wanted, names_, n=3, quote=False)}"
            + " (`bbselect layers BACKBONE` lists them, or use a stage c2..c5)"
        )
    stage = next((k for k, v in stages.items() if v == wanted), None)
    return wanted, stage
