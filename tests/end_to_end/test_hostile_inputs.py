"""Issue 20, hostile inputs: each ends in a finished, correct run or a clear ``bbselect.errors`` error
with its documented exit code, never a traceback, a hang or an unbounded allocation.

Where the old code would hang (a FIFO) or grow without bound (``/dev/zero``, a 10^12 class id, a YAML
alias bomb), the test makes that failure quick and visible instead: ``open`` of the hostile path
raises, or the code runs in a child process under a memory limit.
"""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_images
from PIL import Image

import bbselect
from bbselect.cli import main
from bbselect.errors import UsageError
from bbselect.inputs import coco, yolo
from bbselect.probes import roi

ROOT = Path(__file__).resolve().parents[2]
FAST = ["-b", "mobilenet:alpha=0.25,layer=c4", "--weights", "none", "--input-size", "64", "--batch-size", "2",
        "--figures", "none", "-q"]
API_FAST = dict(backbones=["mobilenet:alpha=0.25,layer=c4"], weights="none", input_size=64, figures="none")


def run(args):
    """``bbselect compare ARGS``."""
    return CliRunner().invoke(main, ["compare", *args])


def _refuse_open(monkeypatch, *paths) -> list[str]:
    """Make ``open`` of ``paths`` fail loudly (reading them would hang or never end); returns the
    paths that something tried to open."""
    real_open, tried = builtins.open, []
    banned = {os.path.realpath(p) for p in paths}

    def fake_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and os.path.realpath(os.fsdecode(file)) in banned:
            tried.append(os.fsdecode(file))
            raise AssertionError(f"opened {file}")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    return tried


def _bounded(code: str, mem_mb: int = 1500, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python with at most ``mem_mb`` of address space."""
    prelude = (f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({mem_mb << 20}, {mem_mb << 20}))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


# ------------------------------------------------------------------ 6. a huge sparse class id

def test_yolo_names_with_a_huge_sparse_id_are_a_mapping_not_a_list(tmp_path):
    (tmp_path / "classes.yaml").write_text("names: {0: person, 999999999999: x}\n")
    label = tmp_path / "a.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n999999999999 0.3 0.3 0.1 0.1\n")
    res = _bounded(f"""
        from pathlib import Path
        from bbselect.inputs import yolo
        f = Path({str(label)!r})
        print([b.label for b in yolo.parse_yolo(f, yolo.yolo_names(f, []))])
    """, mem_mb=1500)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "['person', 'x']"


def test_yolo_id_beyond_the_names_is_a_usage_error_naming_the_largest(tmp_path):
    label = tmp_path / "a.txt"
    label.write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(UsageError, match="class id 7.*largest id is 5"):
        yolo.parse_yolo(label, {0: "a", 5: "b"})


# ------------------------------------------------------------------ 7. many boxes in one image

def _quadratic(object_rois, extent, rng, max_iou=0.3, tries=50):
    """The sampler before issue 20 (every candidate against every box), as the reference: the one copy
    in benchmarks/background_rois.py, which times the two."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from background_rois import quadratic

    return quadratic(object_rois, extent, rng, max_iou=max_iou, tries=tries)


def _layout(rng, n, extent, lo, hi):
    wh = rng.uniform(lo, hi, size=(n, 2))
    xy = rng.uniform(0, 1, size=(n, 2)) * (np.asarray(extent) - wh).clip(0)
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("seed", range(6))
def test_background_rois_equal_the_quadratic_sampler(seed):
    rng = np.random.default_rng(seed)
    extent = (float(rng.integers(2, 20)), float(rng.integers(2, 20)))
    layouts = [_layout(rng, int(rng.integers(1, 60)), extent, 0.1, min(extent) * f) for f in (0.2, 0.6, 1.0)]
    layouts.append(np.array([[0.0, 0.0, extent[0], extent[1]]] * 3))  # whole-image boxes: nothing fits
    for objs in layouts:
        for max_iou in (0.3, 0.05, 0.7):
            got = roi.background_rois(objs, extent, np.random.default_rng(seed), max_iou=max_iou)
            want = _quadratic(objs, extent, np.random.default_rng(seed), max_iou=max_iou)
            np.testing.assert_array_equal(got, want)


def test_background_rois_compare_each_candidate_with_nearby_boxes_only(monkeypatch):
    """1,000 small boxes spread over a 32 x 32 map: the old sampler compared every candidate with all
    1,000 boxes (a million IoUs); the new one only with the few near it. The work is counted, not timed."""
    objs = _layout(np.random.default_rng(0), 1000, (32.0, 32.0), 0.2, 1.0)
    pairs = {"n": 0}
    scalar, vector = roi.iou, getattr(roi, "iou_pairs", None)

    def count_scalar(a, b):
        pairs["n"] += 1
        return scalar(a, b)

    def count_vector(a, b):
        pairs["n"] += len(a)
        return vector(a, b)

    monkeypatch.setattr(roi, "iou", count_scalar)
    monkeypatch.setattr(roi, "iou_pairs", count_vector, raising=False)
    got = roi.background_rois(objs, (32.0, 32.0), np.random.default_rng(0))
    assert len(got) >= 990
    assert pairs["n"] < 0.05 * 1000 ** 2


# ------------------------------------------------------------------ 8. non-UTF-8 bytes in names

def test_non_utf8_file_and_folder_names_run_and_reports_stay_valid(tmp_path):
    """Names with bytes that are not UTF-8 (Python holds them as lone surrogates), in the images folder's
    own name, a sub-folder and files, one with a YOLO label beside it: the run finishes, every text it
    writes is valid UTF-8 showing the bytes as \\xNN, the label is found, and the cache serves a rerun."""
    root = os.fsencode(tmp_path) + b"/r\xe9s"
    make_images(Path(os.fsdecode(root)), 2)
    os.mkdir(root + b"/caf\xe9")
    for i, name in enumerate((b"/caf\xe9/na\xefve", b"/caf\xe9/\xff\xfe")):
        with open(root + name + b".png", "wb") as fh:
            fh.write((Path(os.fsdecode(root)) / f"img{i}.png").read_bytes())
        with open(root + name + b".txt", "w") as fh:
            fh.write("0 0.5 0.5 0.3 0.3\n")
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(os.fsdecode(root + b"/x\x80.png"))
    out = tmp_path / "out"
    args = [os.fsdecode(root), *FAST, "--output", str(out), "--cache-dir", str(tmp_path / "cache")]
    res = run([*args, "--name", "r", "--figures", "all"])
    assert res.exit_code == 0, res.output
    run_dir = out / "r"
    for f in ("report.html", "report.md", "scores.json", "scores.csv", "run.json", "config.yaml"):
        (run_dir / f).read_bytes().decode("utf-8")  # valid UTF-8: no raw bytes, no encoded surrogates
    doc = json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))
    rels = {im["rel"] for im in doc["images"]}
    assert rels == {"img0.png", "img1.png", "caf\\xe9/na\\xefve.png", "caf\\xe9/\\xff\\xfe.png", "x\\x80.png"}
    assert set(doc["boxes"]) == {"caf\\xe9/na\\xefve.png", "caf\\xe9/\\xff\\xfe.png"}
    assert "x\\x80.png" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert "xefve.png" in (run_dir / "report.md").read_text(encoding="utf-8")  # backslashes escaped there
    with open(run_dir / "scores.csv", newline="", encoding="utf-8") as fh:
        assert "caf\\xe9/na\\xefve.png" in fh.read()
    for name in ("r2", "r3"):  # the maps alone (the probe's feature entries are issue 20's item 3)
        again = run([*args, "--name", name, "--boxes", "none", "--stability", "off"])
        assert again.exit_code == 0, again.output
    assert json.loads((out / "r3" / "run.json").read_text())["cache"]["hits"] == 5


