"""The score registry is the one list of scores: everything that names scores reads it."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from bbselect.common import fmt_value
from bbselect.config.schema import CompareConfig
from bbselect.errors import UsageError
from bbselect.runs.pipeline import compare
from bbselect.reports import content, machine
from bbselect.scoring import gates, mapscores, registry
from bbselect.scoring.registry import ScoreSpec


def test_every_spec_is_complete():
    specs = registry.specs()
    assert len(specs) >= 14
    for s in specs:
        assert s.tier in registry.TIERS
        assert s.doc and s.title and s.path, s.name
        lo, hi = s.range
        assert lo is None or hi is None or lo < hi, s.name


def test_csv_header_reports_and_gates_read_the_registry():
    shape = registry.map_score_names()
    assert shape == ("otsu", "top10_mass", "concentration")  # the three shape scores of scoring/mapscores.py
    whole = ("det_gain50", "det_map", "det_map50", "box_auroc", "objectness", "objectness_gain", "roi_logme",
             "roi_logme_cls", "roi_logme_reg", "tlogme",  # every backbone-level score: tier, then name
             "knn", "linear_probe", "logme", "augmentation_retrieval", "separation", "stability",
             "dead_fraction", "effective_rank", "effective_rank_fraction")
    assert machine.csv_header() == ["image", "backbone", "layer", "aggregation", *shape, "degenerate", *whole]
    assert content.SCORE_NAMES == shape == mapscores.SCORE_NAMES
    metrics = registry.gate_metrics()
    for s in registry.specs(per_map=False):
        assert s.name in metrics
    assert {f"{m}.{n}" for m in registry.SCORED_MAPS for n in shape} <= set(metrics)
    assert set(mapscores.SCORE_DOCS) == set(shape)


def test_value_follows_each_spec_path():
    entry = {
        "primary": {"mean": 0.9},
        "separation": {"mean": 0.3, "lo": 0.2, "hi": 0.4},
        "labels": {"linear_probe": {"mean": 0.8}, "knn": {"mean": 0.7}, "logme": -0.5},
        "boxes": {"auroc": {"mean": 0.65}},
        "channels_stats": {"effective_rank": 12.0, "effective_rank_fraction": 0.5, "dead_fraction": 0.1},
        "scores": {"max": {"otsu": {"mean": 0.11}}, "mean": {"concentration": {"mean": 0.22}}},
    }
    expected = {"primary": 0.9, "separation": 0.3, "linear_probe": 0.8, "knn": 0.7, "logme": -0.5,
                "box_auroc": 0.65, "effective_rank": 12.0, "effective_rank_fraction": 0.5,
                "dead_fraction": 0.1, "max.otsu": 0.11, "mean.concentration": 0.22}
    for metric, want in expected.items():
        assert registry.value(entry, metric) == want, metric
    assert math.isnan(registry.value(entry, "max.concentration"))  # absent -> NaN, not an error
    assert math.isnan(registry.value({}, "separation"))


def test_unknown_names_get_a_did_you_mean():
    with pytest.raises(UsageError, match="did you mean 'separation'"):
        registry.get("seperation")
    with pytest.raises(UsageError, match="did you mean 'max.otsu'"):
        gates.parse_fail_under(["max.otsuu=0.2"])


def test_adding_a_score_is_one_registry_entry(monkeypatch):
    """A new shape score registered beside its function reaches score_map, the CSV columns, the docs,
    the gate metrics and the chart caption, with no other edit."""
    monkeypatch.setattr(registry, "_SCORES", dict(registry._SCORES))
    registry.register(ScoreSpec(name="peak", title="peak share", tier="map", per_map=True, range=(0.0, 1.0),
                                path=("scores", "{map}", "peak"), fn=lambda m: float(np.max(m) / np.sum(m)),
                                doc="Share of the map's total in its brightest pixel."))
    m = np.arange(1.0, 17.0).reshape(4, 4)
    scored = mapscores.score_map(m)
    assert scored.peak == pytest.approx(16.0 / 136.0)
    assert list(scored._asdict()) == ["otsu", "top10_mass", "concentration", "peak", "degenerate"]
    assert "peak" in registry.map_score_names() and "max.peak" in registry.gate_metrics()
    assert registry.docs()["peak"].startswith("Share")
    assert "peak" in registry.axis_label("separation")
    assert math.isnan(mapscores.score_map(np.ones((4, 4))).peak)  # degenerate map: NaN, never 0


def test_registering_a_different_spec_under_a_taken_name_fails(monkeypatch):
    monkeypatch.setattr(registry, "_SCORES", dict(registry._SCORES))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(ScoreSpec(name="otsu", title="x", tier="map", path=("x",), doc="x"))
    with pytest.raises(ValueError, match="tier"):
        ScoreSpec(name="y", title="y", tier="nonsense", path=("y",), doc="y")


def test_chart_caption_names_the_metric_that_ranked():
    assert registry.axis_label("separation") == "separation: mean of otsu, top10_mass, concentration (95% bootstrap CI)"
    assert registry.axis_label("linear-probe accuracy") == "linear-probe accuracy (mean, 95% interval)"


def _entry(dead: float) -> dict:
    return {"label": "net", "tied_with": [], "channels_stats": {"dead_fraction": dead},
            "primary": {"metric": "x", "mean": 0.5, "higher_is_better": True}}


@pytest.mark.parametrize("dead, passes", [(0.3, False), (0.1, True), (0.02, True)])
def test_fail_under_honours_a_lower_is_better_score(dead, passes):
    """dead_fraction is registered lower-is-better: ``--fail-under dead_fraction=0.1`` must fail when more
    than 10 % of the picked backbone's channels are dead (it used to pass: the gate tested got >= threshold)."""
    assert registry.get("dead_fraction").higher_is_better is False
    (result,) = gates.evaluate([_entry(dead)], gates.parse_fail_under(["dead_fraction=0.1"]), None)
    assert result["passed"] is passes


