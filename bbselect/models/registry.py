"""The one registry of backbones.

Every CLI choice, config check and test reads this table; nothing else lists backbone names.
Each entry wraps a ``keras.applications`` constructor (uniform signature, ``include_top=False``),
that family's own ``preprocess_input``, the constructor options a user may set (e.g. MobileNet's
``alpha``) and the smallest input it accepts. Stages c2..c5 are found from the built model
(``models/stages.py``); ``bbselect layers NAME`` prints them. How a user selects a backbone
(``NAME:key=value``, a model file, per-backbone keys) is ``models/selection.py``.

Your own Keras model joins the same registry for the life of the process (``register_model``, used
by the Python API): an entry holding the built model, its preprocessing, and a digest of its
architecture and weights (part of the cache key, so a re-trained model never reuses old maps).
A model file selected by path gets an entry of its own in its selection, not in this table.
"""

from __future__ import annotations

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
    preprocess_label: str | None = None  # how a user model's input is prepared, as reports name it
    identity: str | None = None  # digest of a user model's architecture and weights, or a model file's sha256
    path: str | None = None  # a model file (modelfile.load builds it)

    def keras_constructor(self) -> Callable:
        return getattr(keras().applications, self.constructor)

    @property
    def is_own(self) -> bool:
        """A user's network (a model object or a model file), not a keras.applications constructor."""
        return self.model is not None or self.path is not None

    def preprocess(self, batch):
        """This family's own ``preprocess_input`` on a float32 RGB batch in [0, 255] (a user model:
        its ``preprocess_fn``, or the batch as it is)."""
        if self.is_own:
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


def register_model(model, preprocess: Callable | None = None, preprocess_label: str | None = None) -> str:
    """Add a built Keras model (a backbone of your own) to the registry; return its name to select it.

    The name is the model's own, lower-cased, with characters that selections, file names and
    TensorFlow scopes cannot take (``:``, ``,``, ``=``, spaces, ``<``, quotes, ...) replaced; it may not
    shadow a built-in backbone. Check the model first (``stages.check_image_model``).  ``preprocess``
    is part of the identity (the cache key): the same model prepared otherwise gives other maps."""
    import re

    name = re.sub(r"[^a-z0-9_.\-]+", "_", str(model.name).lower()).strip("_.") or "model"
    if name in REGISTRY and REGISTRY[name].model is None:
        name = f"custom_{name}"
    shape = tuple(model.inputs[0].shape)
    label = preprocess_label or ("raw" if preprocess is None else "your function")
    identity = model_digest(model) + ("" if preprocess is None else "+" + preprocess_digest(preprocess))
    REGISTRY[name] = BackboneSpec(name, "(your model)", "", "custom", model=model, preprocess_fn=preprocess,
                                  preprocess_label=label, identity=identity, min_size=int(shape[1] or 32))
    return name


def preprocess_digest(fn: Callable) -> str:
    """A fingerprint of a preprocessing function: sha256 (16 hex digits) of its output on a fixed batch
    (every value 0-255 in every channel), rounded to 1e-4 so that float noise does not matter.  A function
    that cannot take that batch gets a random fingerprint: its maps are never served from another run."""
    import hashlib
    import uuid

    import numpy as np

    ramp = np.arange(2 * 16 * 16 * 3, dtype=np.float32).reshape(2, 16, 16, 3) % 256
    try:
        out = np.round(np.asarray(fn(ramp.copy()), dtype=np.float64), 4)
    except Exception:  # noqa: BLE001 - any failure only disables cross-run cache reuse
        return uuid.uuid4().hex[:16]
    return hashlib.sha256(repr(out.shape).encode() + out.tobytes()).hexdigest()[:16]


def names() -> list[str]:
    return list(REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        msg = f"unknown backbone {name!r}{did_you_mean(name.lower(), REGISTRY, n=3, quote=False)}"
        msg += " (`bbselect backbones` lists them)"
        raise UsageError(msg) from None
