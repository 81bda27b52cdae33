"""Run a sweep (``bbselect run`` with ``sweep:``) and summarise its points.

Every point is an ordinary ``compare`` run in ``results/<name>/<point>/`` (same engine, same cache:
points that share a backbone configuration reuse its maps). The parent folder gets:

    sweep.yaml            the resolved base config with its sweep (``bbselect run`` repeats it)
    summary.csv / .json / .md   one row per point × backbone: settings, primary evidence and
                          separation with 95% intervals, cost
    score_vs_cost.png     primary evidence against GFLOPs, one colour per backbone
    score_by_<key>.png    primary evidence across the values of each swept key, one line per backbone
    index.html            the headline over all points and a table linking every point's report, on
                          the same page and stylesheet as report.html (reports/sweep_index.py)
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from pathlib import Path

from bbselect.config.file import dump_config
from bbselect.config.schema import CompareConfig
from bbselect.progress import log
from bbselect.reports.machine import csv_safe
from bbselect.reports.sweep_index import render_index, render_markdown
from bbselect.store import rundir

COLUMNS = ["point", "backbone", "layer", "stage", "input_size", "resize", "weights", "rank",
           "metric", "primary", "primary_lo", "primary_hi", "separation", "separation_lo", "separation_hi", "n_images", "effective_rank", "dead_fraction",
           "params", "gflops", "ms_per_image", "report"]


def run_config_sweep(loaded, points: list[tuple[str, CompareConfig]], default_name: str, *, run_point,
                     quiet: bool) -> tuple[Path, list]:
    """A loaded config file's sweep: claim ``results/<name>/``, keep ``sweep.yaml`` (``bbselect run``
    repeats it), run every point; return (parent folder, outcomes)."""
    base = loaded.base
    parent = rundir.claim_run_dir(Path(base.output), base.name or default_name)
    rundir.atomic_write_text(parent / "sweep.yaml", dump_config(base, loaded.sweep, loaded.gates))
    _, outcomes = run_sweep(points, parent, loaded.sweep, quiet=quiet, run_point=run_point)
    return parent, outcomes


def run_sweep(points: list[tuple[str, CompareConfig]], parent: Path, sweep: dict, *, run_point, quiet: bool):
    """Run each point into ``parent/<point>``; return (rows, outcomes)."""
    rows, outcomes = [], []
    for i, (point, cfg) in enumerate(points, start=1):
        log(f"sweep point {i}/{len(points)}: {point}", quiet=quiet)
        outcome = run_point(replace(cfg, output=str(parent), name=point))
        outcomes.append(outcome)
        rows.extend(point_rows(point, cfg, outcome.summary, outcome.run_dir.relative_to(parent)))
    write_summary(parent, rows, sweep)
    return rows, outcomes


def point_rows(point: str, cfg: CompareConfig, summary: dict, rel: Path) -> list[dict]:
    timing = summary.get("timing", {}).get("backbones", {})
    out = []
    for b in summary["backbones"]:
        st = b.get("channels_stats", {})
        out.append({
            "point": point, "backbone": b["label"], "layer": b["layer"], "stage": b["stage"],
            "input_size": cfg.input_size, "resize": cfg.resize, "weights": b["weights"]["kind"],
            "rank": b["rank"], "metric": (b.get("primary") or {}).get("metric", "separation"),
            "primary": (b.get("primary") or b["separation"]).get("mean"),
            "primary_lo": (b.get("primary") or b["separation"]).get("lo"),
            "primary_hi": (b.get("primary") or b["separation"]).get("hi"),
            "separation": b["separation"]["mean"], "separation_lo": b["separation"]["lo"],
            "separation_hi": b["separation"]["hi"], "n_images": summary["run"]["n_images"],
            "effective_rank": st.get("effective_rank"), "dead_fraction": st.get("dead_fraction"),
            "params": b["cost"]["params"], "gflops": b["cost"]["gflops"],
            "ms_per_image": timing.get(b["label"], {}).get("ms_per_image"),
            "report": (rel / "report.html").as_posix(),
        })
    return out



def write_summary(parent: Path, rows: list[dict], sweep: dict) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows({k: ("" if r[k] is None else csv_safe(r[k])) for k in COLUMNS} for r in rows)
    rundir.atomic_write_text(parent / "summary.csv", buf.getvalue())
    rundir.write_json(parent / "summary.json", {"schema_version": 1, "sweep": sweep, "rows": rows})
    rundir.atomic_write_text(parent / "summary.md", render_markdown(parent.name, rows, sweep))
    charts = []
    for name, fig in sweep_figures(rows, sweep).items():
        rundir.save_figure(fig, parent / name)
        charts.append(name)
    rundir.atomic_write_text(parent / "index.html", render_index(parent.name, rows, charts, sweep))


def sweep_figures(rows: list[dict], sweep: dict) -> dict:
    """Figures comparing points: the primary evidence (95% interval) against GFLOPs, and across the
    values of each swept key, one colour per backbone."""
    from matplotlib.figure import Figure

    out = {}
    metric = next((r["metric"] for r in rows if r.get("metric")), "score")
    labels = sorted({r["backbone"] for r in rows})
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label in labels:
        pts = [r for r in rows if r["backbone"] == label and _ok(r["primary"]) and _ok(r["gflops"])]
        if pts:
            ax.errorbar([r["gflops"] for r in pts], [r["primary"] for r in pts], yerr=_yerr(pts), fmt="o",
                        capsize=3, label=label)
            for r in pts:
                ax.annotate(r["point"], (r["gflops"], r["primary"]), fontsize=7, alpha=0.7,
                            textcoords="offset points", xytext=(5, 4))
    ax.set_xlabel("GFLOPs per image (analytic, at the point's input size)")
    ax.set_ylabel(f"{metric} (95% interval)")
    ax.set_title("quality vs cost, every point of the sweep", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no legend (and no matplotlib warning) when nothing was drawn
        ax.legend(fontsize=8)
    out["score_vs_cost.png"] = fig
    points = list(dict.fromkeys(r["point"] for r in rows))
    for key in sweep:
        fig = Figure(figsize=(6.5, 4), layout="constrained")
        ax = fig.add_subplot()
        for label in labels:
            got = [next((r for r in rows if r["point"] == p and r["backbone"] == label), None) for p in points]
            xs = [i for i, r in enumerate(got) if r is not None and _ok(r["primary"])]
            sel = [got[i] for i in xs]
            if sel:
                ax.errorbar(xs, [r["primary"] for r in sel], yerr=_yerr(sel), marker="o", capsize=3, label=label)
        ax.set_xticks(range(len(points)), points, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric} (95% interval)")
        ax.set_title(f"{metric} across the sweep over {key}", fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        out[f"score_by_{key}.png"] = fig
    return out


def _yerr(rows: list[dict]):
    """Asymmetric error bars from each row's interval (zero where it is unknown)."""
    lo = [r["primary"] - r["primary_lo"] if _ok(r.get("primary_lo")) else 0.0 for r in rows]
    hi = [r["primary_hi"] - r["primary"] if _ok(r.get("primary_hi")) else 0.0 for r in rows]
    return [lo, hi]


def _ok(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
