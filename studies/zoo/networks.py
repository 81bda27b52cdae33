"""The real networks of ``../shared/weights/zoo`` (and their controls) for the cross-family study.

ONE function turns a study configuration into features: ``network(cfg, shared, work, data_dir)``
returns a bbselect registry name (the model is registered through ``bbselect.models.registry.
register_model`` with its own preprocessing, fixed 224 x 224 input) whose model outputs the tapped
stages ``cfg["stages"]`` in one pass.  When bbselect reads model files itself (``-b FILE.keras``,
per-backbone ``weights=`` / ``preprocess=``), this is the only place to switch to that syntax.

Loading follows ``zoo.json`` (the ``load`` and ``input`` fields): Keras application constructors with
``weights=FILE`` for MobileNet v1 / V2 / V3-Small and the off-task VGG16, ``keras.saving.load_model(FILE,
safe_mode=True)`` for EfficientNet-Lite0 and SqueezeNet 1.1 (whole functional models with a dynamic
input, rebuilt here on a fixed 224 input; their preprocessing is inside the model).  Random-init
controls are the Keras architectures with ``weights=None`` and a seed; the cascade family is
``studies/cascade.py``'s, made per data set by its ``cascade_file``.
"""

from __future__ import annotations

import json
from pathlib import Path

from bbselect.models import cost, runtime
from bbselect.models.registry import register_model
from bbselect.models.stages import find_stages
from bbselect.models.top1 import documented
from studies.cascade import cascade_file

SIZE = 224
ZOO = "weights/zoo/zoo.json"
MOBILENET_V1 = "weights/keras/mobilenet_2_5_224_tf_no_top.h5"

# zoo name -> (Keras constructor, kwargs, preprocess module or None = raw 0..255, stage -> layer or None = c4/c5 found)
KERAS_NETS = {
    "mobilenet_v1_0.25": ("MobileNet", {"alpha": 0.25}, "mobilenet"),
    "mobilenetv2_1.0": ("MobileNetV2", {"alpha": 1.0}, "mobilenet_v2"),
    "mobilenetv2_0.35": ("MobileNetV2", {"alpha": 0.35}, "mobilenet_v2"),
    "mobilenetv3small_1.0": ("MobileNetV3Small", {}, None),
    "vgg16_hed_edges": ("VGG16", {}, "vgg16"),
}
# whole-model files: stage -> layer (zoo.json "stages"); SqueezeNet has no stride-32 stage, its two deepest
# stages are fire5 (stride 8, 27 x 27 at 224) and fire9 (stride ~17, 13 x 13)
FILE_STAGES = {
    "efficientnet_lite0": {"c4": "b10_add", "c5": "head_relu"},
    "squeezenet_v1_1": {"c3": "fire5_concat", "c4": "fire9_concat"},
}


def entries(shared: Path) -> dict[str, dict]:
    """zoo.json's networks by name, with absolute file paths; MobileNet v1's file sits in weights/keras."""
    doc = json.loads((shared / ZOO).read_text())
    out = {}
    for e in doc["networks"]:
        e = dict(e)
        e["path"] = str((shared / ZOO).parent / e["file"])
        out[e["name"]] = e
    return out


def stages_of(name: str) -> tuple[str, ...]:
    """The two deepest stages the study taps on a network."""
    return tuple(FILE_STAGES[name]) if name in FILE_STAGES else ("c4", "c5")


def _preprocess(module: str | None):
    if module is None:
        return None  # raw RGB 0..255: the model has its own preprocessing

    def fn(batch):
        return getattr(runtime.keras().applications, module).preprocess_input(batch)
    return fn


def _keras_net(keras, name: str, weights, seed: int | None):
    ctor, kw, module = KERAS_NETS[name]
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, ctor)(include_top=False, weights=weights,
                                              input_shape=(SIZE, SIZE, 3), **kw)
    return model, module


def network(cfg: dict, shared: Path, work: Path, data_dir: Path | None = None):
    """(registry name, {stage: output index}, cost {params, gflops}) for one configuration.

    ``cfg``: ``net`` (zoo name), ``kind`` (imagenet / off-task / random / cascade), ``stages``, ``seed``
    (random-init), ``k`` (cascade).  The registered model has a fixed 224 input and one output per stage."""
    keras = runtime.keras()
    name, kind = cfg["net"], cfg["kind"]
    zoo = entries(shared)
    if name in FILE_STAGES:
        whole = keras.saving.load_model(zoo[name]["path"], safe_mode=True)
        full = keras.models.clone_model(whole, input_tensors=keras.Input((SIZE, SIZE, 3)))  # fixed 224 input
        full.set_weights(whole.get_weights())
        model = keras.Model(full.input, [full.get_layer(FILE_STAGES[name][s]).output for s in cfg["stages"]],
                            name=cfg["id"])
        pre = None
    else:
        if kind == "random":
            weights = None
        elif kind == "cascade":
            weights = cascade_file(data_dir, cfg["stages"][-1], cfg["k"], str(shared / MOBILENET_V1), work)
        else:
            weights = str(shared / MOBILENET_V1) if name == "mobilenet_v1_0.25" else zoo[name]["path"]
        full, module = _keras_net(keras, name, weights, cfg.get("seed") if kind == "random" else None)
        found = find_stages(full)
        model = keras.Model(full.input, [full.get_layer(found[s]).output for s in cfg["stages"]], name=cfg["id"])
        pre = _preprocess(module)
    reg = register_model(model, pre)
    return reg, {s: i for i, s in enumerate(cfg["stages"])}, {"params": cost.count_params(full),
                                                              "gflops": cost.gflops(full)}


# zoo name -> (registry name, options): the architecture a name-reading static prior sees
ARCHITECTURE = {"mobilenet_v1_0.25": ("mobilenet", {"alpha": 0.25}), "mobilenetv2_1.0": ("mobilenetv2", {}),
                "mobilenetv2_0.35": ("mobilenetv2", {"alpha": 0.35}), "mobilenetv3small_1.0": ("mobilenetv3small", {}),
                "vgg16_hed_edges": ("vgg16", {})}


def architecture_top1(name: str) -> float | None:
    """The documented ImageNet top-1 of this network's architecture (bbselect's table): what a static
    prior reads for an off-task or random-init copy that it cannot tell from the ImageNet one."""
    arch = ARCHITECTURE.get(name)
    doc = documented(*arch) if arch else None
    return doc["value"] if doc else None
