"""Issue 20: run folders, the cache and determinism. One regression test per defect of the hostile pass
(items 1-5, 12, 14, 18; each failed on the code before its fix); docs/reliability.md lists them.

Everything read back from disk is untrusted: a run folder's ids, a cache entry, a shard's metadata.
Runs use the smallest real backbone (MobileNet v1, alpha 0.25, random weights, 64 px).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_images
from hypothesis import given
from hypothesis import strategies as hs

from bbselect.cli import main
from bbselect.errors import InputError
from bbselect.inputs.images import image_id
from bbselect.store import rundir

LABEL = "mobilenet:alpha=0.25"
FAST = ["-b", LABEL, "--weights", "none", "--input-size", "64", "--batch-size", "2", "--figures", "none"]


def run(args):
    return CliRunner().invoke(main, args)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def clean_error(res, code: int, *fragments: str) -> None:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    for f in fragments:
        assert f in res.output, res.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A plain run; the two shards of the same folder ("set"); and two shards that cache in different
    folders, the second reading a byte-identical copy of the images folder ("split", issue item 18)."""
    root = tmp_path_factory.mktemp("runfolders")
    images = root / "imgs"
    make_images(images, 6)
    copy = shutil.copytree(images, root / "staged-copy")
    out = root / "r"
    res = run(["compare", str(images), "-o", str(out), "--name", "plain", *FAST, "-q",
               "--cache-dir", str(root / "cache")])
    assert res.exit_code == 0, res.output
    for i in (1, 2):
        res = run(["compare", str(images), "-o", str(out), "--name", "set", "--shard", f"{i}/2", *FAST, "-q",
                   "--cache-dir", str(root / "cache")])
        assert res.exit_code == 0, res.output
        res = run(["compare", str(images if i == 1 else copy), "-o", str(out), "--name", "split",
                   "--shard", f"{i}/2", *FAST, "-q", "--cache-dir", str(root / f"node-{i}-scratch")])
        assert res.exit_code == 0, res.output
    return {"root": root, "images": images, "plain": out / "plain", "set": out / "set", "split": out / "split"}


def scores(run_dir: Path):
    doc = json.loads((run_dir / "scores.json").read_text())
    return doc["backbones"], doc["images"]


def _edit_manifest(run_dir: Path, edit) -> None:
    doc = json.loads((run_dir / "run.json").read_text())
    edit(doc)
    (run_dir / "run.json").write_text(json.dumps(doc))


# ------------------------------------------------------------------ 1. ids read from run.json are untrusted

def test_report_refuses_an_image_id_that_leaves_the_run_folder(runs, tmp_path):
    """``bbselect report RUN --figures all`` wrote ``X.png`` outside the run folder for an id ``../../../X``."""
    outer = tmp_path / "outer"
    run_dir = shutil.copytree(runs["plain"], outer / "run")
    first = json.loads((run_dir / "run.json").read_text())["images"][0]["id"]
    maps = next((run_dir / "maps").iterdir())
    shutil.copyfile(maps / f"{first}.npz", outer / "X.npz")  # what the crafted id reads

    def craft(doc):
        doc["images"][0]["id"] = "../../../X"
    _edit_manifest(run_dir, craft)
    before = files_under(tmp_path)
    res = run(["report", str(run_dir), "--figures", "all"])
    clean_error(res, 3, "not a safe file name")
    assert files_under(tmp_path) == before  # nothing written anywhere, inside or outside


def test_merge_refuses_a_crafted_shard_before_writing_anything(runs, tmp_path):
    """``bbselect merge`` copied maps to ``<out>/../../../X.npz`` for a crafted shard's id."""
    shards = shutil.copytree(runs["set"], tmp_path / "shards" / "set")
    part = shards / "shard-1-of-2"
    first = json.loads((part / "run.json").read_text())["images"][0]["id"]
    maps = next((part / "maps").iterdir())
    shutil.copyfile(maps / f"{first}.npz", tmp_path / "shards" / "X.npz")

    def craft(doc):
        doc["images"][0]["id"] = "../../../../X"
    _edit_manifest(part, craft)
    before = files_under(tmp_path)
    res = run(["merge", str(shards), "-o", str(tmp_path / "merged")])
    clean_error(res, 3, "not a safe file name")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("edit", [
    lambda d: d["backbones"][0].update(maps_dir="../../elsewhere"),
    lambda d: d["backbones"][0].update(maps_dir="/tmp/abs"),
    lambda d: d["images"][0].update(id="/etc/passwd"),
    lambda d: d["images"][0].update(id=7),
    lambda d: d.update(images="all"),
])
def test_report_refuses_a_damaged_manifest_with_exit_3(runs, tmp_path, edit):
    run_dir = shutil.copytree(runs["plain"], tmp_path / "run")
    _edit_manifest(run_dir, edit)
    before = files_under(tmp_path)
    clean_error(run(["report", str(run_dir)]), 3, "run.json is damaged")
    assert files_under(tmp_path) == before


@given(hs.text(max_size=120))
def test_every_image_id_and_safe_name_is_one_safe_path_component(rel):
    assert rundir.is_safe_component(image_id(rel)) and rundir.is_safe_component(rundir.safe_name(rel))


@pytest.mark.parametrize("bad", ["..", ".", "", "a/b", "../x", ".hidden", "-rf", "x\x00y", "a\\b", "/abs", 3, None])
def test_inside_refuses_anything_but_one_safe_name(tmp_path, bad):
    with pytest.raises(InputError, match="not a safe file name"):
        rundir.inside(tmp_path, "maps", bad)
    assert rundir.inside(tmp_path, "maps", "a-1.b_c.npz") == tmp_path / "maps" / "a-1.b_c.npz"


# ------------------------------------------------------------------ 18. shards that cached elsewhere or read a copy

def test_merge_accepts_shards_that_differ_only_in_cache_folder_and_images_path(runs, tmp_path):
    """A Slurm array whose tasks cache on node-local scratch, one of them reading a staged copy of the
    folder: neither changes a result, so the merge equals the unsharded run."""
    res = run(["merge", str(runs["split"]), "-o", str(tmp_path), "--name", "merged", "-q"])
    assert res.exit_code == 0, res.output
    assert scores(tmp_path / "merged") == scores(runs["plain"])
    images = json.loads((tmp_path / "merged" / "run.json").read_text())["images"]
    assert all(len(im["sha256"]) == 64 for im in images)  # what identifies an image: its content


def test_merge_still_refuses_a_copy_that_holds_other_files(runs, tmp_path):
    split = shutil.copytree(runs["split"], tmp_path / "split")
    _edit_manifest(split / "shard-2-of-2", lambda d: d["run"]["folder"].update(files=7, digest="0" * 64))
    res = run(["merge", str(split), "-o", str(tmp_path / "out")])
    clean_error(res, 2, "image folder contents")
    assert "images" in res.output and not (tmp_path / "out").exists()
