"""The dense linear objectness probe (bbselect.probes.objectness) on synthetic maps with known answers."""

import math

import numpy as np
import pytest

from bbselect.probes import objectness as O


def square_set(n=24, signal=True, central=False, seed=0):
    """12x12x6 maps; a 4x4 object whose cells carry +2 on channel 0 when ``signal``."""
    rng = np.random.default_rng(seed)
    feats, masks = [], []
    for _ in range(n):
        f = rng.normal(size=(12, 12, 6))
        y0, x0 = (4, 4) if central else rng.integers(0, 8, size=2)
        m = np.zeros((12, 12), bool)
        m[y0:y0 + 4, x0:x0 + 4] = True
        if signal:
            f[m, 0] += 2.0
        feats.append(f)
        masks.append(m)
    return feats, masks


def test_features_that_mark_the_object_score_high_and_beat_the_prior():
    feats, masks = square_set(signal=True)
    r = O.objectness_probe(feats, masks, folds=4)
    assert r["auroc"] > 0.9
    assert r["auroc_prior"] < 0.7          # objects anywhere: position says little
    assert r["gain"] > 0.2
    assert r["n_images"] == 24 and r["n_cells"] == 24 * 144


def test_noise_features_score_chance():
    feats, masks = square_set(signal=False)
    r = O.objectness_probe(feats, masks, folds=4)
    assert abs(r["auroc"] - 0.5) < 0.08


def test_a_fixed_central_object_is_learned_by_the_prior_alone():
    feats, masks = square_set(signal=False, central=True)
    r = O.objectness_probe(feats, masks, folds=4)
    assert r["auroc_prior"] > 0.95         # the quadratic-in-position prior finds the centre
    assert r["gain"] < 0                   # noise features add nothing


def test_folds_are_by_image_no_leak_from_duplicated_cells():
    # each image has its own random "object signature" on channel 1; a probe whose folds split
    # cells of one image would memorise it.  Grouped by image, it cannot: AUROC stays near chance.
    rng = np.random.default_rng(1)
    feats, masks = [], []
    for _ in range(20):
        sig = rng.normal(size=6)
        f = rng.normal(size=(8, 8, 6)) * 0.01
        m = np.zeros((8, 8), bool)
        m[2:5, 2:5] = True
        f[m] += sig                       # inside cells share the image's signature, random per image
        f[~m] += -sig * 0 + rng.normal(size=6)
        feats.append(f)
        masks.append(m)
    x = np.concatenate([f.reshape(64, 6) for f in feats])
    y = np.concatenate([m.ravel() for m in masks])
    g = np.repeat(np.arange(20), 64)
    grouped = O.oof_auroc(x, y, g, folds=5)
    assert grouped < 0.8


def test_skips_images_without_boxes_and_caps_cells_deterministically():
    feats, masks = square_set(n=6)
    masks[2] = None
    a = O.cell_samples(feats, masks, max_cells=50, seed=0)
    b = O.cell_samples(feats, masks, max_cells=50, seed=0)
    assert a["x"].shape == (250, 6)
    assert 2 not in set(a["groups"].tolist())
    np.testing.assert_array_equal(a["x"], b["x"])


def test_degenerate_inputs_give_nan_and_a_reason():
    feats, masks = square_set(n=1)
    r = O.objectness_probe(feats, masks)
    assert math.isnan(r["auroc"]) and "at least 2" in r["reason"]
    feats, masks = square_set(n=3)
    r = O.objectness_probe(feats, [np.zeros((12, 12), bool)] * 3)
    assert math.isnan(r["auroc"]) and "outside" in r["reason"]
    with pytest.raises(ValueError):
        O.cell_samples(feats, [np.zeros((3, 3), bool)] * 3)


def test_position_features_are_cell_centres():
    p = O.position_features((2, 4))
    np.testing.assert_allclose(p[0], [0.125, 0.25, 0.015625, 0.0625, 0.03125])
    np.testing.assert_allclose(p[-1], [0.875, 0.75, 0.765625, 0.5625, 0.65625])