def test_ranking_honours_the_primary_scores_direction():
    from bbselect.scoring import ranking

    def b(label, mean, higher):
        return {"label": label, "primary": {"mean": mean, "lo": mean, "hi": mean, "higher_is_better": higher}}

    up = [b["label"] for b in ranking.rank([b("a", 0.2, True), b("b", 0.9, True)])]
    down = [b["label"] for b in ranking.rank([b("a", 0.2, False), b("b", 0.9, False)])]
    assert up == ["b", "a"] and down == ["a", "b"]


# ---------------------------------------------------------------- adding a backbone-level score: the docs' example

def _docs_example() -> str:
    page = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- add-a-score:begin -->\n```python\n(.*?)```\n<!-- add-a-score:end -->", page, re.S)
    assert m, "docs/architecture.md lost its worked example"
    return m.group(1)


def test_the_worked_example_in_the_docs_reaches_every_output(monkeypatch, tmp_path, image_folder):
    """The module shown in docs/architecture.md, run as it is, computes its section in a real run
    (checked against norms computed here from the maps files) and reaches the CSV, --format json,
    the gates with their direction and the registry's listing of what it needs; no other edit."""
    monkeypatch.setattr(registry, "_SCORES", dict(registry._SCORES))
    exec(compile(_docs_example(), "feature_norm.py", "exec"), {"__name__": "feature_norm"})
    spec = registry.get("feature_norm")
    assert spec in registry.sections() and registry.enabled_by(spec) == ()
    cfg = CompareConfig(images=str(image_folder), backbones=["mobilenet:alpha=0.25,layer=c3"], weights="none",
                        input_size=32, output=str(tmp_path / "out"), figures="none", stability="off")
    run = compare(cfg, quiet=True)
    summary = json.loads((run.run_dir / "scores.json").read_text())
    (entry,) = summary["backbones"]
    gaps = [np.load(p)["gap"] for p in sorted((run.run_dir / "maps").glob("*/*.npz"))]
    want = np.mean([np.sqrt(np.sum(np.square(g.astype(np.float64)))) for g in gaps])
    assert len(gaps) == 3 and entry["feature_norm"]["mean"] == pytest.approx(want, rel=1e-5)
    header, rows = machine.csv_rows(summary)
    col = header.index("feature_norm")
    assert all(r[col] == pytest.approx(want, rel=1e-5) for r in rows)
    ci = machine.ci_summary(summary, str(run.run_dir), 0)
    assert ci["ranking"][0]["backbone_scores"]["feature_norm"] == pytest.approx(want, rel=1e-5)
    shown = fmt_value(entry["feature_norm"]["mean"])  # the reports' one number format
    for page in ("report.md", "report.html"):
        text = (run.run_dir / page).read_text(encoding="utf-8")
        assert "feature norm" in text and shown in text[text.index("feature norm"):], page
    assert "feature_norm" in registry.gate_metrics()
    (above,) = gates.evaluate([entry], gates.parse_fail_under([f"feature_norm={want * 0.9}"]), None)
    (below,) = gates.evaluate([entry], gates.parse_fail_under([f"feature_norm={want * 1.1}"]), None)
    assert above["passed"] and not below["passed"]


