"""Probe image sampling and the detections figure (probes/study.py, reports/detections.py)."""

import numpy as np

from bbselect.probes import study as S
from bbselect.reports.detections import (
    DetectionPanel,
    DetectionRow,
    detections_figure,
    shown,
)


def test_sample_is_stratified_deterministic_and_bounded():
    names = [f"img{i}.jpg" for i in range(100)]
    n_boxes = [0] * 10 + [1] * 60 + [2] * 20 + [7] * 10  # strata: 10, 60, 20, 10
    pick = S.sample_images(names, n_boxes, 20, seed=0)
    assert len(pick) == 20 and pick == sorted(set(pick))
    counts = [sum(lo <= n_boxes[i] <= hi for i in pick) for lo, hi in S.STRATA]
    assert counts == [2, 12, 4, 2]  # proportional to 10:60:20:10
    assert pick == S.sample_images(names, n_boxes, 20, seed=0)
    assert pick != S.sample_images(names, n_boxes, 20, seed=1)
    # the order of the input does not change which images are chosen
    rev = S.sample_images(names[::-1], n_boxes[::-1], 20, seed=0)
    assert sorted(names[::-1][i] for i in rev) == sorted(names[i] for i in pick)
    assert S.sample_images(names, n_boxes, 500) == list(range(100))


def test_shown_keeps_confident_detections_and_at_least_the_best():
    p = DetectionPanel(np.zeros((4, 4)), np.array([0.1, 0.9, 0.05, 0.4]), np.zeros(4, int))
    assert shown(p, 0.3, 1).tolist() == [1, 3]
    assert shown(p, 0.95, 1).tolist() == [1]
    assert shown(p, 0.95, 2).tolist() == [1, 3]
    truth = DetectionPanel(np.zeros((2, 4)), None, np.zeros(2, int))
    assert shown(truth, 0.3, 1).tolist() == [0, 1]


def test_detections_figure_draws_one_rectangle_per_shown_box():
    img = np.zeros((64, 64, 3), np.uint8)
    gt = DetectionPanel(np.array([[4, 4, 30, 30], [30, 30, 60, 50.0]]), None, np.array([0, 1]))
    d = DetectionPanel(np.array([[5, 5, 29, 31], [0, 0, 10, 10.0]]), np.array([0.8, 0.1]), np.array([0, 1]))
    rows = [DetectionRow(img, (48, 64), "a.jpg", {"ground truth": gt, "net": d}),
            DetectionRow(img, (64, 64), "b.jpg", {"ground truth": gt, "net": d})]
    fig = detections_figure(rows, ["cat", "dog"])
    axes = fig.axes
    assert len(axes) == 4
    assert [len(ax.patches) for ax in axes] == [2, 1, 2, 1]
    assert axes[1].texts[0].get_text() == "cat 0.80"
    assert axes[0].get_ylim() == (48.0, 0.0)  # letterbox padding cropped


def test_probe_images_puts_normalised_boxes_into_input_pixels():
    from bbselect.inputs.boxmodel import Box

    boxes = {"a.jpg": [Box(0.1, 0.2, 0.5, 0.6, "dog"), Box(0.0, 0.0, 1.0, 1.0, "cat")]}
    pi = S.probe_images(["a.jpg", "b.jpg"], boxes, {"a.jpg": (200, 100), "b.jpg": (50, 50)},
                        {"a.jpg": (32, 64), "b.jpg": (64, 64)}, 64, {"a.jpg": "x", "b.jpg": "x"})
    assert pi.class_names == ["cat", "dog"]
    assert np.allclose(pi.boxes[0], [[6.4, 6.4, 32.0, 19.2], [0, 0, 64, 32]])
    assert pi.classes[0].tolist() == [1, 0] and pi.boxes[1].shape == (0, 4)
    assert pi.groups == ["x", "x"] and pi.geoms[0].width == 200


def test_feature_tensors_keep_their_values_at_any_scale(tmp_path):
    """float16 only where it holds the values: a random-init net's ~1e-16 activations underflowed to 0
    (every cheap box score became n/a), and values above 6.5e4 would overflow."""
    from bbselect.store.features import FeatureJob
    from bbselect.store import mapfiles

    job = FeatureJob({"a", "b", "c"}, tmp_path)
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 1.0, size=(4, 4, 8)).astype(np.float32)
    for name, scale in (("a", 1e-16), ("b", 1.0), ("c", 1e6)):
        job.save(name, base * scale, (4, 4), None)
        got = mapfiles.load_maps(tmp_path / f"{name}.npz")["features"].astype(np.float64)
        np.testing.assert_allclose(got, base * scale, rtol=1e-3)  # float16 keeps ~3 digits
    assert mapfiles.load_maps(tmp_path / "b.npz")["features"].dtype == np.float16  # the ordinary case halves
