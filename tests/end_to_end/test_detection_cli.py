"""The detection probe inside ``bbselect compare`` (issue 10): boxes found, probe run in the same pass,
its numbers in scores.json / probe.json / the reports, the verdict naming it, the figure drawn."""

import csv
import html
import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bbselect.cli import main
from bbselect.inputs.boxmodel import Box
from bbselect.inputs.images import image_id
from bbselect.probes import objectness, roilogme
from bbselect.scoring import registry
from bbselect.scoring.boxscores import box_mask
from bbselect.store import mapfiles

ONE = ["-b", "mobilenetv2:layer=c3", "--weights", "none", "--input-size", "64", "--batch-size", "4",
       "--figures", "1"]


def squares(folder, n=12, unlabelled=2):
    folder.mkdir(parents=True)
    for i in range(n + unlabelled):
        arr = np.full((64, 64, 3), 30, np.uint8)
        x, y = 4 * (i % 8), 3 * (i % 10)
        arr[y:y + 24, x:x + 24] = 250
        Image.fromarray(arr).save(folder / f"d{i:02d}.png")
        if i < n:
            (folder / f"d{i:02d}.txt").write_text(f"0 {(x + 12) / 64} {(y + 12) / 64} {24 / 64} {24 / 64}\n")
    return folder


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    """One ``compare --probe detection`` run on the squares, shared by the tests that read it."""
    tmp = tmp_path_factory.mktemp("probe")
    folder = squares(tmp / "sq")
    out = tmp / "r"
    res = CliRunner().invoke(main, ["compare", str(folder), "-o", str(out), "--probe", "detection", *ONE])
    return res, folder, out


def test_probe_runs_in_compare_and_ranks(probe_run):
    res, _folder, out = probe_run
    assert res.exit_code == 0, res.output
    assert "boxes: YOLO: annotation files beside the images; 12 of 14 images have annotations" in res.output
    assert "detection probe: all 14 annotated images" in res.output  # YOLO: no label file = no objects
    run = out / "sq"
    probe = json.loads((run / "probe.json").read_text())
    s = json.loads((run / "scores.json").read_text())
    b = s["backbones"][0]
    assert s["evidence"]["evidence"] == "detection" and b["primary"]["metric"] == "detection-probe mAP@0.5"
    m = registry.value(b, "det_map50")
    assert 0.0 <= m <= 1.0 and m == probe["backbones"][b["label"]]["map50"]
    assert b["detection"]["resolvable"] == 12 and b["detection"]["n_boxes"] == 12  # 24 px boxes, stride 8
    assert "detection probe" in s["verdict"] and "box prior" in s["verdict"]
    assert (run / probe["figure"]).is_file() and (run / "features").is_dir()
    md = (run / "report.md").read_text()
    assert "## Detection probe" in md and "detections.png" in md and "box prior (8x8)" in md
    assert "Detection probe" in (run / "report.html").read_text()


