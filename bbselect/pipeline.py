"""``compare``: one run from a validated config to a finished run folder.

    discover images → build every backbone (fail early on weights) → claim run folder →
    stream images through each backbone (maps to disk, scores in memory) →
    figures → ranking + verdict → scores.json / scores.csv / report.md / report.html / run.json
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, cost, engine, figures, ranking, report, rundir, scores
from . import images as imgs
from .config import CompareConfig, Resolved, resolve
from .errors import InputError
from .extractor import MAP_KEYS, build_extractor
from .progress import Progress, log
from .weights import build_backbone


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class _Skips:
    """Unreadable files, each reported once with its reason (``--strict`` makes the first one fatal)."""

    def __init__(self, initial: list[imgs.Skipped], strict: bool, quiet: bool):
        self.items = {s.rel: s.reason for s in initial}
        self.strict = strict
        self.quiet = quiet
        if strict and self.items:
            rel, reason = next(iter(self.items.items()))
            raise InputError(f"{rel}: {reason} (--strict)")

    def __call__(self, ref: imgs.ImageRef, reason: str) -> None:
        if ref.rel in self.items:
            return
        if self.strict:
            raise InputError(f"{ref.rel}: {reason} (--strict)")
        self.items[ref.rel] = reason
        log(f"warning: skipped {ref.rel}: {reason}", quiet=self.quiet)

    def as_list(self) -> list[dict]:
        return [{"rel": r, "reason": why} for r, why in sorted(self.items.items())]


def compare(cfg: CompareConfig, *, quiet: bool = False, argv: list[str] | None = None) -> tuple[Path, dict]:
    started = _now()
    res = resolve(cfg)
    refs, skipped = imgs.discover_images(res.images_dir)
    if not refs:
        raise InputError(f"no image files found in {res.images_dir} "
                         f"(looked for {', '.join(imgs.IMAGE_EXTENSIONS)}, recursively)")
    skips = _Skips(skipped, cfg.strict, quiet)

    built = []
    for sel in res.selections:
        log(f"building {sel.label} ({cfg.weights} weights, input {cfg.input_size})", quiet=quiet)
        model, winfo = build_backbone(sel, res.weights, cfg.input_size, cfg.seed)
        built.append((build_extractor(sel, model, cfg.layer), winfo))

    run_dir = rundir.claim_run_dir(Path(cfg.output), cfg.name or res.images_dir.resolve().name)
    rundir.write_yaml(run_dir / "config.yaml", cfg.to_dict())
    log(f"run folder: {run_dir}", quiet=quiet)
    if res.weights == "none":
        log("warning: RANDOM WEIGHTS (--weights none): scores say nothing about pretrained features", quiet=quiet)

    entries, runs = [], {}
    for ex, winfo in built:
        label = ex.selection.label
        maps_dir = run_dir / "maps" / rundir.safe_name(label)
        todo = [r for r in refs if r.rel not in skips.items]
        prog = Progress(label, len(todo), quiet=quiet)
        run = engine.run_backbone(
            ex, todo, input_size=cfg.input_size, resize=cfg.resize, batch_size=cfg.batch_size,
            max_pixels=cfg.max_pixels, maps_dir=maps_dir, on_skip=skips, progress=prog,
        )
        prog.close()
        if not run.image_ids:
            examples = "; ".join(f"{s['rel']}: {s['reason']}" for s in skips.as_list()[:3])
            raise InputError(f"no readable image in {res.images_dir}: all {len(refs)} files were "
                             f"skipped ({examples})")
        runs[label] = (ex, winfo, run, maps_dir)
        entries.append(_backbone_entry(ex, winfo, run))

    ordered = ranking.rank(entries)
    good = [r for r in refs if r.rel not in skips.items]
    summary = {
        "schema_version": 1,
        "run": {
            "name": run_dir.name, "created": started, "images_dir": str(res.images_dir),
            "n_images": len(good), "n_skipped": len(skips.items), "input_size": cfg.input_size,
            "resize": cfg.resize, "layer": cfg.layer, "random_weights": res.weights == "none",
        },
        "score_docs": dict(scores.SCORE_DOCS),
        "backbones": ordered,
        "images": [],
        "skipped": skips.as_list(),
        "figures": {},
        "verdict": ranking.verdict(ordered, len(good), res.weights == "none"),
        "warnings": _warnings(res, ordered),
    }
    summary["images"] = [_image_entry(ref, runs) for ref in good]
    t_fig = time.perf_counter()
    summary["figures"] = _write_figures(run_dir, res, good, runs, summary, quiet)
    fig_seconds = time.perf_counter() - t_fig

    rundir.write_json(run_dir / "scores.json", summary)
    rundir.atomic_write_text(run_dir / "scores.csv", report.csv_text(summary))
    rundir.atomic_write_text(run_dir / "report.md", report.render_markdown(summary))
    rundir.atomic_write_text(run_dir / "report.html", report.render_html(summary))
    rundir.write_json(run_dir / "run.json", _run_info(started, argv, runs, skips, fig_seconds))
    log(f"done: {run_dir / 'report.html'}", quiet=quiet)
    return run_dir, summary


def _backbone_entry(ex, winfo, run: engine.BackboneRun) -> dict:
    per_image = list(run.image_scores.values())
    by_map = {
        k: {name: scores.summarize([getattr(s[k], name) for s in per_image]) for name in scores.SCORE_NAMES}
        for k in engine.SCORED_MAPS
    }
    return {
        "label": ex.selection.label,
        "name": ex.selection.spec.name,
        "options": dict(ex.selection.options),
        "layer": ex.layer,
        "stage": ex.stage,
        "map_shape": list(ex.map_shape),
        "channels": ex.channels,
        "weights": winfo.as_dict(),
        "cost": {"params": cost.count_params(ex.backbone), "gflops": cost.gflops(ex.model), **run.cost()},
        "scores": by_map,
        "degenerate": {k: sum(1 for s in per_image if s[k].degenerate) for k in engine.SCORED_MAPS},
        "separation": scores.summarize([ranking.separation(s) for s in per_image]),
        "channels_stats": scores.channel_stats(np.stack(run.gap), np.stack(run.gmp)),
        "limits": {k: list(scores.robust_limits(np.concatenate(run.samples[k]))) for k in MAP_KEYS},
    }


def _image_entry(ref: imgs.ImageRef, runs: dict) -> dict:
    per_backbone = {}
    for label, (_ex, _w, run, _d) in runs.items():
        s = run.image_scores.get(ref.id)
        if s is not None:
            per_backbone[label] = {k: s[k]._asdict() for k in engine.SCORED_MAPS}
    return {"rel": ref.rel, "id": ref.id, "figure": None, "scores": per_backbone}


def _write_figures(run_dir: Path, res: Resolved, good, runs, summary, quiet) -> dict:
    cfg = res.config
    fig_dir = run_dir / "figures"
    limits = {b["label"]: {k: tuple(v) for k, v in b["limits"].items()} for b in summary["backbones"]}
    limit = len(good) if res.figure_limit is None else min(res.figure_limit, len(good))
    sheet_imgs, sheet_maps = [], {label: {k: [] for k in MAP_KEYS} for label in runs}
    prog = Progress("figures", limit, quiet=quiet)
    by_id = {e["id"]: e for e in summary["images"]}
    for i, ref in enumerate(good):
        want_sheet = i < figures.CONTACT_MAX
        if i >= limit and not want_sheet:
            break
        arr, valid = engine.decode(ref, cfg.input_size, cfg.resize, cfg.max_pixels)
        shown = arr[: valid[0], : valid[1]]
        rows = []
        for label, (ex, winfo, run, maps_dir) in runs.items():
            maps = engine.load_maps(maps_dir / f"{ref.id}.npz")
            s = run.image_scores[ref.id]
            rows.append(figures.MapRow(
                backbone=label, layer=ex.layer, stage=ex.stage, random_weights=winfo.random,
                maps={k: maps[k] for k in MAP_KEYS}, limits=limits[label],
                degenerate={k: (s[k].degenerate if k in s else s["mean"].degenerate) for k in MAP_KEYS},
            ))
            for k in MAP_KEYS:
                sheet_maps[label][k].append(maps[k])
        sheet_imgs.append((ref.rel, shown))
        if i < limit:
            rel = Path("figures") / "images" / f"{ref.id}.png"
            fig = figures.image_figure(shown, ref.rel, rows, overlay=cfg.overlay)
            rundir.save_figure(fig, run_dir / rel)
            by_id[ref.id]["figure"] = rel.as_posix()
            prog.advance()
    prog.close()
    out = {"contact_sheets": {}, "score_chart": None}
    randoms = {label: w.random for label, (_e, w, _r, _d) in runs.items()}
    for k in MAP_KEYS:
        fig = figures.contact_sheet(sheet_imgs, {lb: m[k] for lb, m in sheet_maps.items()}, k,
                                    {lb: limits[lb][k] for lb in runs}, random_weights=randoms,
                                    total=len(good))
        rundir.save_figure(fig, fig_dir / f"contact_{k}.png")
        out["contact_sheets"][k] = f"figures/contact_{k}.png"
    rundir.save_figure(figures.score_chart(summary["backbones"]), fig_dir / "scores.png")
    out["score_chart"] = "figures/scores.png"
    return out


def _warnings(res: Resolved, ordered: list[dict]) -> list[str]:
    out = []
    if res.weights == "none":
        out.append("Weights are random (--weights none): the scores reflect architecture and "
                   "initialisation only, not pretrained features.")
    for b in ordered:
        for k, n in b["degenerate"].items():
            if n:
                out.append(f"{b['label']}: {n} {k} map(s) were degenerate (constant, saturated or too small) and were "
                           f"left out of the scores.")
    return out


def _run_info(started, argv, runs, skips, fig_seconds) -> dict:
    import keras
    import tensorflow as tf

    return {
        "bbselect": __version__,
        "started": started,
        "finished": _now(),
        "argv": argv,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
        "backbones": {
            label: {
                "weights": w.as_dict(),
                "layer": ex.layer,
                "images": len(run.image_ids),
                "inference_seconds": run.infer_seconds,
                "wall_seconds": run.wall_seconds,
            }
            for label, (ex, w, run, _d) in runs.items()
        },
        "figure_seconds": fig_seconds,
        "skipped": skips.as_list(),
    }
