"""The registry: every entry builds offline (weights=None) and its stages have the documented strides."""

import pytest

from bbselect.errors import UsageError
from bbselect.models import registry, stages
from bbselect.models.selection import parse_selection
from bbselect.models.weights import build_backbone


@pytest.mark.slow
@pytest.mark.parametrize("name", registry.names())
def test_every_backbone_builds_and_has_documented_stages(name):
    spec = registry.REGISTRY[name]
    size = max(spec.stage_size, spec.min_size)
    model, info = build_backbone(parse_selection(name), "none", size)
    assert info.random and model.input_shape[1:] == (size, size, 3)
    found = stages.find_stages(model)
    assert list(found) == ["c2", "c3", "c4", "c5"]
    order = [layer.name for layer in model.layers]
    positions = [order.index(found[s]) for s in ("c2", "c3", "c4", "c5")]
    assert positions == sorted(positions) and len(set(positions)) == 4
    for stage, stride in registry.STAGES.items():
        h = model.get_layer(found[stage]).output.shape[1]
        # the stage's map is input/stride up to rounding by padding='valid' layers (Inception family)
        assert 0.7 < size / h / stride < 1.45, (stage, h)
        assert type(model.get_layer(found[stage])).__name__ != "ZeroPadding2D"
    # the flat rule, written out from the model's own layers list: the traced graph finds the same layers
    flat = {}
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        if len(shape) == 4 and type(layer).__name__ not in ("ZeroPadding2D", "InputLayer"):
            flat.update({st: layer.name for st, s in registry.STAGES.items() if stages.layer_stride(size, shape[1]) == s})
    assert found == flat
    # c5 is the last conv stage: the backbone's own output is at stride 32 too
    assert stages.layer_stride(size, model.output.shape[1]) == 32


def test_defaults_are_registered_and_preprocess_differs_by_family():
    import numpy as np

    assert set(registry.DEFAULT_BACKBONES) <= set(registry.names())
    x = np.full((1, 4, 4, 3), 128.0, np.float32)
    vgg = registry.get_spec("vgg16").preprocess(x.copy())  # caffe: BGR mean subtraction
    mnv2 = registry.get_spec("mobilenetv2").preprocess(x.copy())  # tf: scale to [-1, 1]
    assert np.allclose(mnv2, 128 / 127.5 - 1, rtol=1e-4)
    assert np.allclose(vgg[0, 0, 0], [128 - 103.939, 128 - 116.779, 128 - 123.68])


def test_parse_selection_options_and_labels():
    sel = parse_selection("mobilenet:alpha=0.25")
    assert sel.kwargs() == {"alpha": 0.25} and sel.label == "mobilenet:alpha=0.25"
    assert parse_selection("mobilenet:alpha=1.0").label == "mobilenet"  # default dropped
    assert parse_selection("ResNet50:layer=c4").label == "resnet50:layer=c4"
    with pytest.raises(UsageError, match="did you mean 'alpha'"):
        parse_selection("mobilenet:alpah=0.5")
    with pytest.raises(UsageError, match="must be one of"):
        parse_selection("mobilenet:alpha=0.3")
    with pytest.raises(UsageError, match="did you mean resnet50"):
        registry.get_spec("resnet5")


def test_layer_stride_rounding():
    assert stages.layer_stride(224, 7) == 32
    assert stages.layer_stride(224, 15) == 16  # a ZeroPadding output one pixel wider
    assert stages.layer_stride(224, 5) == 32  # Inception 'valid' padding


def test_resolve_layer_by_stage_and_name():
    model, _ = build_backbone(parse_selection("mobilenetv2"), "none", 64)
    assert stages.resolve_layer(model, "c4")[:2] == ("block_13_expand_relu", "c4")
    assert stages.resolve_layer(model, "out_relu")[:2] == ("out_relu", "c5")
    assert stages.resolve_layer(model, "block_5_add")[:2] == ("block_5_add", None)
    with pytest.raises(UsageError, match="did you mean"):
        stages.resolve_layer(model, "block_5_ad")
