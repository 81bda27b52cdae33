"""ROI features (bbselect.probes.roi) and LogME on them (bbselect.probes.roilogme).

ROI-Align is checked against a plain per-sample loop written from the definition, and against a
case with a known answer (bilinear interpolation reproduces a linear ramp exactly, so pooling a
ramp over a box gives the ramp's value at the box centre).  ROI-LogME is checked against the
existing LogME on the same matrix, and on synthetic maps where objects are (or are not) visible.
"""

import math

import numpy as np
import pytest

from bbselect.probes import logme as LM
from bbselect.probes import roi as R
from bbselect.probes import roilogme as RL


def loop_roi_align(f, roi):
    """The definition, one sample at a time."""
    h, w, c = f.shape
    u0, v0, u1, v1 = roi
    nx = int(min(16, max(2, math.ceil(2 * (u1 - u0)))))
    ny = int(min(16, max(2, math.ceil(2 * (v1 - v0)))))
    acc = np.zeros(c)
    for iy in range(ny):
        for ix in range(nx):
            x = min(max(u0 + (ix + 0.5) * (u1 - u0) / nx - 0.5, 0.0), w - 1.0)
            y = min(max(v0 + (iy + 0.5) * (v1 - v0) / ny - 0.5, 0.0), h - 1.0)
            xa, ya = int(math.floor(x)), int(math.floor(y))
            xb, yb = min(xa + 1, w - 1), min(ya + 1, h - 1)
            lx, ly = x - xa, y - ya
            acc += ((1 - ly) * (1 - lx) * f[ya, xa] + (1 - ly) * lx * f[ya, xb]
                    + ly * (1 - lx) * f[yb, xa] + ly * lx * f[yb, xb])
    return acc / (nx * ny)


def test_roi_align_matches_the_loop_reference():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(7, 9, 4))
    rois = [(0.0, 0.0, 9.0, 7.0), (1.3, 2.2, 4.9, 3.1), (0.2, 0.1, 0.6, 0.5), (8.1, 6.2, 9.0, 7.0),
            (2.0, 1.0, 3.0, 2.0)]
    got = R.roi_align(f, rois)
    for g, r in zip(got, rois):
        np.testing.assert_allclose(g, loop_roi_align(f, r), rtol=1e-12, atol=1e-12)


def test_roi_align_of_a_linear_ramp_is_its_value_at_the_box_centre():
    h, w = 10, 12
    # cell (i, j) has its centre at (u, v) = (j + 0.5, i + 0.5); f = 2u - 3v + 1 there
    v, u = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    f = (2 * u - 3 * v + 1)[..., None]
    for roi in [(2.0, 3.0, 6.0, 8.0), (4.25, 1.5, 5.0, 2.75), (1.0, 1.0, 11.0, 9.0)]:
        cu, cv = (roi[0] + roi[2]) / 2, (roi[1] + roi[3]) / 2
        assert R.roi_align(f, [roi])[0, 0] == pytest.approx(2 * cu - 3 * cv + 1, abs=1e-12)


def test_roi_align_constant_map_and_one_hot_cell():
    f = np.zeros((4, 4, 2))
    f[..., 0] = 5.0
    f[1, 2, 1] = 1.0
    # a box exactly covering cell (1, 2): two samples per axis at a quarter cell either side of its
    # centre; each gives cell (1, 2) bilinear weight 0.75 per axis, so its share is 0.75² = 0.5625
    out = R.roi_align(f, [(2.0, 1.0, 3.0, 2.0)])[0]
    assert out[0] == pytest.approx(5.0)
    assert out[1] == pytest.approx(0.5625)


def test_box_to_cells_letterbox_and_stretch():
    # 224 input, 7x7 map (stride 32); letterbox: image 200 x 100 px fills 224 x 112 (valid_hw)
    assert R.box_to_cells((0.5, 0.5, 1.0, 1.0), (7, 7), 224, (112, 224)) == pytest.approx((3.5, 1.75, 7.0, 3.5))
    # stretch: the image fills the whole input
    assert R.box_to_cells((0.5, 0.5, 1.0, 1.0), (7, 7), 224, (224, 224)) == pytest.approx((3.5, 3.5, 7.0, 7.0))
    assert R.valid_cells((7, 7), 224, (112, 224)) == pytest.approx((7.0, 3.5))