def test_a_section_whose_needs_are_missing_is_not_computed(monkeypatch, tmp_path, image_folder):
    """A score that needs labels is left out of a run without labels, and its compute is never called."""
    monkeypatch.setattr(registry, "_SCORES", dict(registry._SCORES))
    called = []
    registry.register(ScoreSpec(name="needs_labels", title="x", tier="labels", path=("needs_labels",),
                                needs=("labels",), compute=lambda inputs: called.append(1) or {"mean": 1.0},
                                doc="x"))
    assert registry.enabled_by(registry.get("needs_labels")) == ("labels",)
    cfg = CompareConfig(images=str(image_folder), backbones=["mobilenet:alpha=0.25,layer=c3"], weights="none",
                        input_size=32, output=str(tmp_path / "out"), figures="none", stability="off")
    summary = json.loads((compare(cfg, quiet=True).run_dir / "scores.json").read_text())
    assert called == [] and "needs_labels" not in summary["backbones"][0]


def test_every_kind_is_a_number_format_of_the_reports():
    from bbselect.reports.formats import FORMATS

    assert {s.kind for s in registry.specs()} <= set(FORMATS)


def test_needs_name_settings_that_exist_and_every_section_has_one_compute():
    from dataclasses import fields

    from bbselect.config.schema import CompareConfig as Cfg

    keys = {f.name for f in fields(Cfg)}
    assert all(setting in keys for setting, _ in registry.NEEDS.values() if setting)
    for spec in registry.specs():
        owner = next(s for s in registry.sections() if s.path[0] == spec.path[0]) if spec.compute else None
        assert owner is None or owner.compute is spec.compute, spec.name
    with pytest.raises(ValueError, match="needs"):
        ScoreSpec(name="z", title="z", tier="health", path=("z",), needs=("telepathy",), doc="z")


def test_the_registry_order_is_the_same_whatever_was_imported_first():
    """specs() (and so the gate list, docs tables, sections) once followed import order: docs/ci.md's table
    generated in one process differed from the one the test suite computed."""
    import subprocess
    import sys

    code = "{}\nfrom bbselect.scoring import registry\nprint([s.name for s in registry.specs()])"
    root = str(Path(__file__).resolve().parents[2])
    outs = {subprocess.run([sys.executable, "-c", code.format(first)], capture_output=True, text=True, check=True,
                           cwd=root).stdout
            for first in ("", "import bbselect.scoring.ranking", "import bbselect.scoring.stability_summary",
                          "import bbselect.scoring.roiscores")}
    assert len(outs) == 1, outs