# ------------------------------------------------------------------ 9, 10. FIFOs and devices

def test_labels_on_a_fifo_or_device_is_a_usage_error_without_reading_it(tmp_path, monkeypatch, image_folder):
    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    tried = _refuse_open(monkeypatch, fifo, "/dev/zero")
    for labels in (str(fifo), "/dev/zero"):
        res = run([str(image_folder), *FAST, "--output", str(tmp_path / "o"), "--labels", labels])
        assert res.exit_code == 2, res.output
        assert "not a regular file" in res.output and labels in res.output
    assert not tried


def test_images_given_as_a_fifo_or_device_is_a_usage_error(tmp_path, monkeypatch):
    fifo = tmp_path / "images.fifo"
    os.mkfifo(fifo)
    tried = _refuse_open(monkeypatch, fifo, "/dev/zero", "/dev/null")
    for images in (str(fifo), "/dev/zero", "/dev/null"):
        res = run([images, *FAST, "--output", str(tmp_path / "o")])
        assert res.exit_code == 2, res.output
        assert "not a regular file" in res.output
    assert not tried
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ 11. YAML alias bomb

def test_yaml_alias_bomb_in_class_names_is_refused(tmp_path):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("names: [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]")
    (tmp_path / "classes.yaml").write_text("\n".join(lines) + "\n")
    label = tmp_path / "a.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(UsageError, match="class name #0 must be a string"):
        yolo.yolo_names(label, [])


# ------------------------------------------------------------------ 13. identical images with boxes

