"""The static prior: each registry backbone's documented ImageNet top-1 accuracy (one table, with sources).

"Take the one with the best ImageNet top-1" is the baseline a transferability score must beat (Kornblith
et al. 2019: r = 0.99 with frozen-feature transfer over 16 ImageNet CNNs; docs/validation.md measures it
across families on this project's data).  The reports show what this prior would pick next to the evidence.

Values are the ImageNet-1k validation top-1 (%) documented for the **Keras ImageNet weights** of each
architecture at its default input (224 for most): ``SOURCE`` for the table, ``VARIANT_SOURCES`` for the
width-multiplier variants the Keras table does not list.  A value is known only when it describes the
weights that ran: ImageNet weights of a registry backbone, or a backbone's own ``top1=`` (the selection's
``top1`` attribute, a model file's documented accuracy).  Random weights, a weights file or a user model
without ``top1=``: unknown (None), never guessed.
"""

from __future__ import annotations

SOURCE = "keras.io/api/applications (the 'Top-1 Accuracy' column of the Keras Applications table)"
VARIANT_SOURCES = {
    "mobilenet": "tensorflow/models research/slim/nets/mobilenet_v1.md (MobileNet_v1_<alpha>_224 rows)",
    "mobilenetv2": "tensorflow/models research/slim/nets/mobilenet/README.md (mobilenet_v2_<alpha>_224 rows)",
    "mobilenetv3small": "keras.applications.MobileNetV3Small docstring table (float, 224)",
    "mobilenetv3large": "keras.applications.MobileNetV3Large docstring table (float, 224)",
}

# registry name -> top-1 % (Keras table, default options)
TABLE = {
    "vgg16": 71.3, "vgg19": 71.3, "resnet50": 74.9, "resnet101": 76.4, "resnet152": 76.6,
    "resnet50v2": 76.0, "resnet101v2": 77.2, "resnet152v2": 78.0, "inceptionv3": 77.9,
    "inceptionresnetv2": 80.3, "xception": 79.0, "mobilenet": 70.4, "mobilenetv2": 71.3,
    "densenet121": 75.0, "densenet169": 76.2, "densenet201": 77.3,
    "efficientnetb0": 77.1, "efficientnetb1": 79.1, "efficientnetb2": 80.1, "efficientnetb3": 81.6,
    "efficientnetb4": 82.9, "efficientnetb5": 83.6, "efficientnetb6": 84.0, "efficientnetb7": 84.3,
    "efficientnetv2b0": 78.7, "efficientnetv2b1": 79.8, "efficientnetv2b2": 80.5, "efficientnetv2b3": 82.0,
    "efficientnetv2s": 83.9, "efficientnetv2m": 85.3, "efficientnetv2l": 85.7,
    "convnext_tiny": 81.3, "convnext_small": 82.3, "convnext_base": 85.3, "convnext_large": 86.3,
    "convnext_xlarge": 86.7,
}
# (registry name, option values) -> top-1 % for variants (VARIANT_SOURCES); options as (("alpha", a), ...)
VARIANTS = {
    ("mobilenet", (("alpha", 0.25),)): 49.8, ("mobilenet", (("alpha", 0.5),)): 63.3,
    ("mobilenet", (("alpha", 0.75),)): 68.4,
    ("mobilenetv2", (("alpha", 0.35),)): 60.3, ("mobilenetv2", (("alpha", 0.5),)): 65.4,
    ("mobilenetv2", (("alpha", 0.75),)): 69.8, ("mobilenetv2", (("alpha", 1.3),)): 74.4,
    ("mobilenetv2", (("alpha", 1.4),)): 75.0,
    ("mobilenetv3small", ()): 68.1, ("mobilenetv3small", (("alpha", 0.75),)): 65.4,
    ("mobilenetv3small", (("minimalistic", True),)): 61.9,
    ("mobilenetv3large", ()): 75.6, ("mobilenetv3large", (("alpha", 0.75),)): 73.3,
    ("mobilenetv3large", (("minimalistic", True),)): 72.3,
}
_DEFAULTS = {"alpha": 1.0, "minimalistic": False}


def documented(name: str, options=()) -> dict | None:
    """``{"value", "source"}`` for a registry backbone's ImageNet weights, or None when not documented."""
    opts = tuple((k, v) for k, v in sorted(dict(options).items()) if _DEFAULTS.get(k, object()) != v)
    if (name, opts) in VARIANTS:
        return {"value": VARIANTS[(name, opts)], "source": VARIANT_SOURCES[name]}
    if not opts and name in TABLE:
        return {"value": TABLE[name], "source": SOURCE}
    return None


def top1_of(selection, weights_kind: str) -> dict:
    """The prior for one backbone as it ran: ``{"value": float | None, "source": str}``.

    ``weights_kind``: the run's weights for it (``imagenet`` / ``none`` / ``file`` / ``custom``).  The
    selection's own ``top1`` (a per-backbone option) wins; otherwise only ImageNet weights of a registry
    backbone have a documented value."""
    own = getattr(selection, "top1", None)
    if own is not None:
        return {"value": float(own), "source": "top1= given for this backbone"}
    if weights_kind != "imagenet" or selection.spec.model is not None:
        why = {"none": "random weights", "file": "a weights file without top1=",
               "custom": "a user model without top1=", "model-file": "a model file without top1="}.get(
                  weights_kind, f"{weights_kind} weights")
        return {"value": None, "source": f"unknown: {why}"}
    doc = documented(selection.spec.name, selection.options)
    return doc or {"value": None, "source": "unknown: not in the documented table"}


def prior_pick(entries: list[dict]) -> dict:
    """What the static prior picks among a run's backbones: ``{"label", "value", "known", "unknown"}``.

    ``label`` is None when fewer than one backbone has a known top-1; ``unknown`` lists the others."""
    known = [(e["top1"]["value"], e["label"]) for e in entries
             if isinstance(e.get("top1"), dict) and e["top1"].get("value") is not None]
    unknown = [e["label"] for e in entries if not (isinstance(e.get("top1"), dict) and e["top1"].get("value") is not None)]
    if not known:
        return {"label": None, "value": None, "known": 0, "unknown": unknown}
    value, label = max(known, key=lambda t: t[0])
    return {"label": label, "value": value, "known": len(known), "unknown": unknown}
