"""Write a run's figures and reports from its summary and the maps on disk (no model needed).

Per-image figures re-decode the original image (what the network saw, after resizing) from the path
recorded in the manifest; if it has moved, that image's figure is skipped with a warning. Contact
sheets and the overview chart are drawn unless ``--figures none`` (no drawing at all: the CI setting).
Which images get figures: a sample stratified by class, images with boxes first (``sampling``).
Contact sheets are drawn for the max and mean maps only: the sum map is C × the mean map, so its
sheet would repeat the mean sheet with another colour bar (sum stays in per-image figures and maps).
"""

from __future__ import annotations

import copy
import io
import os
from collections import deque
from pathlib import Path

import numpy as np

from bbselect.common import finite
from bbselect.inputs import decode as dec
from bbselect.inputs import images as imgs
from bbselect.models.extractor import MAP_KEYS
from bbselect.progress import Progress, log
from bbselect.reports import machine
from bbselect.reports.html import render_html
from bbselect.reports.markdown import render_markdown
from bbselect.reports.sampling import figure_order, representative
from bbselect.store import rundir
from bbselect.store.mapfiles import load_maps


def with_timing(summary: dict) -> dict:
    """A copy for rendering: measured speeds (kept apart under ``timing``) merged into each cost."""
    view = copy.deepcopy(summary)
    timing = summary.get("timing", {})
    for b in view["backbones"]:
        b["cost"].update(timing.get("backbones", {}).get(b["label"], {}))
        b["pareto"] = b["label"] in (summary.get("pareto") or [])
    view["run"]["created"] = timing.get("created")
    return view


def start_drawing(figure_limit: int | None, n_images: int):
    """The figure workers for a run of ``n_images``, started now so that their start-up (a Python
    process importing matplotlib) overlaps scoring, which uses one core. None for ``--figures none``.
    Pass it to :func:`write_outputs`, which closes it."""
    if figure_limit == 0:
        return None
    return _Drawer(n_images if figure_limit is None else min(figure_limit, n_images))


def write_outputs(run_dir: Path, summary: dict, manifest: dict, per_image: dict, *,
                  figure_limit: int | None, overlay: bool, quiet: bool, drawer=None) -> None:
    summary["figures"] = _figures(run_dir, summary, manifest, per_image, figure_limit, overlay, quiet, drawer)
    view = with_timing(summary)
    rundir.write_json(run_dir / "scores.json", summary)
    rundir.atomic_write_text(run_dir / "scores.csv", machine.csv_text(summary))
    rundir.atomic_write_text(run_dir / "report.md", render_markdown(view))
    rundir.atomic_write_text(run_dir / "report.html", render_html(view))


SHEET_MAPS = ("max", "mean")  # no sum sheet: sum = C × mean, the same picture with another colour bar


def _figures(run_dir, summary, manifest, per_image, figure_limit, overlay, quiet, drawer=None) -> dict:
    if figure_limit == 0:  # --figures none: no drawing at all (and no matplotlib import)
        if drawer is not None:
            drawer.close()
        return {}
    n_images = len(summary["images"])
    n_fig = n_images if figure_limit is None else min(figure_limit, n_images)
    drawer = drawer or _Drawer(n_fig)
    prog = drawer.progress = Progress("figures", n_fig, quiet=quiet)
    try:
        out = _submit_all(drawer, run_dir, summary, manifest, per_image, n_fig, overlay, quiet)
    finally:
        drawer.close()
    prog.close()
    return out


