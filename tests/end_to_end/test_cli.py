"""The CLI through click's CliRunner: exit codes, messages, outputs; real backbones, random weights, tiny inputs."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bbselect.cli import main

FAST = ["-b", "mobilenet:alpha=0.25", "--weights", "none", "--input-size", "64", "--batch-size", "2"]


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture
def demo_run(tmp_path, image_folder):
    out = tmp_path / "results"
    res = run(["compare", str(image_folder), "-o", str(out), "-b", "mobilenetv2", "-b", "resnet50",
               "--weights", "none", "--input-size", "64", "--batch-size", "2", "-q"])
    assert res.exit_code == 0, res.output
    return out / "imgs"


def test_compare_writes_every_output(demo_run):
    names = {p.name for p in demo_run.iterdir()}
    assert {"report.html", "report.md", "scores.json", "scores.csv", "config.yaml", "run.json",
            "figures", "maps"} <= names
    summary = json.loads((demo_run / "scores.json").read_text())
    assert [b["label"] for b in summary["backbones"]] != []
    assert {b["label"] for b in summary["backbones"]} == {"mobilenetv2", "resnet50"}
    assert summary["run"]["random_weights"] is True and summary["run"]["n_images"] == 3
    assert sorted(b["rank"] for b in summary["backbones"]) == [1, 2]
    # one figure per image, maps per backbone and image, nothing overwritten across backbones
    assert len(list((demo_run / "figures" / "images").glob("*.png"))) == 3
    for label in ("mobilenetv2", "resnet50"):
        files = list((demo_run / "maps" / label).glob("*.npz"))
        assert len(files) == 3
        with np.load(files[0]) as m:
            assert m["max"].ndim == 2 and m["gap"].shape == ((1280,) if label == "mobilenetv2" else (2048,))
    html = (demo_run / "report.html").read_text()
    assert "RANDOM WEIGHTS" in html
    run_info = json.loads((demo_run / "run.json").read_text())
    meta = {b["label"]: b for b in run_info["backbones"]}
    assert meta["resnet50"]["weights"]["kind"] == "none" and meta["resnet50"]["layer"] == "conv5_block3_out"
    assert run_info["timing"]["backbones"]["resnet50"]["computed"] == 3


def test_saved_maps_match_a_direct_forward_pass(demo_run, image_folder):
    """The saved max map equals the channel max of the backbone's own output for the same input."""
    from bbselect.inputs import decode as dec
    from bbselect.inputs import images
    from bbselect.models import registry
    from bbselect.models.selection import parse_selection
    from bbselect.models.weights import build_backbone
    from bbselect.store import mapfiles

    model, _ = build_backbone(parse_selection("mobilenetv2"), "none", 64, seed=0)
    ref = images.discover_images(image_folder)[0][0]
    arr, _ = dec.decode_input(ref, 64, "stretch", dec.DEFAULT_MAX_PIXELS)
    feats = model.predict_on_batch(registry.get_spec("mobilenetv2").preprocess(arr[None].astype("float32")))
    saved = mapfiles.load_maps(demo_run / "maps" / "mobilenetv2" / f"{ref.id}.npz")
    np.testing.assert_allclose(saved["max"], feats[0].max(axis=-1), rtol=1e-4, atol=1e-4)


def test_run_folders_are_never_overwritten(tmp_path, image_folder):
    out = tmp_path / "r"
    for _ in range(2):
        assert run(["compare", str(image_folder), "-o", str(out), "--name", "same", "-q", *FAST]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["same", "same-2"]


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["-b", "resnet5"], 2, "did you mean resnet50"),
        (["-b", "mobilenet:alpha=0.3"], 2, "must be one of"),
        (["--input-size", "100"], 2, "multiple of 32"),
        (["--weights", "/no/such/file.h5"], 4, "not 'imagenet', 'none'"),  # missing weights: exit 4 (documented)
        (["--layer", "c9x"], 2, "has no layer 'c9x'"),
        (["--figures", "some"], 2, "--figures"),
        (["--resize", "crop"], 2, "Invalid value for '--resize'"),
    ],
)
def test_bad_options_give_clear_errors(tmp_path, image_folder, args, code, text):
    base = ["compare", str(image_folder), "-o", str(tmp_path / "o"), "-q",
            "--weights", "none", "--input-size", "64", "-b", "mobilenet:alpha=0.25"]
    res = CliRunner().invoke(main, base + args)
    assert res.exit_code == code, res.output
    assert text in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing half-made


def test_missing_and_empty_folders(tmp_path):
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "nope"), *FAST])
    assert res.exit_code == 3 and "does not exist" in res.output
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "empty"), "-o", str(tmp_path / "o"), *FAST])
    assert res.exit_code == 3 and "no image files" in res.output


