"""Detection probe (probes/detection.py) on tiny synthetic features with known answers."""

import numpy as np
import pytest

from bbselect.probes import cocometrics as M
from bbselect.probes import detection as D

S, H = 64, 8  # input pixels, map cells: stride 8
FAST = D.ProbeConfig(folds=3, epochs=25, batch_size=8, hidden=16, depth=1)


def squares(n=24, seed=0):
    """A 3x3-cell bright square on noise in channel 0; its box in input pixels is the answer."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(0, 0.3, (n, H, H, 3)).astype(np.float32)
    boxes, classes = [], []
    for i in range(n):
        x, y = rng.integers(0, H - 3, 2)
        feats[i, y:y + 3, x:x + 3, 0] += 2.0
        boxes.append(np.array([[x * 8, y * 8, (x + 3) * 8, (y + 3) * 8]], float))
        classes.append(np.array([0]))
    return feats, boxes, classes


def map50(result, boxes, classes):
    geo = [M.Geometry(S, S, S, (S, S))] * len(boxes)
    gt = M.coco_ground_truth(boxes, classes, geo, ["square"])
    return M.evaluate(gt, M.coco_detections(result.detections, geo)).map50


@pytest.fixture(scope="module")
def data():
    return squares()


@pytest.fixture(scope="module")
def true_run(data):
    f, b, c = data
    return D.run_probe(f, b, c, 1, S, FAST)


def test_square_on_noise_is_found(data, true_run):
    f, b, c = data
    assert map50(true_run, b, c) > 0.9
    # every image was scored by a head trained without it: 3 folds, all used
    assert sorted(set(true_run.fold_of.tolist())) == [0, 1, 2]


def test_shuffled_boxes_score_near_zero(data, true_run):
    f, b, c = data
    shuffled = b[5:] + b[:5]  # features of one image, boxes of another
    r = D.run_probe(f, shuffled, c, 1, S, FAST)
    assert map50(r, shuffled, c) < 0.2


def test_same_inputs_and_seed_give_identical_detections(data, true_run):
    f, b, c = data
    again = D.run_probe(f, b, c, 1, S, FAST)
    for x, y in zip(true_run.detections, again.detections):
        assert np.array_equal(x.boxes, y.boxes) and np.array_equal(x.scores, y.scores)
        assert np.array_equal(x.classes, y.classes)


def test_targets_decode_back_to_their_boxes():
    boxes = [np.array([[8.0, 16.0, 40.0, 40.0], [44.0, 4.0, 60.0, 12.0]]), np.zeros((0, 4))]
    classes = [np.array([1, 0]), np.zeros(0, int)]
    heat, size, off, mask = D.encode_targets(boxes, classes, 2, (H, H), S)
    logits = np.where(heat >= 1.0, 5.0, -5.0)  # a perfect heatmap: peaks exactly at the centres
    dets = D.decode(logits, size, off, S, top_k=10, min_score=0.5)
    got = sorted(zip(dets[0].classes.tolist(), map(tuple, np.round(dets[0].boxes, 4))))
    assert got == [(0, (44.0, 4.0, 60.0, 12.0)), (1, (8.0, 16.0, 40.0, 40.0))]
    assert len(dets[1].boxes) == 0 and mask[1].sum() == 0


def test_folds_keep_groups_together_and_cover_every_image():
    groups = ["a", "a", "b", "c", "c", "c", "d", "e", "f", "g"]
    fold = D.fold_assignment(len(groups), 3, seed=1, groups=groups)
    for g in set(groups):
        assert len({fold[i] for i, x in enumerate(groups) if x == g}) == 1
    assert sorted(np.bincount(fold).tolist()) == [3, 3, 4]
    assert np.array_equal(fold, D.fold_assignment(len(groups), 3, seed=1, groups=groups))


def test_resolvable_counts_boxes_at_least_one_stride():
    boxes = [np.array([[0, 0, 31, 64], [0, 0, 32, 32]]), np.array([[10, 10, 20, 50]])]
    assert D.resolvable(boxes, (7, 7), 224) == (1, 3)  # stride 32: only the 32x32 box
    assert D.resolvable(boxes, (28, 28), 224) == (3, 3)  # stride 8


def test_prior_features_carry_no_image_information(data):
    f = D.prior_features(data[0])
    assert f.shape == (24, H, H, 1) and not f.any()


def test_the_probe_is_scale_free(data, true_run):
    """Features of a random-init MobileNet pool to ~1e-16: the head must see them standardised, not as
    zeros (which would leave it the box prior)."""
    f, b, c = data
    tiny = D.run_probe(f * 1e-16, b, c, 1, S, FAST)
    assert map50(tiny, b, c) == pytest.approx(map50(true_run, b, c), abs=0.02)


def test_per_position_normalisation_finds_the_square_and_is_scale_free(data):
    """normalise="position" (each cell's channel vector to unit RMS after the channel standardisation):
    the square is still found, and features x100 give the same mAP@0.5."""
    f, b, c = data
    cfg = D.ProbeConfig(folds=3, epochs=25, batch_size=8, hidden=16, depth=1, normalise="position")
    base = map50(D.run_probe(f, b, c, 1, S, cfg), b, c)
    assert base > 0.9
    assert map50(D.run_probe(f * 100.0, b, c, 1, S, cfg), b, c) == pytest.approx(base, abs=0.02)
