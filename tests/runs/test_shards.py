"""Shards: the scheduler environment -> I/N (one case per scheduler), the merge set check, the
shipped array-job examples. Pure functions and shell stubs: no model is built here."""

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from bbselect.errors import InputError, UsageError
from bbselect.runs.shards import Shard, from_environment, resolve_shard, shard_of
from bbselect.runs.shardset import ShardPart, check_set, find_runs

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- environment -> shard

@pytest.mark.parametrize("env, expected", [
    # sbatch --array=1-4: Slurm numbers tasks 1..4
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4",
      "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "1"}, (3, 4)),
    # --array=0-7: 0-based ids; shard = id - min + 1
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "7"}, (1, 8)),
    ({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "8"}, (8, 8)),
    # --array=0-12:4 -> ids 0, 4, 8, 12: four shards
    ({"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "12",
      "SLURM_ARRAY_TASK_STEP": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, (3, 4)),
    ({"JOB_COMPLETION_INDEX": "0", "BBSELECT_SHARDS": "5"}, (1, 5)),
    ({"JOB_COMPLETION_INDEX": "4", "BBSELECT_SHARDS": "5"}, (5, 5)),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "2", "BBSELECT_SHARDS": "3"}, (3, 3)),
    ({"BBSELECT_SHARD": "2/6", "GITHUB_ACTIONS": "true"}, (2, 6)),
])
def test_each_scheduler_gives_index_and_count(env, expected):
    shard = from_environment(env)
    assert (shard.index, shard.count) == expected
    assert shard.folder == f"shard-{expected[0]}-of-{expected[1]}"
    # every variable read is named with its value, and nothing that was not read
    assert shard.variables and all(env[k] == v for k, v in shard.variables.items())
    assert "GITHUB_ACTIONS" not in shard.variables


def test_variables_read_are_exactly_the_ones_used():
    env = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3",
           "SLURM_JOB_ID": "99", "HOME": "/root"}
    shard = from_environment(env)
    assert shard.source == "slurm"
    assert set(shard.variables) == {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX"}
    assert "SLURM_ARRAY_TASK_ID=2" in shard.describe()


def test_shards_option_gives_the_count_where_the_scheduler_does_not():
    assert from_environment({"JOB_COMPLETION_INDEX": "1"}, shards=4).text == "2/4"
    # --shards wins over the environment's BBSELECT_SHARDS only when they agree
    assert from_environment({"AWS_BATCH_JOB_ARRAY_INDEX": "0", "BBSELECT_SHARDS": "2"}, shards=2).text == "1/2"
    with pytest.raises(UsageError, match="contradicts"):
        from_environment({"AWS_BATCH_JOB_ARRAY_INDEX": "0", "BBSELECT_SHARDS": "2"}, shards=3)
    with pytest.raises(UsageError, match="contradicts"):  # Slurm knows its own array size
        from_environment({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"},
                         shards=8)


@pytest.mark.parametrize("env, shards, message", [
    ({}, 0, "no array-job index in the environment"),
    ({"GITHUB_ACTIONS": "true"}, 0, "matrix.shard"),
    ({"JOB_COMPLETION_INDEX": "0"}, 0, "pass --shards N"),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "x", "BBSELECT_SHARDS": "2"}, 0, "AWS_BATCH_JOB_ARRAY_INDEX='x' is not an integer"),
    ({"JOB_COMPLETION_INDEX": "4"}, 4, "outside 0..3"),
    ({"SLURM_ARRAY_TASK_ID": "3"}, 0, "array size is unknown"),
    ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}, 0, "not in the array"),
    # --array=1,3,5: three tasks, but not one contiguous range
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "5",
      "SLURM_ARRAY_TASK_COUNT": "3"}, 0, "not one contiguous range"),
    ({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4",
      "JOB_COMPLETION_INDEX": "0"}, 0, "several schedulers"),
    ({"BBSELECT_SHARD": "3/2"}, 0, "between 1 and N"),
])
def test_unusable_environment_is_a_clear_user_error(env, shards, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        from_environment(env, shards)


def test_no_scheduler_error_names_every_variable_looked_for():
    with pytest.raises(UsageError) as err:
        from_environment({})
    for var in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "BBSELECT_SHARD"):
        assert var in str(err.value)


