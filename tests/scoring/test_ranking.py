"""Ranking: order by separation, ties from overlapping CIs, degenerate backbones last and named."""

import math

from bbselect.scoring import ranking
from bbselect.scoring.mapscores import MapScores


def _b(label, mean, lo, hi, gflops=1.0, degenerate=0):
    return {"label": label, "layer": "x", "stage": "c5", "cost": {"gflops": gflops},
            "separation": {"mean": mean, "lo": lo, "hi": hi, "n": 5},
            "degenerate": {"max": degenerate, "mean": 0}}


def test_separation_skips_degenerate_maps():
    nan = float("nan")
    per = {"max": MapScores(nan, nan, nan, "constant map (all 6)"), "mean": MapScores(0.6, 0.2, 0.1, None)}
    assert ranking.separation(per) == (0.6 + 0.2 + 0.1) / 3
    assert math.isnan(ranking.separation({"max": MapScores(nan, nan, nan, "x")}))


def test_rank_orders_marks_ties_and_puts_unscorable_last():
    a, b, c, d = _b("a", 0.5, 0.45, 0.55), _b("b", 0.4, 0.30, 0.46), _b("c", 0.2, 0.1, 0.25), _b("d", None, None, None)
    ordered = ranking.rank([c, d, b, a])
    assert [x["label"] for x in ordered] == ["a", "b", "c", "d"]
    assert [x["rank"] for x in ordered] == [1, 2, 3, 4]
    assert a["tied_with"] == ["b"] and b["tied_with"] == ["a"] and c["tied_with"] == [] and d["tied_with"] == []


def test_verdict_names_leader_ties_costs_limits_and_random_weights():
    ordered = ranking.rank([_b("big", 0.5, 0.45, 0.55, gflops=30), _b("small", 0.4, 0.30, 0.46, gflops=0.6),
                            _b("dead", None, None, None)])
    text = ranking.verdict(ordered, 8, random_weights=True)
    assert text.startswith("RANDOM WEIGHTS")
    assert "big" in text and "treat them as tied" in text
    assert "50.0× fewer GFLOPs" in text  # 30 / 0.6
    assert "dead could not be ranked" in text
    assert "cannot tell" in text and "docs/validation.md" in text


def test_verdict_flags_mostly_dead_backbones():
    b = _b("deadnet", 0.5, 0.4, 0.6)
    b["channels_stats"] = {"dead_fraction": 0.9}
    text = ranking.verdict(ranking.rank([b, _b("ok", 0.3, 0.2, 0.35)]), 5, random_weights=False)
    assert "deadnet has 90% channels that never fire" in text and "ok has" not in text


def test_the_verdict_writes_gflops_as_the_headline_and_tables_do():
    """Small backbones read "0.0131 vs 0.015" (the reports' GFLOPs format), not "0.01 vs 0.01" as the
    verdict wrote them with its own two decimals."""
    from bbselect.reports.formats import FORMATS

    ordered = ranking.rank([_b("big", 0.5, 0.45, 0.55, gflops=0.015), _b("small", 0.4, 0.30, 0.46, gflops=0.0131)])
    text = ranking.verdict(ordered, 8, random_weights=False)
    assert f"({FORMATS['gflops'](0.0131)} vs {FORMATS['gflops'](0.015)})" in text
    assert "(0.0131 vs 0.015)" in text
