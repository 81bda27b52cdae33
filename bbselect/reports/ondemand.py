"""One figure of a finished run, drawn on demand and returned (not saved): what the Python API's
``Result.figure(image)`` and ``Result.contact_sheet(kind)`` show. Same rows, limits and sample as
the run's own figures (``render.image_rows``, ``sampling.figure_order``)."""

from __future__ import annotations

import json
from pathlib import Path

from bbselect.errors import InputError, UsageError
from bbselect.models.extractor import MAP_KEYS
from bbselect.reports.render import image_rows
from bbselect.reports.sampling import figure_order


def _context(run_dir: Path, summary: dict) -> tuple:
    manifest = json.loads((Path(run_dir) / "run.json").read_text())
    metas = {m["label"]: m for m in manifest["backbones"]}
    entries = {b["label"]: b for b in summary["backbones"]}
    limits = {label: {k: tuple(v) for k, v in b["limits"].items()} for label, b in entries.items()}
    paths = {im["id"]: im["path"] for im in manifest["images"]}
    return manifest["run"], metas, entries, limits, paths


def image_figure_of(run_dir: Path, summary: dict, image_id: str, overlay: bool = False):
    """The per-image figure of one image of a finished run, as a matplotlib Figure (not saved)."""
    from bbselect.reports import figures

    settings, metas, entries, limits, paths = _context(run_dir, summary)
    im = next(im for im in summary["images"] if im["id"] == image_id)
    got = image_rows(Path(run_dir), im, paths[image_id], settings, entries, metas, limits, quiet=True)
    if got is None:
        raise InputError(f"{im['rel']} cannot be read any more (moved or deleted?)")
    return figures.image_figure(got[0], im["rel"], got[1], overlay=overlay,
                                boxes=summary.get("boxes", {}).get(im["rel"]))


def contact_sheet_of(run_dir: Path, summary: dict, agg: str = "mean"):
    """The contact sheet of map kind ``agg`` over the run's figure sample, as a matplotlib Figure."""
    from bbselect.reports import figures

    if agg not in MAP_KEYS:
        raise UsageError(f"contact sheet {agg!r}: expected one of {', '.join(MAP_KEYS)}")
    settings, metas, entries, limits, paths = _context(run_dir, summary)
    order = figure_order(summary["images"], summary.get("boxes"))[: figures.CONTACT_MAX]
    head = [(im["rel"], *got) for im in order
            if (got := image_rows(Path(run_dir), im, paths[im["id"]], settings, entries, metas, limits, quiet=True))]
    if not head:
        raise UsageError("no image of this run can be read any more")
    maps = {label: [row_maps.get(label, {}).get(agg) for *_, row_maps in head] for label in entries}
    return figures.contact_sheet([(rel, shown) for rel, shown, _, _ in head], maps, agg,
                                 {lb: limits[lb][agg] for lb in entries},
                                 random_weights={lb: b["weights"]["kind"] == "none" for lb, b in entries.items()},
                                 total=len(summary["images"]))
