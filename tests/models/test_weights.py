"""--weights: offline ImageNet failure is a clear error (no network used), files load, none is random."""

import numpy as np
import pytest

from bbselect.errors import WeightsUnavailable
from bbselect.models import weights
from bbselect.models.selection import parse_selection


@pytest.fixture
def offline(monkeypatch):
    """Make Keras' downloader fail the way it does without network, without touching the network."""
    from keras.src.utils import file_utils

    def fail(fname=None, origin=None, *a, **k):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", fail)


def test_offline_imagenet_error_is_actionable(offline):
    sel = parse_selection("mobilenetv2")
    with pytest.raises(WeightsUnavailable) as err:
        weights.build_backbone(sel, "imagenet", 96)
    msg = str(err.value)
    # names the file Keras wanted, where it looks, and both ways out
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5" in msg
    assert "KERAS_HOME" in msg and "--weights none" in msg and "--weights PATH" in msg
    assert str(weights.keras_models_dir()) in msg
    assert err.value.exit_code == 4


def test_parse_weights_values(tmp_path):
    assert weights.parse_weights("ImageNet") == "imagenet"
    assert weights.parse_weights("none") == "none"
    f = tmp_path / "w.h5"
    f.write_bytes(b"x")
    assert weights.parse_weights(str(f)) == str(f.resolve())
    with pytest.raises(WeightsUnavailable, match="not 'imagenet', 'none'"):
        weights.parse_weights(str(tmp_path / "missing.h5"))


def test_weights_file_roundtrip_and_md5(tmp_path):
    sel = parse_selection("mobilenet:alpha=0.25")
    random_model, info = weights.build_backbone(sel, "none", 64, seed=3)
    assert info.random and info.seed == 3
    path = tmp_path / "mine.weights.h5"
    random_model.save_weights(path)
    loaded, finfo = weights.build_backbone(sel, str(path), 64)
    assert finfo.kind == "file" and finfo.md5 == weights.md5sum(path) and len(finfo.md5) == 32
    for a, b in zip(random_model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_random_weights_are_seeded():
    sel = parse_selection("mobilenet:alpha=0.25")
    a, _ = weights.build_backbone(sel, "none", 64, seed=1)
    b, _ = weights.build_backbone(sel, "none", 64, seed=1)
    c, _ = weights.build_backbone(sel, "none", 64, seed=2)
    wa, wb, wc = a.get_weights()[0], b.get_weights()[0], c.get_weights()[0]
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    small, _ = weights.build_backbone(parse_selection("mobilenet:alpha=0.25"), "none", 64)
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    with pytest.raises(WeightsUnavailable, match="does not fit mobilenet"):
        weights.build_backbone(parse_selection("mobilenet"), str(path), 64)


def test_real_pretrained_file_loads_by_path(pretrained_mobilenet):
    sel = parse_selection("mobilenet:alpha=0.25")
    model, info = weights.build_backbone(sel, str(pretrained_mobilenet), 224)
    assert info.md5 == "f313cee49f5d33dfb06f2b255c4adb64"  # published in ../shared/README.md
    random_model, _ = weights.build_backbone(sel, "none", 224)
    assert not np.array_equal(model.get_weights()[0], random_model.get_weights()[0])
