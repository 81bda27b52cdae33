"""``bbselect merge``: combine shard run folders into one run whose scores equal an unsharded run's.

The folders come from ``shardset.find_runs`` (run folders, a parent of ``shard-I-of-N`` folders, or
a glob) and must pass ``shardset.check_set`` before anything is written: one complete set of the
same N, identical settings, no duplicates. ``allow_partial`` accepts a set with missing shards; the
merged run is then marked partial (``run.json`` → ``run.partial``, a warning in the reports, the
JSON summary's ``partial``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bbselect.config.schema import CompareConfig
from bbselect.errors import UsageError
from bbselect.progress import log
from bbselect.runs.finish import Outcome, finish, now
from bbselect.runs.runfolder import load_run
from bbselect.runs.shards import FOLDER
from bbselect.runs.shardset import ShardPart, check_set, find_runs
from bbselect.scoring import gates
from bbselect.store import rundir


def _part(path: Path, manifest: dict, cfg: CompareConfig) -> ShardPart:
    return ShardPart(
        str(path), manifest["run"].get("shard"), cfg.to_dict(), [im["rel"] for im in manifest["images"]],
        skipped=[s["rel"] for s in manifest["skipped"]], version=manifest.get("bbselect"),
        backbones={b["label"]: b.get("weights") for b in manifest["backbones"]},
        folder=manifest["run"].get("folder"),
    )


def _default_name(run_dirs: list[Path], first: dict) -> str:
    parents = {d.resolve().parent for d in run_dirs}
    if len(parents) == 1 and all(FOLDER.match(d.name) for d in run_dirs):
        return f"{next(iter(parents)).name}-merged"  # results/photos/shard-* -> photos-merged
    return f"{first['run']['name'].split('-shard')[0]}-merged"


def merge(paths: list[Path], output: Path, name: str | None, *, quiet: bool = False,
          overrides: dict | None = None, allow_partial: bool = False) -> Outcome:
    """Check that ``paths`` name one set of shards, then combine them into one run folder."""
    run_dirs = find_runs(paths)
    loaded = [load_run(d) for d in run_dirs]
    check = check_set([_part(d, m, c) for d, (m, c) in zip(run_dirs, loaded)])
    if check.problems:
        raise UsageError("cannot merge: " + "; ".join(check.problems))
    if check.missing and not allow_partial:
        raise UsageError(f"cannot merge: not a complete set of shards ({check.missing_text()}); merge "
                         f"every shard, or pass --allow-partial to merge these (the report is then marked PARTIAL)")
    full = [(d, m, c) for d, (m, c) in zip(run_dirs, loaded) if m["backbones"]]  # empty shards have none
    if not full:
        raise UsageError("cannot merge: every shard is empty (no images)")
    first, base_cfg = full[0][1], full[0][2]
    labels = [b["label"] for b in first["backbones"]]
    if any([b["label"] for b in m["backbones"]] != labels for _d, m, _c in full):
        raise UsageError("cannot merge: the runs have different backbones")
    run_dir = rundir.claim_run_dir(output, name or _default_name(run_dirs, first))
    images, skipped = [], {}
    for d, (m, _c) in zip(run_dirs, loaded):
        for meta in m["backbones"]:
            sub = meta["maps_dir"].split("/")  # maps/<name>, checked by load_run
            rundir.inside(run_dir, *sub).mkdir(parents=True, exist_ok=True)
            for im in m["images"]:
                shutil.copyfile(rundir.inside(d, *sub, f"{im['id']}.npz"), rundir.inside(run_dir, *sub, f"{im['id']}.npz"))
        images.extend(m["images"])
        skipped.update({s["rel"]: s["reason"] for s in m["skipped"]})
    images.sort(key=lambda im: im["rel"])
    timing = {"created": now(), "backbones": {}}
    for label in labels:
        per = [m["timing"]["backbones"].get(label, {}) for m, _ in loaded]
        secs = sum(p.get("inference_seconds", 0.0) for p in per)
        computed = sum(p.get("computed", 0) for p in per)
        timing["backbones"][label] = {
            "ms_per_image": 1000 * secs / computed if computed else None,
            "images_per_s": computed / secs if secs else None, "computed": computed, "inference_seconds": secs,
        }
    devices = list({json.dumps(m["run"].get("device"), sort_keys=True): m["run"].get("device")
                    for _d, m, _c in full}.values())
    run = {**first["run"], "name": run_dir.name, "shard": None, "shard_source": None,
           "merged_from": [str(d) for d in run_dirs],
           "device": devices[0] if len(devices) == 1 else {"kind": "mixed", "name": "; ".join(
               str((d or {}).get("name")) for d in devices), "precision": first["run"].get("precision")}}
    if check.missing:
        run["partial"] = {"count": check.count, "present": check.present, "missing": check.missing,
                          "note": check.partial_note()}
    cfg = CompareConfig(**{**base_cfg.to_dict(), "shard": None, "shards": 0, "name": run_dir.name,
                           **(overrides or {})})
    manifest = {**first, "config": cfg.to_dict(), "run": run, "images": images,
                "skipped": [{"rel": r, "reason": w} for r, w in sorted(skipped.items())], "timing": timing}
    rundir.write_json(run_dir / "run.json", manifest)
    rundir.write_yaml(run_dir / "config.yaml", cfg.to_dict())
    if check.missing:
        log(f"warning: {check.partial_note()}", quiet=False)
    return finish(run_dir, manifest, cfg, gates.parse_fail_under(cfg.fail_under), quiet)
