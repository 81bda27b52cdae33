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
