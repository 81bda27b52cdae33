"""The detection probe inside ``bbselect compare`` (issue 10): boxes found, probe run in the same pass,
its numbers in scores.json / probe.json / the reports, the verdict naming it, the figure drawn."""

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from bbselect.cli import main
from bbselect.scoring import registry

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


def test_probe_runs_in_compare_and_ranks(tmp_path):
    folder = squares(tmp_path / "sq")
    out = tmp_path / "r"
    res = CliRunner().invoke(main, ["compare", str(folder), "-o", str(out), "--probe", "detection", *ONE])
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
