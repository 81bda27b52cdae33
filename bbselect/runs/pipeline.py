"""The three ways to produce a run folder, on one engine (this module is ``compare``; ``report`` and the
end every run shares are in ``runs/finish.py``, ``merge`` in ``runs/merge.py``):

``compare``  discover images → (shard) → build uncached backbones (fail early on weights) → claim
             run folder → per backbone: maps from the run folder (resume), the cache, or the
             network → summary (scoring/summarize.py) → figures and reports (render.py) → gates
``report``   an existing run folder → summary → figures and reports (no model is built)
``merge``    shard run folders → one run folder with all maps → summary → figures and reports

A run folder's ``run.json`` is its manifest: settings, image list, skipped files, backbone facts and
timings — everything ``report`` and ``merge`` need besides the maps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from bbselect import __version__
from bbselect.config.schema import CompareConfig
from bbselect.config.validate import resolve
from bbselect.errors import InputError, Interrupted, mark_run_dir
from bbselect.inputs import images as imgs
from bbselect.inputs.augment import Views
from bbselect.models import device, modelfile, runtime
from bbselect.models.cost import count_params
from bbselect.models.extractor import build_extractor
from bbselect.models.top1 import top1_of
from bbselect.models.weights import build_backbone, md5sum
from bbselect.progress import Progress, log
from bbselect.runs import probe as probe_step
from bbselect.runs import shardrun, shards
from bbselect.runs.engine import Job, run_backbones
from bbselect.runs.finish import Outcome, finish, now
from bbselect.scoring import evidence, gates, stability_sample
from bbselect.store import rundir
from bbselect.store.cache import Cache, backbone_key, entry_key, file_hash
from bbselect.store.cache import check_dir as check_cache_dir


class _Skips:
    """Unreadable files, each reported once with its reason (``--strict`` makes the first one fatal)."""

    def __init__(self, initial: list[imgs.Skipped], strict: bool, quiet: bool):
        self.items = {s.rel: s.reason for s in initial}
        self.strict = strict
        self.quiet = quiet
        if strict and self.items:
            rel, reason = next(iter(self.items.items()))
            raise InputError(f"{rel}: {reason} (--strict)")
        for rel, reason in self.items.items():  # found while scanning: symlink loops, FIFOs, ...
            log(f"warning: skipped {rel}: {reason}", quiet=quiet)

    def __call__(self, ref: imgs.ImageRef, reason: str) -> None:
        if ref.rel in self.items:
            return
        if self.strict:
            raise InputError(f"{ref.rel}: {reason} (--strict)")
        self.items[ref.rel] = reason
        log(f"warning: skipped {ref.rel}: {reason}", quiet=self.quiet)

    def as_list(self) -> list[dict]:
        return [{"rel": r, "reason": why} for r, why in sorted(self.items.items())]


def _weights_id(weights: str, seed: int, sel=None) -> str:
    if sel is not None and sel.spec.path:  # a model file: its bytes, whatever --weights says
        return f"model-file:{sel.spec.identity}"
    if sel is not None and sel.spec.identity:  # a user's own model: its weights, whatever --weights says
        return f"custom:{sel.spec.identity}"
    if sel is not None and sel.weights:  # this backbone's own weights=PATH
        return f"file-sha256:{modelfile.sha256(sel.weights)}"
    if weights == "none":
        return f"none:seed={seed}"
    if weights == "imagenet":
        return f"imagenet:keras-{metadata.version('keras')}"
    return f"file:{md5sum(weights)}"


def compare(cfg: CompareConfig, *, quiet: bool = False, argv: list[str] | None = None,
            resume: Path | None = None) -> Outcome:
    started = now()
    res = resolve(cfg)  # every value, gate and the memory estimate, before any work
    fail_under = gates.parse_fail_under(cfg.fail_under)
    cache_root = check_cache_dir(cfg.cache_dir) if cfg.cache else None
    shard = shards.resolve_shard(cfg.shard, cfg.shards, os.environ)
    shard_dir = None
    if shard:
        log(f"{shard.describe()}", quiet=quiet)
        cfg = dataclasses.replace(cfg, shard=shard.text)  # config.yaml keeps the resolved I/N
        shard_dir, resume = shardrun.shard_folder(cfg.output, cfg.name or res.images_dir.resolve().name, shard,
                                                  resume, quiet)
    refs, skipped = imgs.discover_images(res.images_dir)
    folder_rels = [r.rel for r in refs]  # the whole folder: decisions that depend on it agree across shards
    folder = shards.folder_fingerprint(folder_rels + [s.rel for s in skipped])
    if shard:
        refs = [r for r in refs if shards.shard_of(r.rel, shard.count) == shard.index]
        skipped = [s for s in skipped if shards.shard_of(s.rel, shard.count) == shard.index]
        if not refs and folder["files"]:  # still a member of the set: merge needs every shard's folder
            run_dir, summary = shardrun.write_empty_shard(shard_dir, cfg.to_dict(), {
                "bbselect": __version__, "run": {**_settings(shard_dir, cfg, res), "folder": folder,
                                                 "shard_source": shard.as_dict()},
                "images": [], "skipped": [{"rel": s.rel, "reason": s.reason} for s in skipped], "backbones": [],
                "timing": {"created": started, "backbones": {}}, **_environment(argv)}, quiet)
            return Outcome(run_dir, summary, [])
    if not refs:
        raise InputError(f"no image files found in {res.images_dir}"
                         f" (looked for {', '.join(imgs.IMAGE_EXTENSIONS)}, recursively)")
    skips = _Skips(skipped, cfg.strict, quiet)
    cache = Cache(cache_root, cfg.cache_max_mb, quiet=quiet)
    hashes = {}  # stored in every maps file: a resumed run recomputes images whose content changed
    for r in refs:
        try:
            hashes[r.id] = file_hash(r.path)
        except PermissionError:
            skips(r, "permission denied")
        except OSError as err:
            skips(r, f"cannot read ({err.strerror or err})")

    want_views, views_why, undefined = evidence.stability_wanted(cfg.stability, res.images_dir, folder_rels,
                                                      cfg.labels, cfg.boxes, cfg.stability_k)
    sample = stability_sample.record(folder_rels, cfg.stability_max_images, cfg.stability_seed) if want_views else None
    views = _views(cfg, refs, sample, quiet) if want_views else None
    probe_plan = probe_step.plan(res.images_dir, [r for r in refs if r.rel not in skips.items], cfg, quiet)
    plans, prior = [], _prior_metas(resume) if resume else {}
    for sel in res.selections:
        layer = sel.layer_or(cfg.layer)
        bkey, plain = (backbone_key("(model file)" if sel.spec.path else sel.spec.name, sel.key_options(), layer,
                                    _weights_id(res.weights, cfg.seed, sel), cfg.input_size, cfg.resize, vkey,
                                    device.policy_name(cfg.mixed_precision))
                       for vkey in (views.key() if views else None, None))
        # an image outside the stability sample has no views: its maps are those of a run without them
        keys = {i: entry_key(bkey if views is None or views.wants(i) else plain, h) for i, h in hashes.items()}
        meta = cache.meta(bkey) or _same_settings(prior.get(sel.label), bkey)
        if meta is not None:  # facts of the same network, maybe named otherwise where it was computed
            meta = {**meta, "label": sel.label, "options": dict(sel.options),
                    "top1": top1_of(sel, meta["weights"]["kind"])}
        plan = {"sel": sel, "bkey": bkey, "plain_key": plain, "keys": keys, "meta": meta, "extractor": None}
        kept = resume / "maps" / rundir.safe_name(sel.label) if resume else None
        if meta is None or not all(cache.has(k) or (kept and (kept / f"{i}.npz").exists()) for i, k in keys.items()):
            _build(plan, res.weights, cfg, quiet)  # build now: weights errors before any folder exists
        # else no model unless a kept or cached file fails verification (then it is built on demand)
        plans.append(plan)

    if resume:
        run_dir = resume
    elif shard_dir is not None:
        run_dir = rundir.claim_exact_dir(shard_dir)
    else:
        run_dir = rundir.claim_run_dir(Path(cfg.output), cfg.name or res.images_dir.resolve().name)
    rundir.write_yaml(run_dir / "config.yaml", cfg.to_dict())
    log(f"run folder: {run_dir}", quiet=quiet)
    if res.weights == "none":
        log("warning: RANDOM WEIGHTS (--weights none): scores say nothing about pretrained features", quiet=quiet)

    try:
        metas, timing = [], {"created": started, "backbones": {}}
        todo = [r for r in refs if r.rel not in skips.items]
        jobs = [Job(lambda p=plan: p["extractor"] or _build(p, res.weights, cfg, quiet),
                    run_dir / "maps" / rundir.safe_name(plan["sel"].label), plan["keys"], plan["bkey"],
                    plain_key=plan["plain_key"],
                    features=probe_step.feature_job(run_dir, plan, probe_plan, hashes)) for plan in plans]
        feature_dirs = {p["sel"].label: j.features.out_dir for p, j in zip(plans, jobs) if j.features}
        prog = Progress(_backbones_label(plans), len(todo) * len(jobs), quiet=quiet, unit="maps")
        timing["maps_seconds"] = run_backbones(
            jobs, todo, input_size=cfg.input_size, resize=cfg.resize, batch_size=cfg.batch_size,
            max_pixels=cfg.max_pixels, on_skip=skips, cache=cache, progress=prog, views=views, hashes=hashes,
            quiet=quiet,
        )
        prog.close()
        for plan, job in zip(plans, jobs):
            label, run = plan["sel"].label, job.run
            if not run.done:
                examples = "; ".join(f"{s['rel']}: {s['reason']}" for s in skips.as_list()[:3])
                raise InputError(f"no readable image in {res.images_dir}: all {len(refs)} files were "
                                 f"skipped ({examples})")
            meta = dict(plan["meta"], maps_dir=job.maps_dir.relative_to(run_dir).as_posix(), key=plan["bkey"])
            if run.computed:  # a fresh measurement; keep it for cached runs
                meta["speed"] = {**run.cost(), "measured": started}
                cache.store_meta(plan["bkey"], {k: v for k, v in meta.items() if k not in ("maps_dir", "key")})
            metas.append(meta)
            timing["backbones"][label] = {
                **meta.get("speed", {}), "computed": run.computed, "cached": run.cached, "resumed": run.resumed,
                "inference_seconds": run.infer_seconds, "build_seconds": plan.get("build_seconds", 0.0),
                "warmup_seconds": run.warmup_seconds, "view_seconds": run.view_seconds,
            }
        jobs.clear()
        cache.evict()
        plans.clear()
        used = device.describe(cfg.batch_size, device.policy_name(cfg.mixed_precision))
        log(f"device: {device.summary_line(used)}", quiet=quiet)
        runtime.release()
        if probe_plan is not None:
            timing["probe_seconds"] = probe_step.run(run_dir, probe_plan, feature_dirs, cfg, hashes, quiet)["seconds"]

        good = [r for r in refs if r.rel not in skips.items]
        manifest = {
            "bbselect": __version__,
            "config": cfg.to_dict(),  # the whole resolved config (config.yaml holds the same)
            "run": {**_settings(run_dir, cfg, res), "stability": {"on": views is not None, "why": views_why,
                                                                   "undefined": undefined, "sample": sample},
                    "folder": folder, "device": used, "shard_source": shard.as_dict() if shard else None},
            "images": [{"rel": r.rel, "id": r.id, "path": str(r.path.resolve()), "sha256": hashes.get(r.id)}
                       for r in good],
            "skipped": skips.as_list(),
            "backbones": metas,
            "timing": timing,
            "cache": {"dir": str(cache.root) if cache.enabled else None, "hits": cache.hits, "misses": cache.misses},
            **_environment(argv),
        }
        rundir.write_json(run_dir / "run.json", manifest)
        return finish(run_dir, manifest, cfg, fail_under, quiet)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: finished images are kept in {run_dir}; resume with "
            f"`bbselect compare --resume {run_dir}` (or re-run: cached maps are reused)"
        ) from None
    except Exception as err:
        mark_run_dir(err, run_dir)
        raise


_META_KEYS = {"label", "name", "options", "layer", "stage", "map_shape", "channels", "weights", "params", "gflops"}


def _prior_metas(run_dir: Path) -> dict[str, dict]:
    """Backbone facts from a run folder's earlier ``run.json`` (a finished run being resumed), so a
    resume that needs no new maps builds no model even without the cache. Damaged: none."""
    try:
        metas = json.loads((run_dir / "run.json").read_text()).get("backbones")
        return {m["label"]: m for m in metas if isinstance(m, dict) and _META_KEYS <= set(m)}
    except Exception:  # noqa: BLE001 - a damaged run.json only costs a model build
        return {}


def _same_settings(meta: dict | None, bkey: str) -> dict | None:
    """A resumed run's backbone facts only if they were made with these settings (a hand-edited
    config.yaml changes the key: the facts of the old layer or size would be wrong)."""
    return meta if meta is not None and meta.get("key") == bkey else None


def _views(cfg: CompareConfig, refs: list, sample: dict, quiet: bool) -> Views:
    """Views for the stability sample (of the whole folder: every shard makes them for the same images)."""
    chosen = set(sample["rels"] or (r.rel for r in refs))
    if sample["sampled"]:
        log(f"stability: {stability_sample.describe(len(chosen), sample['of'], sample['max_images'])}", quiet=quiet)
    return Views(cfg.stability_views, cfg.stability_seed, frozenset(r.id for r in refs if r.rel in chosen))


def _backbones_label(plans: list[dict]) -> str:
    labels = [p["sel"].label for p in plans]
    return labels[0] if len(labels) == 1 else f"{len(labels)} backbones"


def _build(plan: dict, weights: str, cfg: CompareConfig, quiet: bool):
    """Build the backbone and its extractor once; fill the plan's cached facts."""
    sel = plan["sel"]
    source = "model file" if sel.spec.path else "own" if sel.spec.model is not None else \
        "weights file" if sel.weights else cfg.weights
    log(f"building {sel.label} ({source} weights, input {cfg.input_size})", quiet=quiet)
    t0 = time.perf_counter()
    with device.precision(device.policy_name(cfg.mixed_precision)):
        model, winfo = build_backbone(sel, weights, cfg.input_size, cfg.seed)
        ex = build_extractor(sel, model, cfg.layer, cfg.input_size)
    plan["extractor"] = ex
    plan["build_seconds"] = time.perf_counter() - t0
    old_speed = (plan["meta"] or {}).get("speed")
    plan["meta"] = {
        "label": sel.label, "name": sel.spec.name, "options": dict(sel.options), "layer": ex.layer,
        "stage": ex.stage, "map_shape": list(ex.map_shape), "channels": ex.channels,
        "weights": winfo.as_dict(), "params": count_params(ex.model), "gflops": ex.gflops,
        "stride": ex.stride, "layer_note": ex.note, "preprocess": sel.preprocess_name,
        "top1": top1_of(sel, winfo.kind),
    }
    if old_speed:
        plan["meta"]["speed"] = old_speed
    return ex


def _settings(run_dir: Path, cfg: CompareConfig, res) -> dict:
    return {
        "name": run_dir.name, "images_dir": str(res.images_dir), "input_size": cfg.input_size,
        "resize": cfg.resize, "layer": cfg.layer, "weights": cfg.weights, "seed": cfg.seed,
        "random_weights": res.weights == "none", "max_pixels": cfg.max_pixels, "shard": cfg.shard,
        "labels": cfg.labels, "boxes": cfg.boxes, "stability_views": cfg.stability_views,
        "stability_k": cfg.stability_k, "stability_seed": cfg.stability_seed,
        "stability_max_images": cfg.stability_max_images, "precision": device.policy_name(cfg.mixed_precision),
        "probe": cfg.probe, "probe_max_images": cfg.probe_max_images,
    }


def _environment(argv) -> dict:
    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "argv": argv,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {p: version(p) for p in ("tensorflow", "keras", "numpy", "pillow", "matplotlib")},
    }