def test_resolve_shard_explicit_auto_and_none():
    assert resolve_shard(None, 0, {"SLURM_ARRAY_TASK_ID": "1"}) is None  # no --shard: env is ignored
    assert resolve_shard("2/3", 0, {}) == Shard(2, 3, "option")
    assert resolve_shard("auto", 0, {"BBSELECT_SHARD": "1/2"}).text == "1/2"
    assert resolve_shard("AUTO", 3, {"JOB_COMPLETION_INDEX": "2"}).text == "3/3"
    for spec, shards, message in (("1/4", 3, "contradicts"), (None, 3, "needs --shard auto"),
                                  ("one", 0, "expected I/N"), ("auto", -1, "positive")):
        with pytest.raises(UsageError, match=message):
            resolve_shard(spec, shards, {})


def test_shard_of_is_a_stable_partition():
    rels = [f"d{i % 3}/img{i}.jpg" for i in range(300)]
    parts = {i: [r for r in rels if shard_of(r, 4) == i] for i in range(1, 5)}
    assert sorted(r for p in parts.values() for r in p) == sorted(rels)
    assert all(40 < len(p) < 110 for p in parts.values())  # roughly even: 75 expected each
    assert shard_of("a/b.png", 7) == shard_of("a/b.png", 7)


# ---------------------------------------------------------------- the merge set check

def _part(i, n, rels, path=None, **kw):
    settings = {"images": "imgs", "backbones": ["resnet50"], "seed": 0, "shard": f"{i}/{n}",
                "name": f"shard-{i}-of-{n}", **kw.pop("settings", {})}
    return ShardPart(path or f"shard-{i}-of-{n}", f"{i}/{n}", settings,
                     [r for r in rels if shard_of(r, n) == i], **kw)


RELS = [f"img{i}.png" for i in range(40)]


def test_complete_set_passes_and_reports_no_missing():
    check = check_set([_part(i, 3, RELS) for i in (3, 1, 2)])
    assert check.complete and check.count == 3 and check.present == [1, 2, 3] and check.missing == []


def test_missing_shard_is_partial_not_a_problem():
    check = check_set([_part(1, 3, RELS), _part(3, 3, RELS)])
    assert not check.problems and check.missing == [2] and not check.complete
    assert "missing 2/3" in check.partial_note() and "2 of 3" in check.partial_note()


@pytest.mark.parametrize("parts, message", [
    # the case: 1/2 + 2/3 merged with exit 0 and 23 of 30 images
    (lambda: [_part(1, 2, RELS), _part(2, 3, RELS)], "different sets"),
    (lambda: [_part(1, 2, RELS), _part(1, 2, RELS, path="copy"), _part(2, 2, RELS)], "shard 1 appears 2 times"),
    (lambda: [_part(1, 2, RELS), _part(2, 2, RELS, settings={"seed": 1})], "differ from shard-1-of-2 in seed"),
    (lambda: [_part(1, 2, RELS, version="0.1.0"), _part(2, 2, RELS, version="0.2.0")], "bbselect version"),
    (lambda: [_part(1, 2, RELS, folder={"files": 40, "digest": "a"}),
              _part(2, 2, RELS, folder={"files": 41, "digest": "b"})], "image folder contents"),
    (lambda: [_part(1, 2, RELS, backbones={"resnet50": {"md5": "x"}}),
              _part(2, 2, RELS, backbones={"resnet50": {"md5": "y"}})], "backbones or weights"),
    (lambda: [_part(1, 2, RELS), ShardPart("whole", None, {"images": "imgs"}, RELS)], "not a shard run"),
    (lambda: [ShardPart("s1", "1/2", {}, RELS), _part(2, 2, RELS)], "do not belong to shard 1/2"),
])
def test_mismatched_sets_are_always_refused(parts, message):
    check = check_set(parts())
    assert any(message in p for p in check.problems), check.problems


def test_output_only_settings_may_differ():
    a = _part(1, 2, RELS, settings={"figures": "none", "output": "/a"})
    b = _part(2, 2, RELS, settings={"figures": "12", "output": "/b", "overlay": True})
    assert check_set([a, b]).complete