def _submit_all(drawer, run_dir, summary, manifest, per_image, n_fig, overlay, quiet) -> dict:
    """Queue every figure of the run on ``drawer``; return their paths (relative to the run folder)."""
    from bbselect.reports import charts, figures

    settings = manifest["run"]
    metas = {m["label"]: m for m in manifest["backbones"]}
    entries = {b["label"]: b for b in summary["backbones"]}
    limits = {label: {k: tuple(v) for k, v in b["limits"].items()} for label, b in entries.items()}
    paths = {im["id"]: im for im in manifest["images"]}
    shown_images = figure_order(summary["images"], summary.get("boxes"))
    out = {"contact_sheets": {}}
    # the chart first: it needs no image, so the workers start on it while images are decoded
    drawer.submit(run_dir / "figures" / "overview.png", charts.overview_chart, with_timing(summary)["backbones"])
    out["overview_chart"] = "figures/overview.png"
    out["class_scatter"] = _class_scatters(drawer, run_dir, summary, metas)
    out["stability"] = _stability_figure(drawer, run_dir, summary, metas, manifest)
    n_sheet = min(len(shown_images), figures.CONTACT_MAX)

    def rows_of(im):
        return image_rows(run_dir, im, paths[im["id"]]["path"], settings, entries, metas, limits, quiet)

    def submit_figure(im, shown, rows):
        rel = rundir.inside(Path("figures"), "images", f"{im['id']}.png")  # ids may come from a run.json
        drawer.submit(run_dir / rel, figures.image_figure, shown, im["rel"], rows, counts=True,
                      overlay=overlay, boxes=summary.get("boxes", {}).get(im["rel"]))
        im["figure"] = rel.as_posix()

    # The contact-sheet images first (at most 24 held at once); the sheets, the longest jobs, are
    # queued before those images' own figures, and the remaining figures stream after them.
    head = [(i, im, *got) for i, im in enumerate(shown_images[:n_sheet]) if (got := rows_of(im))]
    if head:
        randoms = {label: b["weights"]["kind"] == "none" for label, b in entries.items()}
        for k in SHEET_MAPS:
            maps = {label: [row_maps.get(label, {}).get(k) for *_, row_maps in head] for label in entries}
            drawer.submit(run_dir / "figures" / f"contact_{k}.png", figures.contact_sheet,
                          [(im["rel"], shown) for _, im, shown, _, _ in head], maps, k,
                          {lb: limits[lb][k] for lb in entries}, random_weights=randoms, total=len(shown_images))
            out["contact_sheets"][k] = f"figures/contact_{k}.png"
    for i, im, shown, rows, _ in head:
        if i < n_fig:
            submit_figure(im, shown, rows)
    for im in shown_images[n_sheet:n_fig]:
        if got := rows_of(im):
            submit_figure(im, *got[:2])
    out["representative"] = representative(summary, [im for im in shown_images[:n_fig] if im.get("figure")])
    return out


def image_rows(run_dir, im, path, settings, entries, metas, limits, quiet):
    """(the input as the network saw it, one MapRow per backbone, {backbone: maps}) for one image
    (``im``: the summary's image entry, with its per-backbone scores), or None when the image cannot
    be decoded any more (a warning says so)."""
    from bbselect.reports import figures

    ref = imgs.ImageRef(Path(path), im["rel"], im["id"])
    try:
        arr, valid = dec.decode_input(ref, settings["input_size"], settings["resize"], settings["max_pixels"])
    except (dec.ImageDecodeError, OSError) as err:
        log(f"warning: no figure for {im['rel']}: {getattr(err, 'reason', err)}", quiet=quiet)
        return None
    rows, row_maps = [], {}
    for label, b in entries.items():
        s = (im.get("scores") or {}).get(label)
        if s is None:
            continue
        maps = load_maps(run_dir / metas[label]["maps_dir"] / f"{im['id']}.npz")
        row_maps[label] = {k: maps[k] for k in MAP_KEYS}
        rows.append(figures.MapRow(
            backbone=label, layer=b["layer"], stage=b["stage"], random_weights=b["weights"]["kind"] == "none",
            maps=row_maps[label], limits=limits[label],
            degenerate={k: (s.get("mean" if k == "sum" else k) or {}).get("degenerate") for k in MAP_KEYS},
        ))
    return arr[: valid[0], : valid[1]], rows, row_maps


def _ignore_interrupts() -> None:
    """Ctrl-C reaches the workers too (same process group): only the main process should handle it,
    so the user sees one clean message, not a traceback per worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm_up() -> None:
    """Import the drawing code and draw once, so a worker's first real figure pays no start-up."""
    from matplotlib.figure import Figure

    from bbselect.reports import (
        figures,  # noqa: F401
    )

    fig = Figure(figsize=(1, 1))
    fig.text(0.5, 0.5, "0.5")
    fig.savefig(io.BytesIO(), format="png")


def draw(path: str, make, *args, **kwargs) -> None:
    """Build one figure with ``make(*args, **kwargs)`` and save it (in a worker process for large runs)."""
    rundir.save_figure(make(*args, **kwargs), Path(path))


