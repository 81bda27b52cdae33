"""Label- and box-aware evidence through a whole run, the choice of ranking evidence, Pareto front."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bbselect.cli import main
from bbselect.scoring import evidence, ranking

FAST = ["-b", "mobilenetv2:layer=c3", "-b", "resnet50:layer=c3", "--weights", "none", "--input-size", "64",
        "--batch-size", "4", "-q"]


def _classes(folder, n=8):
    """Two visibly different classes: bright red images vs dark blue noise."""
    rng = np.random.default_rng(1)
    for i in range(n):
        (folder / "red").mkdir(parents=True, exist_ok=True)
        (folder / "blue").mkdir(parents=True, exist_ok=True)
        red = np.zeros((48, 48, 3), np.uint8)
        red[..., 0] = 200 + rng.integers(0, 50)
        Image.fromarray(red).save(folder / "red" / f"r{i}.png")
        blue = (rng.random((48, 48, 3)) * 80).astype(np.uint8)
        blue[..., 2] += 120
        Image.fromarray(blue).save(folder / "blue" / f"b{i}.png")


def test_class_folders_give_label_scores_and_rank_by_probe(tmp_path):
    _classes(tmp_path / "ds")
    out = tmp_path / "r"
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "ds"), "-o", str(out), "--figures", "2", *FAST])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "ds" / "scores.json").read_text())
    assert s["evidence"]["evidence"] == "labels" and s["evidence"]["classes"] == ["blue", "red"]
    for b in s["backbones"]:
        lab = b["labels"]
        assert lab["n"] == 16 and lab["n_classes"] == 2
        # trivially separable colours: even random features separate them far above chance (0.5)
        assert lab["linear_probe"]["mean"] >= 0.9 and lab["knn"]["mean"] >= 0.9
        assert math.isfinite(lab["logme"])
        assert b["primary"]["metric"] == "linear-probe accuracy" and b["primary"]["mean"] == lab["linear_probe"]["mean"]
    assert "Ranked by linear-probe accuracy" in s["verdict"]
    figs = s["figures"]
    assert set(figs["class_scatter"]) == {b["label"] for b in s["backbones"]}
    assert (out / "ds" / figs["overview_chart"]).exists()
    # --labels none turns it off and falls back to label-free
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "ds"), "-o", str(out), "--name", "nolab",
                                    "--labels", "none", "--figures", "none", *FAST])
    s = json.loads((out / "nolab" / "scores.json").read_text())
    assert s["evidence"]["evidence"] == "label-free" and "labels" not in s["backbones"][0]


SUPPORTS_BOX_AUROC = {"boxes": {"scores": {"box_auroc": {"supported": True,
                                                        "tau": {"raccoon": 0.5, "coco128": 0.4}}}}}


def test_yolo_boxes_give_box_scores_and_take_precedence(tmp_path, monkeypatch):
    # boxes rank only through a score the validation study supports: pretend it supports box AUROC
    from bbselect.scoring import validated

    monkeypatch.setattr(validated, "load", lambda: SUPPORTS_BOX_AUROC)
    folder = tmp_path / "det"
    folder.mkdir()
    for i in range(4):
        arr = np.full((64, 64, 3), 30, np.uint8)
        arr[8 * i: 8 * i + 24, 16:40] = 250  # a bright object; its box below
        Image.fromarray(arr).save(folder / f"d{i}.png")
        cx, cy = 28 / 64, (8 * i + 12) / 64
        (folder / f"d{i}.txt").write_text(f"0 {cx} {cy} {24 / 64} {24 / 64}\n")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(folder / "nobox.png")
    out = tmp_path / "r"
    res = CliRunner().invoke(main, ["compare", str(folder), "-o", str(out), "--figures", "1", "--probe", "none",
                                    *FAST])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "det" / "scores.json").read_text())
    ev = s["evidence"]
    assert ev["evidence"] == "boxes" and ev["boxes"]["format"] == "yolo"  # no probe: the box scores rank
    assert ev["boxes"]["images_with_boxes"] == 4 and ev["boxes"]["images_without"] == 1  # counted, not dropped
    for b in s["backbones"]:
        assert b["primary"]["metric"] == "box AUROC"
        assert 0.0 <= b["boxes"]["auroc"]["mean"] <= 1.0
        assert b["boxes"]["maps"]["mean"]["mass_ratio"]["n"] <= 4
    assert s["boxes"]["d0.png"] == [[pytest.approx(16 / 64), pytest.approx(0.0), pytest.approx(40 / 64),
                                     pytest.approx(24 / 64), "0"]]


def test_malformed_annotation_is_a_clear_error(tmp_path):
    folder = tmp_path / "det"
    folder.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "a.png")
    (folder / "a.txt").write_text("0 0.5 0.5 0.2\n")  # four numbers, YOLO needs five
    res = CliRunner().invoke(main, ["compare", str(folder), "-o", str(tmp_path / "r"), *FAST])
    assert res.exit_code == 2 and "a.txt" in res.output and "Traceback" not in res.output


def test_choose_primary_prefers_boxes_then_labels():
    def entry(sep, probe=None, auroc=None):
        e = {"separation": {"mean": sep, "lo": sep, "hi": sep}}
        if probe is not None:
            e["labels"] = {"linear_probe": {"mean": probe, "lo": probe, "hi": probe}}
        if auroc is not None:
            e["boxes"] = {"auroc": {"mean": auroc, "lo": auroc, "hi": auroc}}
        return e

    es = [entry(0.3), entry(0.5)]
    assert evidence.choose_primary(es)["evidence"] == "label-free" and es[1]["primary"]["mean"] == 0.5
    es = [entry(0.3, probe=0.9), entry(0.5, probe=0.6)]
    assert evidence.choose_primary(es)["evidence"] == "labels"
    assert [b["primary"]["mean"] for b in ranking.rank(es)] == [0.9, 0.6]  # ranked by probe, not separation
    es = [entry(0.3, probe=0.9, auroc=0.55), entry(0.5, probe=0.6, auroc=0.8)]
    assert evidence.choose_primary(es, SUPPORTS_BOX_AUROC)["evidence"] == "boxes"
    used = evidence.choose_primary(es, {})  # the study supports no box score: labels rank, and it says so
    assert used["evidence"] == "labels" and "no cheap box score is supported" in used["note"]


def test_pareto_front():
    def b(label, score, ms):
        return {"label": label, "primary": {"mean": score}, "ms": ms}

    bs = [b("fast-bad", 0.5, 1), b("slow-good", 0.9, 10), b("dominated", 0.6, 12), b("mid", 0.7, 5),
          b("no-speed", 0.99, None)]
    assert sorted(ranking.pareto_front(bs, lambda x: x["ms"])) == ["fast-bad", "mid", "slow-good"]
