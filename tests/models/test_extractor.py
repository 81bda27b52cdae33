"""Maps computed inside the model equal a direct numpy computation; analytic GFLOPs match hand counts."""

import numpy as np
import pytest

from bbselect.models import cost, registry
from bbselect.models.extractor import build_extractor, collapse
from bbselect.models.runtime import keras
from bbselect.models.selection import Selection, parse_selection


def _tiny_model():
    k = keras()
    inp = k.Input((16, 16, 3))
    x = k.layers.Conv2D(5, 3, strides=2, padding="same", name="c1")(inp)
    x = k.layers.Conv2D(7, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    return k.Model(inp, x, name="tiny")


def test_maps_match_numpy_on_tiny_model():
    k = keras()
    model = _tiny_model()
    k.utils.set_random_seed(1)
    sel = Selection(registry.get_spec("vgg16"))  # preprocess irrelevant here: we feed floats
    ex = build_extractor(sel, model, "c2")
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype(np.float32)
    feats = model.predict_on_batch(x)
    got = dict(zip(("max", "mean", "sum", "gap", "gmp"), ex.model.predict_on_batch(x)))
    want = collapse(feats)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5)
    assert got["max"].shape == (4, 4, 4) and ex.map_shape == (4, 4) and ex.channels == 7
    # the reduction really is over channels: sum = C * mean, and max >= mean everywhere
    np.testing.assert_allclose(got["sum"], 7 * got["mean"], rtol=1e-5, atol=1e-5)
    assert (got["max"] >= got["mean"] - 1e-6).all()


def test_every_image_of_a_call_is_timed_on_its_own():
    """The run's own images are its speed measurement: one timing per image, each a positive share of
    the call's wall time (so no synthetic passes are needed once a run has k images)."""
    import time

    sel = Selection(registry.get_spec("vgg16"))
    ex = build_extractor(sel, _tiny_model(), "c2")
    x = np.zeros((3, 16, 16, 3), np.uint8)
    ex(x[:1])  # trace
    t0 = time.perf_counter()
    ex(x)
    wall = time.perf_counter() - t0
    assert len(ex.last_image_seconds) == 3
    assert all(s > 0 for s in ex.last_image_seconds) and sum(ex.last_image_seconds) <= wall


def test_collapse_reference_by_hand():
    f = np.zeros((1, 1, 2, 3))
    f[0, 0, 0] = [1, 2, 3]
    f[0, 0, 1] = [-1, 0, 4]
    out = collapse(f)
    assert out["max"].tolist() == [[[3, 4]]]
    assert out["sum"].tolist() == [[[6, 3]]]
    assert out["gmp"].tolist() == [[1, 2, 4]]
    np.testing.assert_allclose(out["gap"], [[0, 1, 3.5]])


def test_macs_of_tiny_model_by_hand():
    model = _tiny_model()
    # c1: 8x8 outputs x 3x3 kernel x 3 in x 5 out; c2: 4x4 x 3x3 x 5 x 7
    assert cost.gflops(model) == pytest.approx(2 * (64 * 9 * 3 * 5 + 16 * 9 * 5 * 7) / 1e9)


def test_vgg16_gflops_matches_architecture_table():
    from bbselect.models.weights import build_backbone

    model, _ = build_backbone(parse_selection("vgg16"), "none", 224)
    # VGG16 conv layers (Simonyan & Zisserman 2015, config D): (spatial size, c_in, c_out)
    convs = [(224, 3, 64), (224, 64, 64), (112, 64, 128), (112, 128, 128),
             (56, 128, 256), (56, 256, 256), (56, 256, 256),
             (28, 256, 512), (28, 512, 512), (28, 512, 512),
             (14, 512, 512), (14, 512, 512), (14, 512, 512)]
    macs = sum(s * s * 9 * ci * co for s, ci, co in convs)
    assert macs / 1e9 == pytest.approx(15.35, abs=0.01)  # the figure usually quoted for VGG16
    assert cost.gflops(model) == pytest.approx(2 * macs / 1e9, rel=1e-9)
    assert cost.count_params(model) == 14_714_688  # Keras docs: VGG16 without top


def test_depthwise_and_separable_macs():
    k = keras()
    inp = k.Input((8, 8, 4))
    x = k.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(inp)
    x = k.layers.SeparableConv2D(6, 3, padding="same", name="sep")(x)
    m = k.Model(inp, x)
    dw = 64 * 9 * 4 * 2
    sep = 64 * (9 * 8 + 8 * 6)
    assert cost.gflops(m) == pytest.approx(2 * (dw + sep) / 1e9)