class _Drawer:
    """Drawing is the slow part of rendering (~0.3 s per per-image figure, ~0.9 s per contact sheet):
    for more than a few figures, draw them all in worker processes (one per core, started with
    'spawn' so no TensorFlow state is copied), with a bounded number in flight so memory stays flat.
    Only per-image figures count for the progress bar."""

    def __init__(self, n: int):
        self.progress = None  # set by the caller before the first per-image figure
        self.pool = None
        workers = min(os.cpu_count() or 1, 8)
        if n >= 8 and workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                            initializer=_ignore_interrupts)
            self.window = 4 * workers
            for _ in range(workers):  # start every worker now (the pool starts them on demand)
                self.pool.submit(_warm_up)
        self.pending = deque()

    def submit(self, path: Path, make, *args, counts: bool = False, **kwargs) -> None:
        if self.pool is None:
            draw(str(path), make, *args, **kwargs)
            if counts:
                self.progress.advance()
            return
        self.pending.append((self.pool.submit(draw, str(path), make, *args, **kwargs), counts))
        while len(self.pending) >= self.window:
            self._finish_one()

    def _finish_one(self) -> None:
        fut, counts = self.pending.popleft()
        fut.result()
        if counts:
            self.progress.advance()

    def close(self) -> None:
        try:
            while self.pending:
                self._finish_one()
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)


STABILITY_QUERIES = 3  # images shown in the stability figure (evenly spaced through the run's images)
THUMB = 96


def _thumb(img) -> np.ndarray:
    return dec.fit_to_input(img, THUMB, "stretch")[0]


def _stability_figure(drawer, run_dir: Path, summary: dict, metas: dict, manifest: dict) -> str | None:
    """The image, its augmented view and both neighbour sets, per backbone, for a few images (when the run
    has neighbourhood stability). Views are re-made from the image: they depend only on seed, id, index."""
    from bbselect.inputs import augment
    from bbselect.reports.neighbours import NeighbourRow, neighbours_figure
    from bbselect.scoring import stability, stability_sample

    entries = [b for b in summary["backbones"] if finite((b.get("stability") or {}).get("mean"))]
    if not entries:
        return None
    settings = manifest["run"]
    k = int(settings.get("stability_k") or stability.DEFAULT_K)
    rows, wanted = [], set()
    for b in entries:
        ids, gap, views = [], [], []
        for im in stability_sample.members(summary["images"], settings.get("stability")):  # only the sample's
            path = run_dir / metas[b["label"]]["maps_dir"] / f"{im['id']}.npz"
            if path.exists():
                m = load_maps(path)
                if "view_gap" in m:
                    ids.append(im["id"])
                    gap.append(m["gap"])
                    views.append(m["view_gap"][0])
        if len(ids) < stability.min_images(k):
            continue
        queries = sorted({round(i * (len(ids) - 1) / max(1, STABILITY_QUERIES - 1)) for i in range(STABILITY_QUERIES)})
        for q in stability.neighbours_of(np.stack(gap), np.stack(views), queries, k):
            row = NeighbourRow(b["label"], ids[q["image"]], [ids[i] for i in q["orig"]], [ids[i] for i in q["view"]],
                               q["jaccard"])
            rows.append(row)
            wanted |= {row.image, *row.orig[:5], *row.view[:5]}
    rows.sort(key=lambda r: [im["id"] for im in summary["images"]].index(r.image))
    paths = {im["id"]: im["path"] for im in manifest["images"]}
    thumbs, view_thumbs = {}, {}
    seed = int(settings.get("stability_seed") or 0)
    for image_id in wanted:
        try:
            img = dec.load_image(Path(paths[image_id]), draft_size=THUMB)
        except (dec.ImageDecodeError, KeyError):
            continue
        thumbs[image_id] = _thumb(img)
        if any(r.image == image_id for r in rows):
            view_thumbs[image_id] = _thumb(augment.augmented_view(img, seed, image_id, 0))
    if not rows:
        return None
    rel = "figures/stability.png"
    drawer.submit(run_dir / rel, neighbours_figure, rows, thumbs, view_thumbs, 5,
                  "Neighbourhood stability: which neighbours survive the augmentation")
    return rel


def _class_scatters(drawer, run_dir: Path, summary: dict, metas: dict) -> dict:
    """One 2-D PCA scatter of pooled features per backbone, coloured by class (when labels exist)."""
    from bbselect.reports import charts

    if not summary.get("evidence", {}).get("classes"):
        return {}
    out = {}
    for b in summary["backbones"]:
        feats, names = [], []
        for im in summary["images"]:
            path = run_dir / metas[b["label"]]["maps_dir"] / f"{im['id']}.npz"
            if im.get("class") is not None and path.exists():
                feats.append(load_maps(path)["gap"])
                names.append(im["class"])
        if len(feats) < 3:
            continue
        rel = f"figures/classes_{rundir.safe_name(b['label'])}.png"
        drawer.submit(run_dir / rel, charts.class_scatter, charts.pca_2d(np.stack(feats)), names,
                      f"{b['label']}: pooled features, PCA")
        out[b["label"]] = rel
    return out
