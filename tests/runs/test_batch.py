"""Cache, resume, re-render, CI batch mode (JSON, exit codes, gates) and shard + merge."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_images

from conftest import read_scores, refuse_model_builds
from bbselect.cli import main
from bbselect.store import cache

FAST = ["-b", "mobilenetv2:layer=c3", "-b", "resnet50", "--weights", "none", "--input-size", "64",
        "--batch-size", "2", "-q"]


def run(args):
    return CliRunner().invoke(main, args)





# ---------------------------------------------------------------- cache keys

def test_every_key_component_changes_the_key_and_nothing_else_does():
    base = dict(name="resnet50", options={}, layer="c5", weights_id="none:seed=0", input_size=224, resize="stretch")
    k0 = cache.backbone_key(**base)
    assert cache.backbone_key(**dict(base)) == k0
    changes = dict(name="vgg16", options={"alpha": 0.5}, layer="c4", weights_id="none:seed=1",
                   input_size=256, resize="letterbox")
    for field, value in changes.items():
        assert cache.backbone_key(**{**base, field: value}) != k0, field
    assert cache.entry_key(k0, "a" * 64) != cache.entry_key(k0, "b" * 64)  # image content
    # option order does not matter
    assert cache.backbone_key(**{**base, "options": {"a": 1, "b": 2}}) == \
        cache.backbone_key(**{**base, "options": {"b": 2, "a": 1}})


def test_warm_run_builds_no_model_and_reproduces_scores(tmp_path, image_folder, monkeypatch):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "cold", *FAST]).exit_code == 0
    # renaming files and changing figure settings keeps every entry: keys hash content, not names
    (image_folder / "img1.png").rename(image_folder / "renamed.png")
    refuse_model_builds(monkeypatch)
    res = run(["compare", str(image_folder), "-o", str(out), "--name", "warm", "--figures", "none", *FAST])
    assert res.exit_code == 0, res.output
    cold, warm = read_scores(out / "cold"), read_scores(out / "warm")
    for a, b in zip(cold[0], warm[0]):  # same maps -> same numbers (float sums may differ in the last bit)
        assert a["separation"] == pytest.approx(b["separation"], rel=1e-12)
        for key in ("dead_fraction", "effective_rank"):
            assert a["channels_stats"][key] == pytest.approx(b["channels_stats"][key], rel=1e-9)
    timing = json.loads((out / "warm" / "run.json").read_text())["timing"]["backbones"]
    assert all(t["cached"] == 3 and t["computed"] == 0 for t in timing.values())


def test_warm_run_without_changes_is_identical(tmp_path, image_folder, monkeypatch):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "cold", *FAST]).exit_code == 0
    refuse_model_builds(monkeypatch)
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "warm", *FAST]).exit_code == 0
    assert read_scores(out / "cold") == read_scores(out / "warm")


def test_a_cache_hit_under_another_name_keeps_this_runs_label_and_its_speed(tmp_path, image_folder, monkeypatch):
    """`-b mobilenetv2:layer=c3` and `-b mobilenetv2 --layer c3` are the same network (one cache entry):
    the second run names it as it was asked for, and its measured speed is found under that name."""
    out = tmp_path / "r"
    small = ["--weights", "none", "--input-size", "64", "--batch-size", "2", "-q", "--figures", "none"]
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "a", "-b", "mobilenetv2:layer=c3",
                *small]).exit_code == 0
    refuse_model_builds(monkeypatch)
    res = run(["compare", str(image_folder), "-o", str(out), "--name", "b", "-b", "mobilenetv2", "--layer", "c3", *small])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "b" / "scores.json").read_text())
    assert [b["label"] for b in s["backbones"]] == ["mobilenetv2"] and s["backbones"][0]["stage"] == "c3"
    speed = s["timing"]["backbones"]["mobilenetv2"]
    assert speed["cached"] == 3 and speed["ms_per_image"] > 0


def test_changed_setting_misses_the_cache(tmp_path, image_folder, monkeypatch):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), *FAST]).exit_code == 0
    refuse_model_builds(monkeypatch)
    res = run(["compare", str(image_folder), "-o", str(out), *FAST, "--input-size", "96"])
    assert res.exit_code == 70 and "a model was built" in res.output  # an unexpected error: exit 70


def test_no_cache_recomputes(tmp_path, image_folder, isolated_cache):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--no-cache", *FAST]).exit_code == 0
    assert not isolated_cache.exists()


def test_cache_eviction_respects_the_cap(tmp_path):
    c = cache.Cache(tmp_path / "c", max_mb=0)
    src = tmp_path / "m.npz"
    np.savez(src, a=np.zeros(10))
    c.store("ab" * 32, src)
    assert c.has("ab" * 32) and c.size_bytes() > 0
    assert c.evict() == 1 and c.size_bytes() == 0


# ---------------------------------------------------------------- resume and re-render

def test_resume_after_interruption_keeps_finished_images(tmp_path, image_folder, monkeypatch):
    from bbselect.store import mapfiles

    real_save, calls = mapfiles.save_maps, []

    def flaky(path, arrays):
        calls.append(path)
        if len(calls) == 3:  # killed while writing the third maps file: a partial temp file stays
            path.with_name(path.name + ".tmp").write_bytes(b"partial")
            raise KeyboardInterrupt
        real_save(path, arrays)

    monkeypatch.setattr(mapfiles, "save_maps", flaky)
    out = tmp_path / "r"
    res = run(["compare", str(image_folder), "-o", str(out), "--name", "job", "--no-cache", *FAST])
    assert res.exit_code == 130 and "resume with" in res.output and "Traceback" not in res.output
    run_dir = out / "job"
    assert not (run_dir / "scores.json").exists()  # no report posing as complete
    monkeypatch.setattr(mapfiles, "save_maps", real_save)
    res = run(["compare", "--resume", str(run_dir), "--format", "json"])
    assert res.exit_code == 0, res.output
    timing = json.loads((run_dir / "run.json").read_text())["timing"]["backbones"]
    assert timing["mobilenetv2:layer=c3"]["resumed"] == 2 and timing["mobilenetv2:layer=c3"]["computed"] == 1
    assert timing["resnet50"]["computed"] == 3
    # the resumed run's numbers equal an uninterrupted run's
    ref = run(["compare", str(image_folder), "-o", str(out), "--name", "ref", "--no-cache", *FAST])
    assert ref.exit_code == 0
    assert read_scores(run_dir)[0] == read_scores(out / "ref")[0]


def test_report_rerenders_without_a_model(tmp_path, image_folder, monkeypatch):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--figures", "none", *FAST]).exit_code == 0
    run_dir = out / "imgs"
    assert not (run_dir / "figures").exists()
    before = read_scores(run_dir)[0]
    refuse_model_builds(monkeypatch)
    res = run(["report", str(run_dir), "--figures", "all"])
    assert res.exit_code == 0, res.output
    assert len(list((run_dir / "figures" / "images").glob("*.png"))) == 3
    assert read_scores(run_dir)[0] == before
    assert run(["report", str(tmp_path)]).exit_code == 3  # not a run folder


# ---------------------------------------------------------------- CI mode

CI_KEYS = {"schema_version", "status", "exit_code", "run_dir", "n_images", "n_skipped", "random_weights",
           "best", "evidence", "headline", "cross_family", "ranking", "gates", "skipped", "timing",
           "pareto", "partial"}  # pareto: Pareto set by GFLOPs (issue 12); partial: merged from a partial shard set (issue 14)
RANK_KEYS = {"rank", "label", "layer", "stage", "weights", "primary", "labels", "box_auroc", "separation",
             "tied_with", "scores", "degenerate", "dead_fraction", "effective_rank", "params", "gflops",
             "backbone_scores",  # every backbone-level score of every tier, as the CSV's columns (issue 24)
             "stride", "preprocess",  # the tapped layer's stride and the input preprocessing used (issue 21)
             "imagenet_top1"}  # the static prior (issue 22)


def test_json_output_is_stable_and_deterministic(tmp_path, image_folder):
    out = tmp_path / "r"
    docs = []
    for name in ("a", "b"):
        res = run(["compare", str(image_folder), "-o", str(out), "--name", name, "--format", "json",
                   "--no-cache", "--figures", "none", *FAST])
        assert res.exit_code == 0
        docs.append(json.loads(res.stdout))
    a, b = docs
    assert set(a) == CI_KEYS and a["schema_version"] == 2 and a["status"] == "ok"
    assert all(set(r) == RANK_KEYS for r in a["ranking"])
    for d in docs:
        d.pop("timing"), d.pop("run_dir")
    assert a == b  # identical apart from timings and the folder name
    sa, sb = (json.loads((out / n / "scores.json").read_text()) for n in ("a", "b"))
    for s in (sa, sb):
        s.pop("timing"), s["run"].pop("name")
    assert sa == sb


@pytest.mark.parametrize(
    "extra, code",
    [
        ([], 0),
        (["--fail-under", "separation=2"], 1),
        (["--expect-best", "resnet50", "--fail-under", "effective_rank=0"], None),  # 0 or 1 by ranking
        (["--fail-under", "sepration=1"], 2),
        (["--shard", "3/2"], 2),
    ],
)
def test_exit_codes_and_gates(tmp_path, image_folder, extra, code):
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), "--format", "json",
               "--figures", "none", *FAST, *extra])
    doc = json.loads(res.stdout)
    assert doc["exit_code"] == res.exit_code
    if code is None:
        best = doc["ranking"][0]
        expected = 0 if best["label"] == "resnet50" or "resnet50" in best["tied_with"] else 1
        assert res.exit_code == expected
    else:
        assert res.exit_code == code
    if code == 1:
        assert doc["status"] == "gate_failed" and doc["gates"][0]["passed"] is False
    if code == 2:
        assert doc["status"] == "error" and "did you mean 'separation'" in doc["error"] or "--shard" in doc["error"]


def test_input_and_weights_exit_codes_in_json(tmp_path, monkeypatch):
    res = run(["compare", str(tmp_path / "missing"), "--format", "json", *FAST])
    assert res.exit_code == 3 and json.loads(res.stdout)["exit_code"] == 3
    from keras.src.utils import file_utils

    def fail(fname=None, origin=None, *a, **k):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2]")

    monkeypatch.setattr(file_utils, "get_file", fail)
    make_images(tmp_path / "imgs", 1)
    res = run(["compare", str(tmp_path / "imgs"), "-b", "vgg16", "--input-size", "64", "--format", "json",
               "-o", str(tmp_path / "o")])
    assert res.exit_code == 4 and "--weights none" in json.loads(res.stdout)["error"]


# ---------------------------------------------------------------- shards

def test_shards_partition_images_and_merge_equals_unsharded(tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, 7)
    out = tmp_path / "r"
    args = [str(folder), "-o", str(out), "--no-cache", "--figures", "none", *FAST]
    assert run(["compare", *args, "--name", "whole"]).exit_code == 0
    for i in (1, 2, 3):  # an empty shard (possible in a tiny folder) still writes its folder
        res = run(["compare", *args, "--name", "s", "--shard", f"{i}/3"])
        assert res.exit_code == 0, res.output
    parts = [out / "s" / f"shard-{i}-of-3" for i in (1, 2, 3)]
    rels = [im["rel"] for p in parts for im in json.loads((p / "run.json").read_text())["images"]]
    assert sorted(rels) == sorted(f"img{i}.png" for i in range(7)) and len(set(rels)) == 7  # a partition
    res = run(["merge", *map(str, parts), "-o", str(out), "--name", "merged"])
    assert res.exit_code == 0, res.output
    assert read_scores(out / "merged") == read_scores(out / "whole")  # exactly equal, CIs included


def test_merge_refuses_different_settings(tmp_path, image_folder):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "a", *FAST]).exit_code == 0
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "b", *FAST, "--seed", "3"]).exit_code == 0
    res = run(["merge", str(out / "a"), str(out / "b"), "-o", str(out)])
    assert res.exit_code == 2 and "seed" in res.output


def test_json_stdout_stays_clean_when_keras_prints(tmp_path, monkeypatch):
    """Keras announces downloads on stdout; with --format json stdout must hold only the JSON."""
    from keras.src.utils import file_utils

    def noisy_fail(fname=None, origin=None, *a, **k):
        print(f"Downloading data from {origin}")
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2]")

    monkeypatch.setattr(file_utils, "get_file", noisy_fail)
    make_images(tmp_path / "imgs", 1)
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "imgs"), "-b", "vgg16", "--input-size", "64",
                                    "--format", "json", "-o", str(tmp_path / "o")])
    assert res.exit_code == 4
    assert json.loads(res.stdout)["status"] == "error"  # parses: nothing else on stdout


# ---------------------------------------------------------------- one pass for all backbones

def test_each_image_is_decoded_once_for_all_backbones(tmp_path, image_folder, monkeypatch):
    from bbselect.inputs import decode as dec

    # count real decodes (load_image): no labels, no boxes, so --stability auto also makes each image's
    # augmented view, which must come from the same decode
    calls = []
    real = dec.load_image
    monkeypatch.setattr(dec, "load_image", lambda path, *a, **k: calls.append(path.name) or real(path, *a, **k))
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "both", "--no-cache",
                "--figures", "none", *FAST]).exit_code == 0
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 3  # 3 images, 2 backbones, 3 decodes


def test_maps_do_not_depend_on_which_backbones_shared_the_pass(tmp_path, image_folder):
    out = tmp_path / "r"
    opts = ["--weights", "none", "--input-size", "64", "--batch-size", "2", "-q", "--no-cache", "--figures", "none"]
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "both",
                "-b", "mobilenetv2:layer=c3", "-b", "resnet50", *opts]).exit_code == 0
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "alone", "-b", "resnet50", *opts]).exit_code == 0
    both, alone = sorted((out / "both/maps/resnet50").glob("*.npz")), sorted((out / "alone/maps/resnet50").glob("*.npz"))
    assert [p.name for p in both] == [p.name for p in alone] and len(both) == 3
    for a, b in zip(both, alone):
        with np.load(a) as x, np.load(b) as y:
            assert x.files == y.files
            for k in x.files:
                assert np.array_equal(x[k], y[k]), (a.name, k)


def test_report_draws_every_figure_in_worker_processes(tmp_path):
    """26 images: more than a contact sheet holds, enough for the worker pool; nothing may go missing."""
    from PIL import Image

    folder = tmp_path / "many"
    make_images(folder, n=26, size=(48, 40))
    out = tmp_path / "r"
    assert run(["compare", str(folder), "-o", str(out), "--figures", "none", *FAST]).exit_code == 0
    run_dir = out / "many"
    res = run(["report", str(run_dir), "--figures", "all"])
    assert res.exit_code == 0, res.output
    summary = json.loads((run_dir / "scores.json").read_text())
    drawn = sorted((run_dir / "figures" / "images").glob("*.png"))
    assert len(drawn) == 26
    assert sorted(run_dir / im["figure"] for im in summary["images"]) == drawn
    expected = [f"contact_{k}.png" for k in ("max", "mean")] + ["overview.png"]  # no sum sheet: sum = C × mean
    assert all((run_dir / "figures" / name).is_file() for name in expected)
    for path in drawn + [run_dir / "figures" / name for name in expected]:
        with Image.open(path) as im:
            im.verify()  # a complete PNG, not a half-written file
    html = (run_dir / "report.html").read_text()
    assert all(im["figure"] in html for im in summary["images"])


def test_ctrl_c_while_drawing_ends_cleanly(tmp_path):
    """A real SIGINT to the whole process group (what Ctrl-C sends) while figure workers are drawing."""
    import glob
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "imgs"
    make_images(folder, n=12, size=(48, 40))
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "bbselect", "compare", str(folder), "-o", str(out), "--figures", "all",
           "--no-cache", "-b", "mobilenetv2", "--weights", "none", "--input-size", "64"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not glob.glob(str(out / "*" / "figures" / "images" / "*.png")) and proc.poll() is None:
        assert time.time() < deadline, "no figure appeared"
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume with" in err and "Traceback" not in err
    assert not (out / "imgs" / "report.html").exists()  # no report posing as complete