def test_probe_detection_without_boxes_is_a_usage_error(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(folder / f"p{i}.png")
    res = CliRunner().invoke(main, ["compare", str(folder), "-o", str(tmp_path / "r"), "--probe", "detection", *ONE])
    assert res.exit_code == 2 and "no box annotations found" in res.output
    assert not (tmp_path / "r").exists()  # failed before any run folder was made


def test_cheap_box_scores_in_the_run_are_the_probe_functions_on_the_saved_features(probe_run):
    """ROI-LogME / TLogME / objectness: computed once in the run, the same value in probe.json, scores.json,
    the CSV and both reports, equal to calling the probe functions on the saved feature tensors, and
    unchanged when ``bbselect report`` re-renders the run."""
    res, _folder, out = probe_run
    assert res.exit_code == 0, res.output
    run = out / "sq"
    s = json.loads((run / "scores.json").read_text())
    b = s["backbones"][0]
    label = b["label"]
    stored = json.loads((run / "probe.json").read_text())["roi"][label]
    # independently: the saved tensors (12 annotated images, 8x8 maps of a stretched 64-px input)
    # the squares' own boxes (as drawn by ``squares``), not the run's parsed ones
    boxes = {f"d{i:02d}.png": [Box(4 * (i % 8) / 64, 3 * (i % 10) / 64, (4 * (i % 8) + 24) / 64,
                                   (3 * (i % 10) + 24) / 64, "0")] for i in range(12)}
    rels = sorted(boxes)
    fdir = next((run / "features").iterdir())
    feats = [mapfiles.load_maps(fdir / f"{image_id(r)}.npz")["features"].astype(np.float32) for r in rels]
    roi = roilogme.roi_scores(roilogme.collect([(f, boxes[r], 64, (64, 64)) for f, r in zip(feats, rels)], seed=0))
    obj = objectness.objectness_probe(feats, [box_mask(f.shape[:2], boxes[r]) for f, r in zip(feats, rels)], seed=0)
    want = {"roi_logme": roi["roi_logme"], "tlogme": roi["tlogme"], "objectness": obj["auroc"],
            "objectness_gain": obj["gain"]}
    for name, v in want.items():
        assert math.isfinite(v), name
        assert stored[name] == pytest.approx(v, rel=1e-6) and registry.value(b, name) == stored[name], name
    assert math.isnan(registry.value(b, "roi_logme_cls"))  # one class: n/a with its reason, never 0
    with open(run / "scores.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {float(r["roi_logme"]) for r in rows} == {stored["roi_logme"]} and {r["roi_logme_cls"] for r in rows} == {""}
    assert {float(r["det_map50"]) for r in rows} == {registry.value(b, "det_map50")}
    md, page = (run / "report.md").read_text(), html.unescape((run / "report.html").read_text())
    for text in (md, page):
        assert "Cheap box-aware scores" in text and f"{stored['roi_logme']:.3f}" in text
        assert f"{stored['objectness']:.3f}" in text and "n/a (fewer than two object classes" in text
    assert "detection probe" in s["verdict"]  # they describe; the probe ranks
    shutil.rmtree(run / "features")  # re-rendering reads probe.json; it cannot recompute
    again = CliRunner().invoke(main, ["report", str(run), "--figures", "none"])
    assert again.exit_code == 0, again.output
    b2 = json.loads((run / "scores.json").read_text())["backbones"][0]
    assert b2["roi"] == b["roi"]


def test_probe_cheap_trains_no_head_and_ranks_only_by_a_supported_box_score(tmp_path, monkeypatch):
    """--probe cheap: the tensors are kept and the cheap box scores computed (the same values as the full
    probe run on the same images), no head is trained, and the verdict ranks by the box score the
    validation study supports — or, when it supports none, says so and does not rank by boxes."""
    from bbselect.scoring import validated

    folder = squares(tmp_path / "sq")
    args = ["compare", str(folder), "--probe", "cheap", "-b", "mobilenetv2:layer=c3", "-b", "mobilenetv2:layer=c4",
            *ONE[2:]]
    monkeypatch.setattr(validated, "load", lambda: {})  # no study: no box score is supported
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "none")])
    assert res.exit_code == 0, res.output
    assert "no detection head" in res.output and "mAP@0.5" not in res.output
    run = tmp_path / "none" / "sq"
    probe = json.loads((run / "probe.json").read_text())
    assert probe["trained"] is False and probe["backbones"] == {} and probe["figure"] is None
    s = json.loads((run / "scores.json").read_text())
    assert s["detection"] is None and s["evidence"]["evidence"] != "detection"
    assert all(math.isfinite(registry.value(b, "objectness")) for b in s["backbones"])
    assert "no cheap box score is supported" in s["evidence"]["note"]
    assert "Detection probe (ground truth" not in (run / "report.html").read_text()
    # a study that supports the objectness probe: it ranks, and the verdict names it with its tau
    monkeypatch.setattr(validated, "load", lambda: {"boxes": {"scores": {
        "objectness": {"supported": True, "tau": {"raccoon": 0.71}}}}})
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "sup")])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "sup" / "sq" / "scores.json").read_text())
    assert s["evidence"]["evidence"] == "boxes" and s["evidence"]["metric"] == "objectness-probe AUROC"
    assert "τ = 0.71 on raccoon" in s["evidence"]["why"]
    ranked = [b["label"] for b in s["backbones"]]
    by_value = sorted(s["backbones"], key=lambda b: -registry.value(b, "objectness"))
    assert ranked[0] == by_value[0]["label"]
    assert "nan" not in s["verdict"] and "bootstrap interval over images" in s["verdict"] and "--probe detection measures" in s["verdict"]