def test_background_rois_avoid_boxes_and_are_deterministic():
    objs = np.array([[0.0, 0.0, 3.0, 3.0], [5.0, 5.0, 7.0, 8.0]])
    a = R.background_rois(objs, (10.0, 10.0), np.random.default_rng(3))
    b = R.background_rois(objs, (10.0, 10.0), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 4)
    for bg in a:
        assert 0 <= bg[0] < bg[2] <= 10 and 0 <= bg[1] < bg[3] <= 10
        assert all(R.iou(bg, o) < 0.3 for o in objs)


def test_background_rois_shrink_or_give_up_when_the_object_fills_the_image():
    full = np.array([[0.0, 0.0, 4.0, 4.0]])
    got = R.background_rois(full, (4.0, 4.0), np.random.default_rng(0))
    assert all(R.iou(g, full[0]) < 0.3 for g in got)   # never a region on top of the object
    assert len(got) <= 1


def synthetic_maps(n=40, visible=True, seed=0):
    """16x16x8 maps; channel 0..3 light up inside a square object when ``visible``."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        f = rng.normal(size=(16, 16, 8)) * 0.3
        x0, y0 = rng.integers(0, 10, size=2)
        if visible:
            f[y0:y0 + 6, x0:x0 + 6, :4] += 2.0
        box = (x0 / 16, y0 / 16, (x0 + 6) / 16, (y0 + 6) / 16, "thing")
        items.append((f, [box], 64, (64, 64)))
    return items


def test_roi_logme_equals_logme_on_the_same_matrix():
    rois = RL.collect(synthetic_maps(20), seed=0)
    f = np.concatenate([rois["objects"], rois["background"]])
    y = np.array([1] * len(rois["objects"]) + [0] * len(rois["background"]))
    assert RL.roi_logme(rois["objects"], rois["background"]) == LM.logme(f, y)


def test_roi_logme_visible_objects_beat_invisible_and_shuffled():
    vis = RL.collect(synthetic_maps(40, visible=True), seed=0)
    inv = RL.collect(synthetic_maps(40, visible=False), seed=0)
    s_vis = RL.roi_logme(vis["objects"], vis["background"])
    s_inv = RL.roi_logme(inv["objects"], inv["background"])
    f = np.concatenate([vis["objects"], vis["background"]])
    y = np.array([1] * len(vis["objects"]) + [0] * len(vis["background"]))
    s_shuf = LM.logme(f, np.random.default_rng(0).permutation(y))
    assert len(vis["background"]) == len(vis["objects"]) == 40
    assert s_vis > s_inv + 0.1
    assert s_vis > s_shuf + 0.1


def test_roi_logme_cls_needs_two_classes_and_merges_singletons():
    rois = RL.collect(synthetic_maps(10), seed=0)
    assert math.isnan(RL.roi_logme_cls(rois["objects"], rois["labels"], rois["background"]))
    labs = ["a"] * 4 + ["b"] * 3 + ["c", "d", "e"]
    assert list(RL.class_labels(labs)) == ["a"] * 4 + ["b"] * 3 + [RL.OTHER] * 3
    v = RL.roi_logme_cls(rois["objects"], labs, rois["background"])
    y = np.array(list(RL.class_labels(labs)) + [RL.BACKGROUND] * len(rois["background"]))
    assert math.isfinite(v)
    assert v == LM.logme(np.concatenate([rois["objects"], rois["background"]]), y)
    # a lone singleton cannot form a class of two: its ROI is left out
    labs = ["a"] * 5 + ["b"] * 4 + ["c"]
    v = RL.roi_logme_cls(rois["objects"], labs, rois["background"])
    y = np.array(labs[:9] + [RL.BACKGROUND] * len(rois["background"]))
    assert v == LM.logme(np.concatenate([rois["objects"][:9], rois["background"]]), y)


def test_roi_scores_deterministic_and_regression_term_sees_position():
    items = synthetic_maps(30)
    a, b = RL.roi_scores(RL.collect(items, seed=1)), RL.roi_scores(RL.collect(items, seed=1))
    assert a == b
    assert a["n_objects"] == 30 and a["n_images"] == 30 and a["n_classes"] == 1
    # features that encode the box centre linearly predict (cx, cy) better than noise does
    rng = np.random.default_rng(0)
    coords = rng.uniform(0.2, 0.8, size=(60, 4))
    good = np.concatenate([coords, rng.normal(size=(60, 4)) * 0.01], axis=1)
    bad = rng.normal(size=(60, 8))
    assert RL.roi_logme_reg(good, coords) > RL.roi_logme_reg(bad, coords) + 0.5
