"""``bbselect merge``: combine shard run folders into one run whose scores equal an unsharded run's."""

from __future__ import annotations

import shutil
from pathlib import Path

from bbselect.config.schema import CompareConfig
from bbselect.errors import UsageError
from bbselect.progress import log
from bbselect.run.pipeline import Outcome, finish, load_run, now
from bbselect.scoring import gates
from bbselect.store import rundir

_MERGE_IGNORED = {"shard", "name", "output", "figures", "overlay", "quiet"}


def merge(run_dirs: list[Path], output: Path, name: str | None, *, quiet: bool = False,
          overrides: dict | None = None) -> Outcome:
    """Combine shard run folders into one run whose scores equal an unsharded run's."""
    loaded = [load_run(d) for d in run_dirs]
    base_cfg = loaded[0][1]
    ref = {k: v for k, v in base_cfg.to_dict().items() if k not in _MERGE_IGNORED}
    for d, (_m, c) in zip(run_dirs, loaded):
        diff = sorted(k for k, v in c.to_dict().items() if k not in _MERGE_IGNORED and ref.get(k) != v)
        if diff:
            raise UsageError(f"cannot merge {d}: its settings differ from {run_dirs[0]} in {', '.join(diff)}")
    labels = [[b["label"] for b in m["backbones"]] for m, _ in loaded]
    if any(lb != labels[0] for lb in labels):
        raise UsageError("cannot merge: the runs have different backbones")
    shards = sorted(str(m["run"].get("shard")) for m, _ in loaded)
    n = {s.split("/")[1] for s in shards if "/" in s}
    warn = []
    if len(n) == 1 and shards != [f"{i}/{next(iter(n))}" for i in range(1, int(next(iter(n))) + 1)]:
        warn.append(f"shards merged: {', '.join(shards)} (not a complete set)")
    run_dir = rundir.claim_run_dir(output, name or f"{loaded[0][0]['run']['name'].split('-shard')[0]}-merged")
    images, skipped, seen = [], {}, set()
    for (m, _c), d in zip(loaded, run_dirs):
        for meta in m["backbones"]:
            (run_dir / meta["maps_dir"]).mkdir(parents=True, exist_ok=True)
            for im in m["images"]:
                shutil.copyfile(d / meta["maps_dir"] / f"{im['id']}.npz", run_dir / meta["maps_dir"] / f"{im['id']}.npz")
        for im in m["images"]:
            if im["rel"] not in seen:
                seen.add(im["rel"])
                images.append(im)
        skipped.update({s["rel"]: s["reason"] for s in m["skipped"]})
    images.sort(key=lambda im: im["rel"])
    first = loaded[0][0]
    timing = {"created": now(), "backbones": {}}
    for label in labels[0]:
        per = [m["timing"]["backbones"].get(label, {}) for m, _ in loaded]
        secs = sum(p.get("inference_seconds", 0.0) for p in per)
        computed = sum(p.get("computed", 0) for p in per)
        timing["backbones"][label] = {
            "ms_per_image": 1000 * secs / computed if computed else None,
            "images_per_s": computed / secs if secs else None, "computed": computed, "inference_seconds": secs,
        }
    manifest = {
        **first, "run": {**first["run"], "name": run_dir.name, "shard": None, "merged_from": [str(d) for d in run_dirs]},
        "images": images, "skipped": [{"rel": r, "reason": w} for r, w in sorted(skipped.items())],
        "timing": timing,
    }
    rundir.write_json(run_dir / "run.json", manifest)
    cfg = CompareConfig(**{**base_cfg.to_dict(), "shard": None, "name": run_dir.name, **(overrides or {})})
    rundir.write_yaml(run_dir / "config.yaml", cfg.to_dict())
    for w in warn:
        log(f"warning: {w}", quiet=quiet)
    return finish(run_dir, manifest, cfg, gates.parse_fail_under(cfg.fail_under), quiet)