def test_find_runs_takes_a_parent_folder_a_glob_or_run_folders(tmp_path):
    parent = tmp_path / "photos"
    for i in (2, 1, 10):
        (parent / f"shard-{i}-of-10").mkdir(parents=True)
    (parent / "notes").mkdir()  # not a shard folder: ignored
    from_parent = find_runs([parent])
    assert [p.name for p in from_parent] == ["shard-1-of-10", "shard-2-of-10", "shard-10-of-10"]
    assert [p.name for p in find_runs([str(parent / "shard-1*")])] == ["shard-1-of-10", "shard-10-of-10"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    assert find_runs([tmp_path / "run"]) == [tmp_path / "run"]
    with pytest.raises(InputError, match="no folder matches"):
        find_runs([str(tmp_path / "nothing-*")])
    with pytest.raises(InputError, match="neither a run folder"):
        find_runs([tmp_path])
    with pytest.raises(InputError, match="twice"):
        find_runs([parent, parent / "shard-1-of-10"])


# ---------------------------------------------------------------- the shipped examples

def _stub(bin_dir: Path, name: str, body: str) -> None:
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)


def test_slurm_example_submits_array_then_dependent_merge(tmp_path):
    script = ROOT / "examples" / "slurm-array.sbatch"
    header = [ln for ln in script.read_text().splitlines() if ln.startswith("#SBATCH")]
    assert any(ln.split()[1].startswith("--array=1-") for ln in header)
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    _stub(bin_dir, "sbatch", f'echo "sbatch $*" >> {calls}; echo 4242\n')
    _stub(bin_dir, "bbselect", f'echo "bbselect $*" >> {calls}\n')
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    # run by hand: submits the array, then the merge with afterok on the array's job id
    subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, check=True, capture_output=True)
    lines = calls.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("sbatch --parsable")
    assert "--dependency=afterok:4242" in lines[1] and "bbselect merge" in lines[1]
    # run by Slurm as an array task: one shard, numbered from the environment
    calls.unlink()
    task_env = {**env, "SLURM_JOB_ID": "4243", "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "8"}
    subprocess.run(["bash", str(script)], env=task_env, cwd=tmp_path, check=True, capture_output=True)
    (line,) = calls.read_text().splitlines()
    assert line.startswith("bbselect compare") and "--shard auto" in line


def test_k8s_example_is_an_indexed_job_with_a_merge_job_on_a_shared_volume():
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / "k8s-indexed-job.yaml").read_text()) if d]
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
    shards = next(j for j in jobs.values() if j["spec"].get("completionMode") == "Indexed")
    merge = next(j for j in jobs.values() if j is not shards)
    n = shards["spec"]["completions"]
    container = shards["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BBSELECT_SHARDS"] == str(n)  # the count the Indexed Job does not export itself
    assert {"KERAS_HOME", "BBSELECT_CACHE"} <= set(env)
    command = " ".join(container.get("command", []) + container.get("args", []))
    assert "--shard auto" in command
    merge_spec = merge["spec"]["template"]["spec"]
    assert "bbselect merge" in " ".join(merge_spec["containers"][0].get("command", []) + merge_spec["containers"][0].get("args", []))
    # one claim, shared by every pod, that several nodes can mount
    claims = {v["persistentVolumeClaim"]["claimName"] for j in (shards, merge)
              for v in j["spec"]["template"]["spec"]["volumes"]}
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert claims == {pvc["metadata"]["name"]} and "ReadWriteMany" in pvc["spec"]["accessModes"]


def test_github_example_parses_and_names_each_matrix_shard():
    wf = yaml.safe_load((ROOT / "examples" / "github-actions-shards.yml").read_text())
    n = len(wf["jobs"]["shard"]["strategy"]["matrix"]["shard"])
    step = next(s for s in wf["jobs"]["shard"]["steps"] if "bbselect compare" in s.get("run", ""))
    assert "--shard auto" in step["run"] and step["env"]["BBSELECT_SHARD"] == "${{ matrix.shard }}/" + str(n)
    assert from_environment({"BBSELECT_SHARD": f"2/{n}"}).folder == f"shard-2-of-{n}"
    assert any("bbselect merge" in s.get("run", "") for s in wf["jobs"]["merge"]["steps"])