def test_folder_of_only_unreadable_images(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_text("not a jpeg")
    (folder / "b.png").write_bytes(b"")
    res = CliRunner().invoke(main, ["compare", str(folder), "-o", str(tmp_path / "o"), *FAST])
    assert res.exit_code == 3 and "no readable image" in res.output


def test_unreadable_file_is_skipped_and_reported_or_fatal_with_strict(tmp_path, image_folder):
    (image_folder / "broken.jpg").write_text("not a jpeg")
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["compare", str(image_folder), "-o", str(out), *FAST])
    assert res.exit_code == 0 and "skipped broken.jpg" in res.output
    summary = json.loads((out / "imgs" / "scores.json").read_text())
    assert [s["rel"] for s in summary["skipped"]] == ["broken.jpg"] and summary["run"]["n_images"] == 3
    assert "broken.jpg" in (out / "imgs" / "report.html").read_text()
    res = CliRunner().invoke(main, ["compare", str(image_folder), "-o", str(out), "--strict", *FAST])
    assert res.exit_code == 3 and "broken.jpg" in res.output


def test_offline_imagenet_message_through_cli(tmp_path, image_folder, monkeypatch):
    from keras.src.utils import file_utils

    def fail(fname=None, origin=None, *a, **k):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", fail)
    res = CliRunner().invoke(main, ["compare", str(image_folder), "-o", str(tmp_path / "o"),
                                    "-b", "vgg16", "--input-size", "64"])
    assert res.exit_code == 4
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in res.output
    assert "--weights none" in res.output and "KERAS_HOME" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # fails before claiming a run folder


def test_html_escapes_hostile_file_name(tmp_path, image_folder):
    # '/' cannot be in a file name, so `<b>x</b>.png` is the file `b>.png` in the folder `<b>x<`:
    # its relative path, which reports show, is exactly the hostile string.
    (image_folder / "<b>x<").mkdir()
    (image_folder / "img0.png").rename(image_folder / "<b>x<" / "b>.png")
    out = tmp_path / "o"
    assert run(["compare", str(image_folder), "-o", str(out), "-q", *FAST]).exit_code == 0
    html = (out / "imgs" / "report.html").read_text()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;.png" in html
    md = (out / "imgs" / "report.md").read_text()
    assert "<b>x</b>" not in md


def test_letterbox_crops_maps_to_image_area(tmp_path):
    from PIL import Image

    folder = tmp_path / "wide"
    folder.mkdir()
    Image.new("RGB", (256, 64), (200, 30, 30)).save(folder / "wide.png")  # 4:1
    out = tmp_path / "o"
    res = run(["compare", str(folder), "-o", str(out), "-q", "--resize", "letterbox",
               "-b", "mobilenetv2:layer=c3", "--weights", "none", "--input-size", "64"])
    assert res.exit_code == 0
    npz = next((out / "wide" / "maps").rglob("*.npz"))
    with np.load(npz) as m:
        # 64 px input, stride 8 -> 8x8 map; the image fills 16 of 64 rows -> 2 map rows
        assert m["max"].shape == (2, 8) and tuple(m["valid_hw"]) == (16, 64)


def test_layers_and_backbones_commands():
    res = run(["layers", "resnet50", "--input-size", "64"])
    assert res.exit_code == 0
    line = next(row for row in res.output.splitlines() if row.startswith("c4"))
    assert "conv4_block6_out" in line and " 16 " in line
    res = run(["backbones"])
    assert res.exit_code == 0 and "mobilenetv2" in res.output and "alpha" in res.output


def test_scores_lists_every_gate_metric_its_direction_needs_and_what_the_study_says(monkeypatch):
    """`bbselect scores` is the registry as users need it for --fail-under: every metric name, which way
    is better, the option that enables it, and whether the validation study lets it rank."""
    from bbselect.scoring import registry

    monkeypatch.setenv("COLUMNS", "250")
    res = run(["scores"])
    assert res.exit_code == 0, res.output
    rows = {line.split()[0].rstrip(","): line for line in res.output.splitlines() if line.strip()}
    for metric in registry.gate_metrics():
        if metric != registry.PRIMARY and not metric.startswith("mean."):  # per-map: one row lists both maps
            assert metric in rows, metric
    assert " lower " in rows["dead_fraction"] and " higher " in rows["stability"]
    assert "--labels" in rows["linear_probe"] and "--stability" in rows["stability"] and "every run" in rows["separation"]
    assert "ground truth" in rows["det_map50"] and "ground truth" in rows["linear_probe"]
    assert "yes, without labels or boxes" in rows["stability"]  # docs/validation.md: supported within a family
    assert "last resort" in rows["separation"]
    assert rows["knn"].rstrip().endswith("no")  # shown with labels, never ranks
