"""Issue 13: nothing a user or a neighbour does can wedge a run. One regression test per defect
found by the hostile-input pass (each failed on the code before its fix); docs/reliability.md maps
every hostile input and fault to its test.

Runs use the smallest real backbone (MobileNet v1, alpha 0.25, random weights, 64 px), so each
costs a second or two once TensorFlow is imported.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import make_images
from PIL import Image

from conftest import read_scores, refuse_model_builds
from bbselect.cli import main
from bbselect.store import cache as cache_mod
from bbselect.store.mapfiles import verify_maps

LABEL = "mobilenet:alpha=0.25"
FAST = ["-b", LABEL, "--weights", "none", "--input-size", "64", "--batch-size", "2", "--figures", "none"]


def run(args):
    return CliRunner().invoke(main, args)





def cache_entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "maps").rglob("*.npz"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """One clean run (and its cache) that the tests below damage copies of."""
    root = tmp_path_factory.mktemp("clean")
    images = root / "imgs"
    make_images(images, 4)
    os.environ["BBSELECT_CACHE"] = str(root / "cache")
    try:
        res = run(["compare", str(images), "-o", str(root / "r"), "--name", "ref", *FAST, "-q"])
    finally:
        del os.environ["BBSELECT_CACHE"]
    assert res.exit_code == 0, res.output
    return {"images": images, "run": root / "r" / "ref", "cache": root / "cache", "scores": read_scores(root / "r" / "ref")}


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------ 1. corrupt cache entries

def truncate(p: Path):
    p.write_bytes(p.read_bytes()[:100])


def flip40(p: Path):
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 40] = bytes(b ^ 0xFF for b in data[mid:mid + 40])
    p.write_bytes(bytes(data))


def zero(p: Path):
    p.write_bytes(b"")


def test_corrupt_cache_entries_are_deleted_recomputed_and_logged_once(clean, tmp_path, monkeypatch):
    cache_dir = copy_tree(clean["cache"], tmp_path / "cache")
    monkeypatch.setenv("BBSELECT_CACHE", str(cache_dir))
    bad = cache_entries(cache_dir)[:3]
    for damage, path in zip((truncate, flip40, zero), bad):  # zero bytes used to print only "Aborted!"
        damage(path)
    res = run(["compare", str(clean["images"]), "-o", str(tmp_path / "r"), "--name", "again", *FAST])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "Aborted" not in res.output
    for path in bad:
        assert res.output.count(f"corrupt cache entry {path}") == 1, res.output
    assert read_scores(tmp_path / "r" / "again") == clean["scores"]
    assert [verify_maps(p) for p in bad] == [None] * 3  # replaced by the recomputed maps


def test_verify_maps_names_what_is_wrong(clean, tmp_path):
    good = sorted((clean["run"] / "maps").rglob("*.npz"))[0]
    assert verify_maps(good) is None
    for damage in (truncate, flip40, zero):
        p = tmp_path / f"{damage.__name__}.npz"
        p.write_bytes(good.read_bytes())
        damage(p)
        assert isinstance(verify_maps(p), str)
    assert "missing" in verify_maps(tmp_path / "nope.npz")


def test_report_names_a_corrupt_run_folder_maps_file_and_resume_recomputes_it(clean, tmp_path, monkeypatch):
    monkeypatch.setenv("BBSELECT_CACHE", str(tmp_path / "empty-cache"))
    run_dir = copy_tree(clean["run"], tmp_path / "run")
    bad = sorted((run_dir / "maps").rglob("*.npz"))[2]
    flip40(bad)
    res = run(["report", str(run_dir), "--figures", "none"])
    assert res.exit_code == 3, res.output
    assert bad.name in res.output and "--resume" in res.output and "Traceback" not in res.output
    res = run(["compare", "--resume", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "recomputing" in res.output and bad.name in res.output
    assert read_scores(run_dir) == clean["scores"]


# ------------------------------------------------------------------ 2. concurrent eviction

def _fill(cache: cache_mod.Cache, n: int, size: int = 4096) -> None:
    for i in range(n):
        p = cache.root / "maps" / f"{i:02x}" / f"{i:064x}.npz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)


def test_eviction_tolerates_files_another_run_just_deleted(tmp_path, monkeypatch):
    cache = cache_mod.Cache(tmp_path / "c", max_mb=0)
    _fill(cache, 6)
    real_rglob = Path.rglob

    def rglob_then_vanish(self, pattern):  # another run deletes every other file after our listing
        found = list(real_rglob(self, pattern))
        for p in found[::2]:
            p.unlink()
        return iter(found)

    monkeypatch.setattr(Path, "rglob", rglob_then_vanish)
    cache.evict()  # must not raise
    monkeypatch.undo()
    assert cache_entries(tmp_path / "c") == []
    assert cache.size_bytes() == 0


def test_concurrent_evictions_never_raise(tmp_path):
    errors = []

    def evict(root):
        try:
            for _ in range(20):
                c = cache_mod.Cache(root, max_mb=0)
                _fill(c, 8, size=64)
                c.evict()
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=evict, args=(tmp_path / "c",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ------------------------------------------------------------------ 3. CSV formula injection

HOSTILE_CELLS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")']


def test_csv_cells_that_start_a_formula_are_neutralised():
    from bbselect.reports.machine import csv_safe, csv_text

    for cell in HOSTILE_CELLS:
        assert csv_safe(cell) == "'" + cell
    for harmless in ("img.png", "a=b", "", "'quoted", "mobilenet:alpha=0.25"):
        assert csv_safe(harmless) == harmless
    assert csv_safe(-0.5) == -0.5  # numbers stay numbers
    summary = {"backbones": [{"label": "-evil", "layer": "@l"}],
               "images": [{"rel": f"{c}.png", "scores": {"-evil": {"max": {"otsu": -0.1}}}} for c in HOSTILE_CELLS]}
    rows = list(csv.reader(io.StringIO(csv_text(summary), newline="")))[1:]
    assert [r[0] for r in rows] == ["'" + c + ".png" for c in HOSTILE_CELLS]
    assert {r[1] for r in rows} == {"'-evil"} and {r[2] for r in rows} == {"'@l"}
    assert {r[4] for r in rows} == {"-0.1"}


def test_sweep_summary_csv_cells_are_neutralised(tmp_path):
    from bbselect.runs import sweep

    row = {c: None for c in sweep.COLUMNS}
    row.update(point="=1+1", backbone="@x", layer="-y", separation=-0.25, report="+r/report.html")
    sweep.write_summary(tmp_path, [row], {})
    got = next(csv.DictReader((tmp_path / "summary.csv").open(newline="")))
    assert (got["point"], got["backbone"], got["layer"], got["report"]) == ("'=1+1", "'@x", "'-y", "'+r/report.html")
    assert got["separation"] == "-0.25"


# ------------------------------------------------------------------ 4. crashes: exit 70, JSON, a log

def test_crash_after_the_run_folder_exists_exits_70_with_json_and_a_log_in_it(clean, tmp_path, monkeypatch):
    from bbselect.scoring import summarize as summary

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setenv("BBSELECT_CACHE", str(copy_tree(clean["cache"], tmp_path / "cache")))
    monkeypatch.setattr(summary, "summarize_run", boom)
    res = run(["compare", str(clean["images"]), "-o", str(tmp_path / "r"), "--name", "x", *FAST, "--format", "json"])
    assert res.exit_code == 70, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == 70 and "simulated bug" in doc["error"]
    log = tmp_path / "r" / "x" / "crash.log"
    assert log.is_file() and str(log) in res.stderr and str(log) in doc["error"]
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: simulated bug" in text
    assert "Traceback" not in res.stderr


def test_crash_before_any_run_folder_logs_to_a_temp_file(tmp_path, image_folder, monkeypatch):
    from bbselect.inputs import images

    def boom(*a, **k):
        raise EOFError("simulated")  # click would have printed only "Aborted!"

    monkeypatch.setattr(images, "discover_images", boom)
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), *FAST])
    assert res.exit_code == 70, res.output
    m = re.search(r"traceback in (\S+)", res.stderr)
    assert m and "EOFError: simulated" in Path(m.group(1)).read_text()
    Path(m.group(1)).unlink()
    assert "Aborted" not in res.output


# ------------------------------------------------------------------ 5. bounds and a memory estimate

@pytest.mark.parametrize("args, text", [
    (["--input-size", "96000"], "--input-size 96000"),
    (["--batch-size", "99999999999999999999"], "--batch-size"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--max-pixels", "0"], "--max-pixels 0"),
    (["--seed", "-1"], "--seed -1"),
    (["--cache-max-mb", "-5"], "--cache-max-mb -5"),
])
def test_out_of_range_options_are_refused_before_any_work(tmp_path, image_folder, monkeypatch, args, text):
    refuse_model_builds(monkeypatch)
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), *FAST, *args])
    assert res.exit_code == 2, res.output
    assert text in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # no orphan run folder


def test_out_of_range_yaml_value_names_file_and_line(tmp_path, image_folder, monkeypatch):
    refuse_model_builds(monkeypatch)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"images: {image_folder}\nbackbones: [{LABEL}]\nweights: none\n\ninput_size: 1000000000\n")
    res = run(["run", str(cfg), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert f"{cfg}:5" in res.output and "input_size" in res.output and "at most" in res.output
    assert not (tmp_path / "r").exists()


def test_memory_estimate_refuses_clearly_before_building(tmp_path, image_folder, monkeypatch):
    from bbselect.config import validate

    refuse_model_builds(monkeypatch)
    monkeypatch.setattr(validate, "available_memory", lambda: 64 * 2**20)  # 64 MiB free
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), *FAST[:-4], "--input-size", "2048",
               "--batch-size", "16"])
    assert res.exit_code == 2, res.output
    assert "memory" in res.output and "--batch-size" in res.output and "GiB" in res.output
    assert not (tmp_path / "r").exists()


def test_memory_estimate_grows_with_input_and_batch():
    from bbselect.config import validate
    from bbselect.config.schema import CompareConfig

    def est(**kw):
        return validate.estimate_memory(CompareConfig(**{"backbones": ["vgg16"], **kw}))

    assert est(input_size=448) > 3.9 * est(input_size=224)
    assert est(batch_size=16) > 1.9 * est(batch_size=8)
    assert est(input_size=96000) > 100 * 2**30  # the 96000 px run the issue measured at 206 GiB


# ------------------------------------------------------------------ 6. resume: content and options

def test_resume_recomputes_an_image_whose_content_changed(clean, tmp_path, monkeypatch):
    monkeypatch.setenv("BBSELECT_CACHE", str(tmp_path / "empty-cache"))
    folder = copy_tree(clean["images"], tmp_path / "imgs")
    run_dir = copy_tree(clean["run"], tmp_path / "run")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    (run_dir / "config.yaml").write_text(yaml.safe_dump({**cfg, "images": str(folder)}))
    (run_dir / "run.json").unlink()  # as if interrupted before the end
    shutil.copyfile(folder / "img3.png", folder / "img0.png")  # overwrite a finished image
    res = run(["compare", "--resume", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert re.search(r"img0\.png.*changed", res.output) and "img1.png" not in res.output
    ids = {im["rel"]: im["id"] for im in read_scores(run_dir)[1]}

    def maps(run, rel):
        return np.load(next((run / "maps").iterdir()) / f"{ids[rel]}.npz")["mean"]

    new = maps(run_dir, "img0.png")
    assert np.allclose(new, maps(clean["run"], "img3.png"), rtol=1e-5, atol=0)  # img0 now has img3's content
    assert not np.allclose(new, maps(clean["run"], "img0.png"), rtol=1e-5, atol=0)
    per_image = {im["rel"]: im["scores"] for im in read_scores(run_dir)[1]}
    before = {im["rel"]: im["scores"] for im in clean["scores"][1]}
    assert {k: per_image[k] for k in ("img1.png", "img2.png", "img3.png")} == \
        {k: before[k] for k in ("img1.png", "img2.png", "img3.png")}


@pytest.mark.parametrize("extra", [["--input-size", "96"], ["--fail-under", "separation=0.9"], ["elsewhere/"]])
def test_resume_refuses_other_options(clean, tmp_path, extra):
    run_dir = copy_tree(clean["run"], tmp_path / "run")
    res = run(["compare", "--resume", str(run_dir), *extra])
    assert res.exit_code == 2, res.output
    assert "--resume" in res.output and "saved settings" in res.output


def test_resuming_a_finished_run_builds_no_model(clean, tmp_path, monkeypatch):
    monkeypatch.setenv("BBSELECT_CACHE", str(tmp_path / "empty-cache"))
    run_dir = copy_tree(clean["run"], tmp_path / "run")
    refuse_model_builds(monkeypatch)
    res = run(["compare", "--resume", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert read_scores(run_dir) == clean["scores"]


# ------------------------------------------------------------------ 8. every gate and option up front

def test_unknown_expect_best_fails_before_any_work(tmp_path, image_folder, monkeypatch):
    refuse_model_builds(monkeypatch)
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), *FAST, "--expect-best", "nosuchnet"])
    assert res.exit_code == 2, res.output
    assert "nosuchnet" in res.output and LABEL in res.output
    assert not (tmp_path / "r").exists()


def test_expect_best_accepts_a_selected_backbone_label(tmp_path, image_folder):
    from bbselect.config import validate
    from bbselect.config.schema import CompareConfig

    cfg = CompareConfig(images=str(image_folder), backbones=["vgg16", "mobilenet:alpha=0.25"],
                        expect_best="mobilenet:alpha=0.25")
    validate.resolve(cfg, check_memory=False)


@pytest.mark.parametrize("yaml_text, text", [
    ("sweep:\n  shard: [1/2, 3/2]\n", "3/2"),
    ("sweep:\n  fail_under: [[separation=0.2], [sepration=0.2]]\n", "sepration"),
    ("gates:\n  expect_best: nosuchnet\nsweep:\n  layer: [c4, c5]\n", "nosuchnet"),
    ("sweep:\n  layer: [c4, c5]\n  figures: ['3', '-1']\n", "-1"),
])
def test_every_sweep_point_is_validated_before_any_runs(tmp_path, image_folder, monkeypatch, yaml_text, text):
    refuse_model_builds(monkeypatch)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"name: sw\nimages: {image_folder}\nbackbones: [{LABEL}]\nweights: none\n" + yaml_text)
    res = run(["run", str(cfg), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert text in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ minor defects

def test_missing_weights_file_is_exit_4(tmp_path, image_folder):
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), "-b", LABEL, "--weights", "/nonexistent.h5"])
    assert res.exit_code == 4, res.output
    assert "/nonexistent.h5" in res.output
    assert not (tmp_path / "r").exists()


def test_skips_found_while_scanning_are_printed_and_formula_names_are_inert(tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, 2)
    (folder / "img0.png").rename(folder / "=cmd|' -C calc'!A0.png")
    (folder / "img1.png").rename(folder / "@x.png")
    os.mkfifo(folder / "pipe.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")  # a symlink loop
    res = run(["compare", str(folder), "-o", str(tmp_path / "r"), "--name", "f", *FAST])
    assert res.exit_code == 0, res.output
    assert re.search(r"skipped pipe\.png: .*", res.stderr), res.stderr
    assert re.search(r"skipped loop\.png: .*", res.stderr), res.stderr
    rows = list(csv.DictReader((tmp_path / "r" / "f" / "scores.csv").open(newline="")))
    assert {r["image"] for r in rows} == {"'=cmd|' -C calc'!A0.png", "'@x.png"}


def test_sweep_charts_raise_no_warnings_when_every_score_is_missing():
    from bbselect.runs import sweep

    rows = [{**{c: None for c in sweep.COLUMNS}, "point": p, "backbone": LABEL} for p in ("c4", "c5")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs = sweep.sweep_figures(rows, {"layer": ["c4", "c5"]})
    assert set(figs) == {"score_vs_cost.png", "score_by_layer.png"}


def test_max_pixels_above_pillows_own_limit_is_honoured(tmp_path, monkeypatch):
    from bbselect.inputs import decode as dec

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2 x 1000 pixels
    p = tmp_path / "big.png"
    Image.fromarray(np.zeros((60, 60, 3), np.uint8)).save(p)  # 3600 pixels
    assert dec.load_image(p, max_pixels=5000).size == (60, 60)
    with pytest.raises(dec.ImageDecodeError, match="3,000"):
        dec.load_image(p, max_pixels=3000)


def test_dead_channel_test_is_scale_free():
    from bbselect.scoring.stats import channel_stats

    rng = np.random.default_rng(0)
    gmp = rng.random((6, 10)) + 0.1
    gmp[:, :3] = 0.0  # three channels never fire
    gap = gmp / 2
    ref = channel_stats(gap, gmp)
    assert ref["dead_fraction"] == pytest.approx(0.3)
    for scale in (1e-12, 1e-30, 1e6):
        got = channel_stats(gap * scale, gmp * scale)
        assert got["dead_fraction"] == ref["dead_fraction"], scale
    assert channel_stats(gap * 0, gmp * 0)["dead_fraction"] == 1.0  # a truly dead net stays dead


def test_random_init_network_is_not_reported_all_dead(clean):
    """The real random-init MobileNet's pooled values at c5 are ~1e-17; with an absolute floor of 1e-6
    every channel was 'dead' while a linear probe still found signal."""
    backbones, _ = clean["scores"]
    gmp = np.stack([np.load(p)["gmp"] for p in sorted((clean["run"] / "maps").rglob("*.npz"))])
    assert 0 < gmp.max() < 1e-6  # the scale that fooled the absolute floor
    assert backbones[0]["channels_stats"]["dead_fraction"] < 0.5
