"""Scale-out end to end: shard processes started together as a Slurm array's tasks would be, then one
merge equal to the unsharded run; partial and mismatched sets; empty shards; the device and
precision facts. Tiny images, one backbone with random weights at 64 px."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_images, read_scores
from test_batch import run  # the CLI runner

ROOT = Path(__file__).resolve().parents[2]
FAST = ["-b", "mobilenetv2:layer=c3", "--weights", "none", "--input-size", "64", "--batch-size", "2",
        "--figures", "none", "--no-cache"]


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """Two shard processes started at once with a Slurm array task's environment (--array=0-1),
    plus the unsharded run of the same folder."""
    root = tmp_path_factory.mktemp("scaleout")
    folder = root / "imgs"
    make_images(folder, 9)
    out = root / "r"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               BBSELECT_CACHE=str(root / "cache"))
    for k in [k for k in env if k.startswith(("SLURM_", "JOB_COMPLETION", "AWS_BATCH", "BBSELECT_SHARD"))]:
        del env[k]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "bbselect", "compare", str(folder), "-o", str(out), "--name", "big",
         "--shard", "auto", *FAST],
        env={**env, "SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "1",
             "SLURM_ARRAY_JOB_ID": "77"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    logs = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        logs.append(err)
    whole = run(["compare", str(folder), "-o", str(out), "--name", "whole", "-q", *FAST])
    assert whole.exit_code == 0, whole.output
    return {"folder": folder, "out": out, "logs": logs}


def test_parallel_shard_processes_merge_to_the_unsharded_run(sharded):
    out = sharded["out"]
    parts = sorted((out / "big").iterdir())
    assert [p.name for p in parts] == ["shard-1-of-2", "shard-2-of-2"]
    for i, (p, log) in enumerate(zip(parts, sharded["logs"])):
        shard = json.loads((p / "run.json").read_text())["run"]
        assert shard["shard"] == f"{i + 1}/2"
        assert shard["shard_source"]["variables"] == {"SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_MIN": "0",
                                                      "SLURM_ARRAY_TASK_MAX": "1"}
        assert f"SLURM_ARRAY_TASK_ID={i}" in log  # the variables read are named in the log too
    res = run(["merge", str(out / "big"), "-o", str(out), "--name", "merged", "-q"])
    assert res.exit_code == 0, res.output
    assert read_scores(out / "merged") == read_scores(out / "whole")  # exactly equal, CIs included
    assert "partial" not in json.loads((out / "merged" / "run.json").read_text())["run"]


def test_partial_set_is_refused_unless_allowed_and_then_marked(sharded):
    out, big = sharded["out"], sharded["out"] / "big"
    args = [str(big / "shard-1-of-2"), "-o", str(out), "--format", "json"]
    res = run(["merge", *args, "--name", "refused"])
    assert res.exit_code == 2 and "missing 2/2" in json.loads(res.stdout)["error"]
    assert not (out / "refused").exists()  # refused before any folder is made
    res = run(["merge", *args, "--name", "partial", "--allow-partial"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["partial"] and "missing 2/2" in doc["partial"]
    manifest = json.loads((out / "partial" / "run.json").read_text())
    assert manifest["run"]["partial"]["missing"] == [2]
    n_whole = len(json.loads((out / "whole" / "run.json").read_text())["images"])
    n_2 = len(json.loads((big / "shard-2-of-2" / "run.json").read_text())["images"])
    assert len(manifest["images"]) == n_whole - n_2
    for report in ("report.md", "report.html"):
        assert "PARTIAL: merged 1 of 2 shards" in (out / "partial" / report).read_text()


def test_duplicate_and_foreign_shards_are_refused(sharded, tmp_path):
    big = sharded["out"] / "big"
    copy = tmp_path / "copy" / "shard-2-of-2"
    shutil.copytree(big / "shard-2-of-2", copy)
    res = run(["merge", str(big), str(copy), "-o", str(tmp_path)])
    assert res.exit_code == 2 and "shard 2 appears 2 times" in res.output
    # the case: shards 1/2 + 2/3 merged with exit 0
    res = run(["compare", str(sharded["folder"]), "-o", str(tmp_path), "--name", "other", "--shard", "2/3", "-q", *FAST])
    assert res.exit_code == 0, res.output
    res = run(["merge", str(big / "shard-1-of-2"), str(tmp_path / "other" / "shard-2-of-3"), "-o", str(tmp_path),
               "--allow-partial"])
    assert res.exit_code == 2 and "different sets" in res.output  # --allow-partial does not cover this


def test_a_finished_shard_folder_is_never_overwritten(sharded):
    res = run(["compare", str(sharded["folder"]), "-o", str(sharded["out"]), "--name", "big", "--shard", "2/2", "-q",
               *FAST])
    assert res.exit_code == 2 and "already holds a finished run" in res.output


def test_empty_shards_still_make_a_complete_set(tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, 2)
    out = tmp_path / "r"
    for i in range(1, 5):  # 2 images in 4 shards: at least 2 shards are empty
        res = run(["compare", str(folder), "-o", str(out), "--name", "s", "--shard", f"{i}/4", "-q", *FAST])
        assert res.exit_code == 0, res.output
    empty = [p for p in (out / "s").iterdir() if not json.loads((p / "run.json").read_text())["images"]]
    assert len(empty) >= 2 and not any((p / "report.html").exists() for p in empty)
    assert run(["merge", str(out / "s"), "-o", str(out), "--name", "merged", "-q"]).exit_code == 0
    assert run(["compare", str(folder), "-o", str(out), "--name", "whole", "-q", *FAST]).exit_code == 0
    assert read_scores(out / "merged") == read_scores(out / "whole")


def test_shard_auto_without_a_scheduler_fails_before_any_work(tmp_path, image_folder, monkeypatch):
    for k in [k for k in os.environ if k.startswith(("SLURM_", "JOB_COMPLETION", "AWS_BATCH", "BBSELECT_SHARD"))]:
        monkeypatch.delenv(k)
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), "--shard", "auto", "-q", *FAST])
    assert res.exit_code == 2 and "no array-job index" in res.output
    assert not (tmp_path / "r").exists()
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), "--shard", "auto", "--shards", "2", "-q",
               "--name", "k", *FAST])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r" / "k" / "shard-2-of-2" / "run.json").read_text())["run"]["shard_source"] == {
        "index": 2, "count": 2, "source": "kubernetes", "variables": {"JOB_COMPLETION_INDEX": "1"}}


# ---------------------------------------------------------------- device and precision

def _maps(run_dir):
    manifest = json.loads((run_dir / "run.json").read_text())
    meta = manifest["backbones"][0]
    return {im["id"]: dict(np.load(run_dir / meta["maps_dir"] / f"{im['id']}.npz")) for im in manifest["images"]}


def test_mixed_precision_is_float16_maps_a_separate_cache_entry_and_stated(tmp_path, image_folder):
    out = tmp_path / "r"
    # vgg16 at c3: random-init activations stay well inside float16's range (MobileNets underflow)
    args = [str(image_folder), "-o", str(out), "-b", "vgg16:layer=c3", "--weights", "none", "--input-size", "64",
            "--batch-size", "2", "--figures", "none"]
    assert run(["compare", *args, "--name", "f32", "-q"]).exit_code == 0
    res = run(["compare", *args, "--name", "f16", "--mixed-precision"])
    assert res.exit_code == 0, res.output
    m16 = json.loads((out / "f16" / "run.json").read_text())
    # another cache key: computed, not copied from the float32 run's entries
    assert all(t["computed"] == 3 and t["cached"] == 0 for t in m16["timing"]["backbones"].values())
    assert m16["run"]["precision"] == "mixed_float16"
    a, b = _maps(out / "f32"), _maps(out / "f16")
    for image_id in a:
        x, y = a[image_id]["mean"], b[image_id]["mean"]
        assert y.dtype == np.float32 and not np.array_equal(x, y)  # float16 arithmetic really happened
        np.testing.assert_allclose(y, x, rtol=0, atol=2e-2 * float(np.abs(x).max()))  # ... and is close
    assert "float16" in (out / "f16" / "report.md").read_text()
    assert "float16" in res.output  # the log says so too


def test_decoding_uses_one_thread_per_core_and_prefetches_two_batches(monkeypatch):
    import threading
    import time

    from bbselect.models import device
    from bbselect.runs import engine

    monkeypatch.setattr(device, "cores", lambda: 3)
    assert device.decode_threads() == 3 and device.prefetch_images(4) == 8 and device.prefetch_images(1) == 3
    lock, state, submitted = threading.Lock(), {"now": 0, "peak": 0}, []

    def work(ref):
        with lock:
            submitted.append(ref)
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return np.zeros(1), (1, 1)

    gen = engine.decoded(list(range(40)), work, lambda ref, why: None, ahead=device.prefetch_images(4),
                         workers=device.decode_threads())
    assert next(gen)[0] == 0
    time.sleep(0.5)  # the consumer is busy: decoding runs ahead, but only so far
    assert state["peak"] == 3  # every thread decodes at once
    assert 8 <= len(submitted) <= 9  # two batches of 4 ahead (+ the one refilled after the first yield)
    assert [item[0] for item in gen] == list(range(1, 40))  # folder order kept


def test_device_is_named_in_log_run_json_and_report(tmp_path, image_folder, monkeypatch):
    from bbselect.runs import engine

    seen, real = {}, engine.decoded
    monkeypatch.setattr(engine, "decoded", lambda *a, **k: (seen.update(k), real(*a, **k))[1])
    res = run(["compare", str(image_folder), "-o", str(tmp_path), "--name", "d", *FAST])
    assert res.exit_code == 0, res.output
    cores = len(os.sched_getaffinity(0))
    assert seen == {"ahead": max(2 * 2, cores), "workers": cores}  # 2 batches of 2 ahead, a thread per core
    device = json.loads((tmp_path / "d" / "run.json").read_text())["run"]["device"]
    assert device["kind"] in ("CPU", "GPU") and device["name"]
    assert device["decode_threads"] == len(os.sched_getaffinity(0))
    assert f"device: {device['kind']}" in res.output
    assert device["name"] in (tmp_path / "d" / "report.md").read_text()