def test_all_images_byte_identical_with_boxes_finishes_and_says_why_there_is_no_probe(tmp_path):
    root = tmp_path / "same"
    make_images(root, 1)
    data = (root / "img0.png").read_bytes()
    for i in range(1, 4):
        (root / f"img{i}.png").write_bytes(data)
    for i in range(4):
        (root / f"img{i}.txt").write_text("0 0.4 0.4 0.3 0.3\n")
    res = run([str(root), *FAST, "--output", str(tmp_path / "o"), "--name", "r"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o" / "r" / "scores.json").read_text())
    notes = " ".join(doc["evidence"]["boxes"]["notes"])
    assert "1 distinct image" in notes and "copies" in notes


def test_objectness_folds_keep_copies_of_an_image_together():
    """Copies in different folds would score the probe on an image it was trained on: grouped by content,
    three copies of one image are one image (n/a with the reason); without copies nothing changes."""
    from bbselect.probes import objectness

    rng = np.random.default_rng(0)
    f = rng.normal(size=(8, 8, 4))
    mask = np.zeros((8, 8), bool)
    mask[2:5, 2:5] = True
    copies = objectness.objectness_probe([f, f, f], [mask] * 3, groups=["h", "h", "h"])
    assert np.isnan(copies["auroc"]) and "copies counted once" in copies["reason"]
    feats = [rng.normal(size=(8, 8, 4)) for _ in range(4)]
    plain = objectness.objectness_probe(feats, [mask] * 4)
    grouped = objectness.objectness_probe(feats, [mask] * 4, groups=["a", "b", "c", "d"])
    assert plain["auroc"] == grouped["auroc"]


# ------------------------------------------------------------------ 15. deeply nested COCO json

def test_coco_json_nested_100000_deep_is_a_usage_error(tmp_path):
    f = tmp_path / "ann.json"
    f.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + ', "annotations": []}')
    with pytest.raises(UsageError, match="nested too deeply"):
        coco.parse_coco(f, ["a.png"], {"a.png": (10, 10)})


# ------------------------------------------------------------------ 17. a class with one image

def _class_folders(root: Path, counts: dict[str, int]) -> None:
    for j, (name, n) in enumerate(counts.items()):
        make_images(root / name, n, size=(80 + 10 * j, 60))


def test_a_class_with_a_single_image_is_left_out_and_the_rest_still_scored(tmp_path):
    _class_folders(tmp_path / "c", {"a": 3, "b": 3, "solo": 1})
    res = run([str(tmp_path / "c"), *FAST, "--output", str(tmp_path / "o"), "--name", "r"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o" / "r" / "scores.json").read_text())
    lab = doc["backbones"][0]["labels"]
    assert np.isfinite(lab["linear_probe"]["mean"]) and lab["n"] == 6 and lab["n_classes"] == 2
    assert doc["evidence"]["evidence"] == "labels"
    assert "solo" in doc["evidence"]["labels"] and "single image" in doc["evidence"]["labels"]
    assert "solo" in (tmp_path / "o" / "r" / "report.md").read_text()


def test_labels_that_cannot_be_scored_say_why_instead_of_no_labels(tmp_path):
    _class_folders(tmp_path / "c", {"a": 3, "solo": 1})
    res = run([str(tmp_path / "c"), *FAST, "--output", str(tmp_path / "o"), "--name", "r"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o" / "r" / "scores.json").read_text())
    why = doc["evidence"]["why"]
    assert "no labels or boxes were given" not in why
    assert "fewer than 2 images: solo" in why
    assert "fewer than 2 images: solo" in (tmp_path / "o" / "r" / "report.html").read_text()


# ------------------------------------------------------------------ 19. API image containers

def _arrays(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 40, 48, 3)) * 255).astype(np.uint8)


def test_api_accepts_a_4d_batch_and_a_generator_like_the_list(tmp_path):
    batch = _arrays()
    a = bbselect.compare(list(batch), output=str(tmp_path / "o"), name="list", **API_FAST)
    b = bbselect.compare(batch, output=str(tmp_path / "o"), name="batch", **API_FAST)
    c = bbselect.compare((x for x in batch), output=str(tmp_path / "o"), name="gen", **API_FAST)
    g = bbselect.compare(batch[..., 0], output=str(tmp_path / "o"), name="gray", **API_FAST)
    assert [im["rel"] for im in b.summary["images"]] == [im["rel"] for im in a.summary["images"]]
    assert b.run_dir != a.run_dir and len(c.summary["images"]) == 3 and len(g.summary["images"]) == 3
    for r in (b, c):
        assert r.ranking[0]["value"] == pytest.approx(a.ranking[0]["value"], nan_ok=True)


@pytest.mark.parametrize("images, fragment", [
    (42, "int"),
    (3.5, "float"),
    (np.array([object(), object()], dtype=object), "images[0]"),
    (np.empty((2, 8, 8, 3), dtype=object), "object"),
    (np.zeros((2, 8, 8, 3), dtype=complex), "complex"),
    (np.zeros((8, 8, 3), dtype=np.uint8), "one image"),
    (np.zeros((0, 8, 8, 3), dtype=np.uint8), "empty"),
    (np.zeros((2, 2, 8, 8, 3), dtype=np.uint8), "5-D"),
    (iter([]), "empty"),
    (["a.png"], "images[0]: 'a.png' is a path"),
    ([np.zeros((8, 8, 3)), "b.png"], "images[1]: 'b.png' is a path"),
])
def test_api_refuses_other_image_containers_with_a_usage_error(tmp_path, images, fragment):
    with pytest.raises(UsageError, match="images") as err:
        bbselect.compare(images, output=str(tmp_path / "o"), **API_FAST)
    assert fragment in str(err.value)
