"""COCO conversion and pycocotools evaluation (probes/cocometrics.py) against hand-made cases."""

import numpy as np
import pytest

from bbselect.probes import cocometrics as M
from bbselect.probes.detection import Detections


def det(boxes, scores, classes=None):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    classes = np.zeros(len(boxes), int) if classes is None else np.asarray(classes)
    return Detections(boxes, np.asarray(scores, float), classes)


def test_letterbox_and_stretch_conversions_by_hand():
    # 200x100 image letterboxed into 64: content 64 wide, 32 high, at the top-left
    g = M.Geometry(200, 100, 64, (32, 64))
    assert np.allclose(M.to_input_pixels([[20, 10, 60, 50]], g), [[6.4, 3.2, 19.2, 16.0]])
    # a centred letterbox: content starts 16 px down
    gc = M.Geometry(200, 100, 64, (32, 64), pad=(0.0, 16.0))
    assert np.allclose(M.to_input_pixels([[20, 10, 60, 50]], gc), [[6.4, 19.2, 19.2, 32.0]])
    assert np.allclose(M.to_image_pixels([[6.4, 19.2, 19.2, 32.0]], gc), [[20, 10, 60, 50]])
    # stretch: each axis scaled on its own
    gs = M.Geometry(200, 100, 64, (64, 64))
    assert np.allclose(M.to_image_pixels([[32, 32, 64, 64]], gs), [[100, 50, 200, 100]])
    # a box reaching into the padding is clipped to the image
    assert np.allclose(M.to_image_pixels([[0, 0, 64, 64]], g), [[0, 0, 200, 100]])
    assert np.allclose(M.normalised_to_image([[0.1, 0.1, 0.3, 0.5]], g), [[20, 10, 60, 50]])


def test_coco_dicts_are_in_image_pixels():
    g = M.Geometry(200, 100, 64, (32, 64), pad=(0.0, 16.0))
    gt = M.coco_ground_truth([np.array([[20, 10, 60, 50]])], [np.array([2])], [g], ["a", "b", "c"])
    assert gt["annotations"][0]["bbox"] == [20.0, 10.0, 40.0, 40.0]
    assert gt["annotations"][0]["category_id"] == 3 and gt["annotations"][0]["area"] == 1600.0
    assert gt["images"][0] == {"id": 1, "width": 200, "height": 100}
    dets = M.coco_detections([det([[6.4, 19.2, 19.2, 32.0]], [0.7], [2])], [g])
    assert np.allclose(dets[0]["bbox"], [20, 10, 40, 40]) and dets[0]["category_id"] == 3


def _one_box_case(det_box_input):
    g = M.Geometry(200, 100, 64, (32, 64))
    gt = M.coco_ground_truth([np.array([[20, 10, 60, 50]])], [np.array([0])], [g], ["a"])
    return M.evaluate(gt, M.coco_detections([det([det_box_input], [0.9])], [g]))


def test_iou_083_counts_at_seven_of_ten_thresholds():
    # GT 40x40 at (20,10); detection 40x48 from the same corner: IoU = 1600/1920 = 0.833,
    # a hit at IoU .50 ... .80 (7 of 10 thresholds), so mAP@[.5:.95] = 0.7 and mAP@0.5 = 1
    box_in = M.to_input_pixels([[20, 10, 60, 58]], M.Geometry(200, 100, 64, (32, 64)))[0]
    ev = _one_box_case(box_in)
    assert ev.map50 == pytest.approx(1.0) and ev.map == pytest.approx(0.7)


def test_half_recall_gives_51_of_101_recall_points():
    g = [M.Geometry(100, 100, 100, (100, 100))] * 2
    gt = M.coco_ground_truth([np.array([[10, 10, 50, 50]]), np.array([[10, 10, 50, 50]])],
                             [np.array([0]), np.array([0])], g, ["a"])
    dets = [det([[10, 10, 50, 50]], [0.9]), det([[60, 60, 90, 90]], [0.8])]  # a hit, a miss
    ev = M.evaluate(gt, M.coco_detections(dets, g))
    assert ev.map50 == pytest.approx(51 / 101)


