"""One real run (class folders, two MobileNet stages, random weights, 64 px) checked for the numbers
and the first screen that issue 12 found wrong: params of the layers run, repeated timing, figures
stratified by class, no duplicate sum sheet, the headline, the terminal table, GFLOPs as the cost."""

import json

import pytest
from click.testing import CliRunner
from conftest import make_images

from bbselect.cli import main

BACKBONES = ["-b", "mobilenet:alpha=0.25", "-b", "mobilenet:alpha=0.25,layer=c4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("first")
    for cls in ("cardboard", "glass"):  # path order puts every cardboard image first
        make_images(root / "ds" / cls, n=3)
    res = CliRunner().invoke(main, ["compare", str(root / "ds"), "-o", str(root / "r"), "--name", "x", *BACKBONES,
                                    "--layer", "c3", "--weights", "none", "--input-size", "64", "--batch-size", "2",
                                    "--figures", "2", "--cache-dir", str(root / "cache")])
    assert res.exit_code == 0, res.output
    d = root / "r" / "x"
    return {"dir": d, "stdout": res.stdout, "scores": json.loads((d / "scores.json").read_text()),
            "run": json.loads((d / "run.json").read_text()), "html": (d / "report.html").read_text()}


def test_params_count_the_layers_the_extractor_runs(run):
    import keras

    by = {b["label"]: b for b in run["scores"]["backbones"]}
    c3 = by["mobilenet:alpha=0.25"]
    # independent count: MobileNet v1 is a chain, so the layers up to the chosen one are a prefix
    model = keras.applications.MobileNet(alpha=0.25, weights=None, include_top=False, input_shape=(64, 64, 3))
    names = [layer.name for layer in model.layers]
    expected = sum(layer.count_params() for layer in model.layers[: names.index(c3["layer"]) + 1])
    assert c3["cost"]["params"] == expected == 10_864  # the figure; the whole backbone has 218,544
    assert by["mobilenet:alpha=0.25,layer=c4"]["cost"]["params"] > expected
    assert c3["cost"]["gflops"] < by["mobilenet:alpha=0.25,layer=c4"]["cost"]["gflops"]


def test_speed_is_the_median_of_the_runs_own_forward_passes_with_its_spread(run):
    for label, t in run["run"]["timing"]["backbones"].items():
        # 6 images, one forward pass each, every one timed: already k = 5 or more, so no synthetic
        # top-up passes (there were 3 timed batches of 2, topped up to 5, before issue 25)
        assert t["timed_batches"] == 6, label
        assert t["ms_lo"] <= t["ms_per_image"] <= t["ms_hi"]


def test_figures_are_sampled_across_classes_and_no_sum_sheet(run):
    drawn = [im for im in run["scores"]["images"] if im.get("figure")]
    assert sorted(im["class"] for im in drawn) == ["cardboard", "glass"]
    sheets = run["scores"]["figures"]["contact_sheets"]
    assert sorted(sheets) == ["max", "mean"] and not (run["dir"] / "figures" / "contact_sum.png").exists()
    assert "No contact sheet for the channel-sum map: it is C × the mean map" in run["html"]
    rep = run["scores"]["figures"]["representative"]
    assert rep["path"] in {im["figure"] for im in drawn}


def test_first_screen_order_headline_chart_figure_then_the_rest(run):
    html = run["html"]
    pos = [html.index(x) for x in ('id="headline"', "figures/overview.png", run["scores"]["figures"]["representative"]["path"],
                                   "<h2>Ranking</h2>", "<summary>Run facts")]
    assert pos == sorted(pos)
    # class folders: the evidence is linear-probe accuracy, whose chance (the largest class) is drawn
    assert "Recommended:" in html and "linear-probe accuracy" in html and "Dashed line: what chance scores" in html
    assert "GFLOPs per image at 64 px" in html


def test_pareto_set_is_by_gflops_and_deterministic(run):
    s = run["scores"]
    assert "pareto" in s and "pareto" not in s["timing"]
    best = min(s["backbones"], key=lambda b: b["cost"]["gflops"])
    assert best["label"] in s["pareto"]  # the cheapest is never dominated on cost


def test_text_mode_ends_with_the_ranking_table_and_the_report_path(run):
    out = run["stdout"]
    assert "Recommended:" in out or "No recommendation" in out
    assert "GFLOPs" in out and "ms/image" in out and "linear-probe accuracy" in out
    assert f"report: {run['dir'] / 'report.html'}" in out.replace("\n", "")
    assert out.count("mobilenet:alpha=0.25") >= 2
