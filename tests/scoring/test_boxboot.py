"""Cheap box scores get a bootstrap interval over images and paired ties (issue 22: a 0.001 AUROC
difference called 'no tie' while the detection probe found the other layer twice as good)."""

import numpy as np

from bbselect.scoring import roiscores


def scene(n=24, signal=2.0, seed=0):
    """Maps [8, 8, 6] with a box whose cells carry ``signal`` in channel 0 (plus noise)."""
    from bbselect.inputs.boxmodel import Box

    rng = np.random.default_rng(seed)
    feats, boxes, valid = [], [], []
    for _ in range(n):
        f = rng.normal(0, 1, (8, 8, 6)).astype(np.float32)
        x, y = rng.integers(0, 5, 2)
        f[y:y + 3, x:x + 3, 0] += signal
        feats.append(f)
        boxes.append([Box(x / 8, y / 8, (x + 3) / 8, (y + 3) / 8, "thing")])
        valid.append((64, 64))
    return feats, valid, boxes


def entries_for(*scores):
    return [{"label": lb, roiscores.KEY: s, "primary": {"mean": s["objectness"]}} for lb, s in scores]


def test_objectness_gets_an_interval_and_near_equal_backbones_tie():
    f, v, b = scene()
    a = roiscores.backbone_scores(f, v, b, 64, seed=0)
    same = roiscores.backbone_scores([x + np.float32(1e-3) * np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
                                      for x in f], v, b, 64, seed=0)
    es = entries_for(("a", a), ("b", same))
    roiscores.add_intervals(es, "objectness")
    p = es[0]["primary"]
    assert p["lo"] < a["objectness"] < p["hi"] and p["hi"] - p["lo"] > 0.005
    assert p["paired"]["b"]["tied"] and es[1]["primary"]["paired"]["a"]["tied"]


def test_a_clearly_better_backbone_is_not_tied():
    f, v, b = scene(signal=3.0)
    weak = scene(signal=0.3)[0]
    es = entries_for(("strong", roiscores.backbone_scores(f, v, b, 64, seed=0)),
                     ("weak", roiscores.backbone_scores(weak, v, b, 64, seed=0)))
    roiscores.add_intervals(es, "objectness")
    assert es[0]["primary"]["paired"]["weak"]["tied"] is False
    assert es[0]["primary"]["paired"]["weak"]["lo"] > 0
    roiscores.add_intervals(es, "roi_logme")  # ROI-LogME's replicates refit LogME per resample
    assert len(es[0][roiscores.KEY]["boot"]["roi_logme"]) == roiscores.N_BOOT["roi_logme"]
