"""The end of every run: a run folder whose maps are complete → summary → figures and reports → gates.

``compare`` and ``merge`` end here; ``report`` (re-render an existing run from its saved maps, no
model) is nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from bbselect.config.checks import parse_figures
from bbselect.config.schema import CompareConfig
from bbselect.errors import mark_run_dir
from bbselect.progress import Progress, log
from bbselect.reports import render
from bbselect.runs.runfolder import load_run
from bbselect.scoring import gates, summarize


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Outcome:
    run_dir: Path
    summary: dict
    gates: list[dict]

    @property
    def exit_code(self) -> int:
        return 0 if all(g["passed"] for g in self.gates) else 1


def finish(run_dir: Path, manifest: dict, cfg: CompareConfig, fail_under: dict, quiet: bool) -> Outcome:
    figure_limit = parse_figures(cfg.figures)
    drawer = render.start_drawing(figure_limit, len(manifest["images"]))  # starts while scoring runs
    try:
        prog = Progress("scores", len(manifest["images"]) * len(manifest["backbones"]), quiet=quiet, unit="maps")
        summary, per_image = summarize.summarize_run(run_dir, manifest, progress=prog)
        prog.close()
        results = gates.evaluate(summary["backbones"], fail_under, cfg.expect_best)
        summary["gates"] = results
    except BaseException:
        if drawer is not None:
            drawer.close()
        raise
    render.write_outputs(run_dir, summary, manifest, per_image, figure_limit=figure_limit,
                         overlay=cfg.overlay, quiet=quiet, drawer=drawer)
    for g in results:
        log(f"gate {'passed' if g['passed'] else 'FAILED'}: {g['gate']} ({g['detail']})", quiet=quiet and g["passed"])
    log(f"done: {run_dir / 'report.html'}", quiet=quiet)
    return Outcome(run_dir, summary, results)


def report(run_dir: Path, *, figures: str | None = None, overlay: bool | None = None, quiet: bool = False) -> Outcome:
    """Re-render an existing run's figures and reports from its saved maps; builds no model."""
    manifest, cfg = load_run(run_dir)
    if figures is not None:
        cfg.figures = figures
    if overlay is not None:
        cfg.overlay = overlay
    try:
        return finish(run_dir, manifest, cfg, gates.parse_fail_under(cfg.fail_under), quiet)
    except Exception as err:
        mark_run_dir(err, run_dir)
        raise