def _two_class_case(shift, with_inputs=False):
    rng = np.random.default_rng(3)
    n = 12
    geo = [M.Geometry(120, 90, 64, (48, 64))] * n
    gt_boxes, gt_cls, dets = [], [], []
    for i in range(n):
        x, y = rng.uniform(0, 60, 2)
        b = np.array([[x, y, x + 40, y + 30], [x + 10, y + 5, x + 50, y + 45]])
        gt_boxes.append(b)
        gt_cls.append(np.array([0, 1]))
        noisy = M.to_input_pixels(b + rng.normal(0, shift, b.shape), geo[i])
        dets.append(det(noisy, rng.uniform(0.1, 1, 2), [0, 1]))
    gt = M.coco_ground_truth(gt_boxes, gt_cls, geo, ["a", "b"])
    coco_dets = M.coco_detections(dets, geo)
    ev = M.evaluate(gt, coco_dets)
    return (ev, gt, coco_dets) if with_inputs else ev


def _cocoeval_on_image_list(gt, dets, idx):
    """The independent reference: pycocotools' own evaluate + accumulate over a resampled image list
    (an image drawn twice is its evalImgs entries listed twice), as bbselect did before issue 25."""
    import contextlib
    import copy
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), "bbox")
        ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0, 1e10]], ["all"], [100]
        ev.evaluate()
        n, n_cat = len(ev.params.imgIds), len(ev.params.catIds)
        pe = copy.copy(ev._paramsEval)
        pe.imgIds = list(range(len(idx)))
        ev._paramsEval = ev.params = pe
        ev.evalImgs = [ev.evalImgs[k * n + int(i)] for k in range(n_cat) for i in idx]
        ev.accumulate(pe)
    prec = ev.eval["precision"][:, :, :, 0, 0]
    return float(np.mean(prec[0][prec[0] > -1])), float(np.mean(prec[prec > -1]))


def test_resampling_with_every_image_once_reproduces_cocoeval():
    ev = _two_class_case(6.0)
    assert 0.05 < ev.map < ev.map50 < 1.0  # a case where the numbers are not trivial
    m50, m = M.resampled(ev.matches, np.arange(ev.n_images))
    assert m50 == pytest.approx(ev.map50, abs=1e-12) and m == pytest.approx(ev.map, abs=1e-12)


@pytest.mark.parametrize("shift", [2.0, 6.0, 15.0])
def test_weighted_resampling_equals_cocoevals_accumulate_over_the_drawn_list(shift):
    """The fast re-accumulation (image multiplicities as weights) against pycocotools' accumulate over
    the resampled image list itself, on resamples with repeats and missing images (scores distinct)."""
    ev, gt, dets = _two_class_case(shift, with_inputs=True)
    rng = np.random.default_rng(int(shift))
    for idx in [rng.integers(0, ev.n_images, ev.n_images) for _ in range(6)] + [np.array([0, 0, 0, 5])]:
        want = _cocoeval_on_image_list(gt, dets, idx)
        assert M.resampled(ev.matches, idx) == pytest.approx(want, abs=1e-12)


def test_bootstrap_interval_brackets_the_point_and_paired_test_separates():
    good, bad = _two_class_case(1.0), _two_class_case(12.0)
    b = M.bootstrap(good, n_boot=100)
    assert b["map50_ci"][0] <= good.map50 <= b["map50_ci"][1] and "bootstrap" in b["method"]
    same = M.paired_bootstrap(good, good, n_boot=100)
    assert same["diff"] == 0 and same["ci"] == (0.0, 0.0) and same["tied"]
    sep = M.paired_bootstrap(good, bad, n_boot=100)
    assert sep["diff"] > 0 and sep["ci"][0] > 0 and not sep["tied"]


def test_no_detections_is_zero_not_an_error():
    g = [M.Geometry(50, 50, 50, (50, 50))]
    gt = M.coco_ground_truth([np.array([[0, 0, 20, 20]])], [np.array([0])], g, ["a"])
    ev = M.evaluate(gt, [])
    assert (ev.map50, ev.map) == (0.0, 0.0)
    assert M.bootstrap(ev, n_boot=10)["map50_ci"] == (0.0, 0.0)
