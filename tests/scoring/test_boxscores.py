"""Tests for bbselect.scoring.boxscores.

Expected values come from cell counting by hand (spelled out next to each
case), a brute-force pairwise AUROC, and the chance level of random maps.
"""

import math

import numpy as np
import pytest

from bbselect.inputs.boxmodel import Box
from bbselect.scoring import boxscores as B

# 8 rows x 10 columns.  Box x 0.2..0.5, y 0.25..0.75:
#   column centres (j + .5)/10 in [0.2, 0.5): 0.25, 0.35, 0.45 -> j = 2, 3, 4
#   row centres    (i + .5)/8  in [0.25, 0.75): 0.3125 .. 0.6875 -> i = 2, 3, 4, 5
#   -> 12 of 80 cells, area share 0.15
SHAPE = (8, 10)
BOX = Box(0.2, 0.25, 0.5, 0.75, "obj")


def hand_mask():
    m = np.zeros(SHAPE, bool)
    m[2:6, 2:5] = True
    return m


def brute_auroc(values, mask):
    pos, neg = values[mask], values[~mask]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (pos.size * neg.size)


def test_box_mask_by_hand():
    assert np.array_equal(B.box_mask(SHAPE, [BOX]), hand_mask())


def test_box_mask_half_open_and_union():
    # w = 4: centres 0.125, 0.375, 0.625, 0.875.  [0.25, 0.625) holds 0.375 only
    # (0.625 is the right edge, excluded); its centre 0.4375 is in cell 1 as well.
    m = B.box_mask((1, 4), [(0.25, 0.0, 0.625, 1.0)])
    assert m.tolist() == [[False, True, False, False]]
    # two boxes tiling the image cover every cell
    assert B.box_mask((3, 4), [(0, 0, 0.5, 1), (0.5, 0, 1, 1)]).all()


def test_box_mask_tiny_box_marks_its_centre_cell():
    # 4 x 4, box 0.51..0.52: no cell centre inside; its centre 0.515 * 4 = 2.06 -> cell (2, 2)
    m = B.box_mask((4, 4), [(0.51, 0.51, 0.52, 0.52)])
    assert m.sum() == 1 and m[2, 2]


def test_box_mask_rejects_empty_box():
    with pytest.raises(ValueError):
        B.box_mask((4, 4), [(0.5, 0.1, 0.5, 0.2)])


def test_indicator_map_is_perfect():
    m = hand_mask().astype(float)
    s = B.score_boxes(m, [BOX])
    assert s["degenerate"] is None
    assert s["area_share"] == pytest.approx(12 / 80)
    assert s["auroc"] == 1.0
    assert s["pointing"] == 1.0
    assert s["mass_ratio"] == pytest.approx(80 / 12)   # all mass inside / 0.15


def test_inverted_map_is_worst():
    # 0 inside the box, distinct values 1.00..1.67 outside (distinct, so the map is
    # not "saturated": see test_saturated_map_is_nan_with_reason)
    mask = hand_mask()
    m = np.zeros(SHAPE)
    m[~mask] = 1.0 + 0.01 * np.arange((~mask).sum())
    s = B.score_boxes(m, [BOX])
    assert s["degenerate"] is None
    assert s["auroc"] == 0.0
    assert s["pointing"] == 0.0
    assert s["mass_ratio"] == 0.0


def test_mass_ratio_small_map_by_hand():
    # p = m - 1 = [0, 1, 2, 3], total 6; box = bottom-right cell holds 3 -> share 0.5;
    # area 1/4 -> ratio 2
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    mask = np.array([[False, False], [False, True]])
    assert B.mass_ratio(m, mask) == pytest.approx(2.0)
    # bottom row: (2 + 3) / 6 over area 1/2 -> 5/3
    assert B.mass_ratio(m, np.array([[False, False], [True, True]])) == pytest.approx(5 / 3)


def test_auroc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    mask = hand_mask()
    for _ in range(5):
        m = rng.integers(0, 4, size=SHAPE).astype(float)   # many ties
        assert B.auroc(m, mask) == pytest.approx(brute_auroc(m.ravel(), mask.ravel()))


def test_pointing_ties_are_split():
    m = np.zeros((4, 4))
    m[0, 0] = m[3, 3] = m[3, 2] = 1.0           # three maxima
    mask = np.zeros((4, 4), bool)
    mask[3, 3] = True                           # one of them inside
    assert B.pointing_game(m, mask) == pytest.approx(1 / 3)


def test_random_maps_are_at_chance():
    rng = np.random.default_rng(1)
    au, pt, mr = [], [], []
    for _ in range(400):
        s = B.score_boxes(rng.random(SHAPE), [BOX])
        au.append(s["auroc"])
        pt.append(s["pointing"])
        mr.append(s["mass_ratio"])
    # AUROC sd per map ~ sqrt((12 + 68 + 1) / (12 * 12 * 68)) ~ 0.09 -> se of mean ~ 0.0045
    assert np.mean(au) == pytest.approx(0.5, abs=0.02)
    # pointing hit rate ~ area share 0.15 (binomial se ~ 0.018)
    assert np.mean(pt) == pytest.approx(0.15, abs=0.06)
    assert np.mean(mr) == pytest.approx(1.0, abs=0.05)


def test_scores_invariant_to_positive_affine_change():
    rng = np.random.default_rng(2)
    m = rng.random(SHAPE)
    a, b = B.score_boxes(m, [BOX]), B.score_boxes(3.5 * m - 7.0, [BOX])
    for k in B.BOX_SCORE_NAMES:
        assert a[k] == pytest.approx(b[k], rel=1e-9)


def test_constant_map_is_nan_with_reason():
    s = B.score_boxes(np.full(SHAPE, 6.0), [BOX])
    assert all(math.isnan(s[k]) for k in B.BOX_SCORE_NAMES)
    assert "constant map" in s["degenerate"]


def test_saturated_map_is_nan_with_reason():
    # the project-wide policy (bbselect.scoring.mapscores.degenerate_reason): a map with at least
    # half of its cells tied at the maximum is clipped (ReLU6) and is not scored
    m = (~hand_mask()).astype(float)           # 68 of 80 cells at the maximum 1
    s = B.score_boxes(m, [BOX])
    assert all(math.isnan(s[k]) for k in B.BOX_SCORE_NAMES)
    assert "saturated" in s["degenerate"]


def test_no_boxes_and_full_cover_are_nan_with_reason():
    m = np.random.default_rng(3).random(SHAPE)
    s = B.score_boxes(m, [])
    assert all(math.isnan(s[k]) for k in B.BOX_SCORE_NAMES)
    assert "no box" in s["degenerate"]
    s = B.score_boxes(m, [Box(0, 0, 1, 1, "all")])
    assert all(math.isnan(s[k]) for k in B.BOX_SCORE_NAMES)
    assert "whole image" in s["degenerate"]
    full = np.ones(SHAPE, bool)
    assert math.isnan(B.auroc(m, full)) and math.isnan(B.mass_ratio(m, full))
    assert math.isnan(B.pointing_game(m, full))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        B.auroc(np.zeros((3, 3)), np.zeros((3, 4), bool))
