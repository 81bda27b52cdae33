"""The detection-probe verdict (scoring/detection.py) on hand-made probe results."""

from bbselect.scoring.detection import probe_ranking


def entry(m, ci, gain, gain_ci, tied, diff, diff_ci, best="a"):
    return {"map50": m, "map50_ci": ci, "gain50": gain, "gain50_ci": gain_ci, "beats_prior": gain_ci[0] > 0,
            "prior": "7x7", "vs_best": {"best": best, "diff": diff, "ci": diff_ci, "tied": tied}}


def probe(backbones, prior=0.40):
    return {"backbones": backbones, "priors": {"7x7": {"map50": prior, "map50_ci": (0.33, 0.49)}},
            "folds": 5, "n_images": 200}


def test_tie_is_paired_and_cheapest_in_tie_is_named():
    p = probe({"a": entry(0.64, (0.57, 0.71), 0.24, (0.12, 0.33), True, 0.0, (0.0, 0.0)),
               "b": entry(0.59, (0.50, 0.68), 0.19, (0.08, 0.28), True, 0.05, (-0.05, 0.14)),
               "c": entry(0.41, (0.33, 0.51), 0.01, (-0.04, 0.06), False, 0.23, (0.12, 0.31))})
    r = probe_ranking(p, {"a": 2.0, "b": 0.5, "c": 0.1})
    assert r["order"] == ["a", "b", "c"] and r["tied"] == ["a", "b"]
    assert r["cheapest"] == "b"  # c is cheaper but not in the tie
    assert r["beats_prior"] == ["a", "b"]
    s = r["sentence"]
    assert "detection probe" in s and "0.640 [0.570, 0.710]" in s
    assert "+0.050 [-0.050, 0.140]" in s and "cheapest within the tie: b" in s.lower() and "0.400" in s


def test_overlapping_marginal_intervals_are_not_a_tie_when_the_paired_test_separates():
    p = probe({"a": entry(0.64, (0.55, 0.72), 0.2, (0.1, 0.3), True, 0.0, (0.0, 0.0)),
               "b": entry(0.60, (0.52, 0.69), 0.2, (0.1, 0.3), False, 0.04, (0.01, 0.07))})
    r = probe_ranking(p, {"a": 2.0, "b": 0.5})
    assert r["tied"] == ["a"] and r["cheapest"] == "a" and "excludes 0" in r["sentence"]


def test_no_backbone_above_the_prior_is_said_plainly():
    p = probe({"a": entry(0.42, (0.33, 0.5), 0.02, (-0.03, 0.07), True, 0.0, (0.0, 0.0))})
    r = probe_ranking(p, {"a": 1.0})
    assert r["beats_prior"] == [] and "no backbone beats it" in r["sentence"]


def test_a_probe_at_its_floor_is_said_to_be_noise_in_the_verdict_and_the_headline():
    from bbselect.reports import headline as hl
    from bbselect.scoring import detection

    floor = probe({"a": entry(0.004, (0.0, 0.01), 0.004, (0.0, 0.01), True, 0.0, (0.0, 0.0)),
                   "b": entry(0.001, (0.0, 0.005), 0.001, (0.0, 0.005), True, 0.003, (-0.001, 0.008))}, prior=0.0)
    ok = probe({"a": entry(0.30, (0.2, 0.4), 0.1, (0.05, 0.15), True, 0.0, (0.0, 0.0))})
    assert detection.at_floor(floor) and not detection.at_floor(ok)
    for p in (floor, ok):
        for b in p["backbones"].values():
            b.update(resolvable=10, n_boxes=10)
    ordered = [{"label": "a", "cost": {"gflops": 1.0}}, {"label": "b", "cost": {"gflops": 2.0}}]
    v = detection.verdict(ordered, {**floor, "candidates": 2, "max_images": 500}, False)
    assert v.startswith("AT ITS FLOOR") and "best mAP@0.5 0.004 < 0.05" in v
    assert "AT ITS FLOOR" not in detection.verdict(ordered[:1], {**ok, "candidates": 1, "max_images": 500}, False)
    summary = {"run": {"n_images": 2}, "evidence": {"supported": False, "unsupported": detection.floor_sentence(floor)},
               "backbones": [{"label": "a", "rank": 1, "primary": {"metric": "detection-probe mAP@0.5", "mean": 0.004,
                                                                    "lo": 0.0, "hi": 0.01}, "tied_with": []}]}
    text = hl.headline_text(hl.headline(summary))
    assert "AT ITS FLOOR" in text and "UNVALIDATED" not in text
