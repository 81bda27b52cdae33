"""Run a sweep (``bbselect run`` with ``sweep:``) and summarise its points.

Every point is an ordinary ``compare`` run in ``results/<name>/<point>/`` (same engine, same cache:
points that share a backbone configuration reuse its maps). The parent folder gets:

    sweep.yaml            the resolved base config with its sweep (``bbselect run`` repeats it)
    summary.csv / .json / .md   one row per point × backbone: settings, separation with CI, cost
    score_vs_cost.png     separation against measured ms/image, one colour per backbone
    score_by_<key>.png    separation across the values of each swept key, one line per backbone
    index.html            links to every point's report
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from bbselect.common import fmt_num
from bbselect.config.file import dump_config
from bbselect.config.schema import CompareConfig
from bbselect.progress import log
from bbselect.store import rundir

COLUMNS = ["point", "backbone", "layer", "stage", "input_size", "resize", "weights", "rank",
           "separation", "separation_lo", "separation_hi", "n_images", "effective_rank", "dead_fraction",
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
            "rank": b["rank"], "separation": b["separation"]["mean"], "separation_lo": b["separation"]["lo"],
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
    w.writerows({k: ("" if r[k] is None else r[k]) for k in COLUMNS} for r in rows)
    rundir.atomic_write_text(parent / "summary.csv", buf.getvalue())
    rundir.write_json(parent / "summary.json", {"schema_version": 1, "sweep": sweep, "rows": rows})
    md = ["| " + " | ".join(COLUMNS[:-1]) + " |", "|" + "---|" * (len(COLUMNS) - 1)]
    md += ["| " + " | ".join(fmt_num(r[c], 3, 'g').replace("|", "\\|") for c in COLUMNS[:-1]) + " |" for r in rows]
    rundir.atomic_write_text(parent / "summary.md", "# Sweep summary\n\n" + "\n".join(md) + "\n")
    charts = []
    for name, fig in sweep_figures(rows, sweep).items():
        rundir.save_figure(fig, parent / name)
        charts.append(name)
    rundir.atomic_write_text(parent / "index.html", _index(parent.name, rows, charts, sweep))


def _index(name: str, rows: list[dict], charts: list[str], sweep: dict) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS[:-1])
    body = "".join(
        "<tr>" + "".join(
            f"<td><a href=\"{e(quote(r['report']))}\">{e(str(r[c]))}</a></td>" if c == "point" else f"<td>{e(fmt_num(r[c], 3, 'g'))}</td>"
            for c in COLUMNS[:-1]) + "</tr>"
        for r in rows
    )
    imgs = "".join(f"<figure><img src=\"{e(quote(c))}\" alt=\"{e(c)}\"></figure>" for c in charts)
    return (
        "<!doctype html><meta charset=\"utf-8\"><title>bbselect sweep: " + e(name) + "</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:48%}</style>"
        f"<h1>Sweep {e(name)}</h1><p>Swept: {e(json.dumps(sweep))}. Each point links to its full report.</p>"
        f"<table><tr>{head}</tr>{body}</table>{imgs}"
    )


def sweep_figures(rows: list[dict], sweep: dict) -> dict:
    """Figures comparing points: separation vs cost, and separation per value of each swept key."""
    from matplotlib.figure import Figure

    out = {}
    labels = sorted({r["backbone"] for r in rows})
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label in labels:
        pts = [r for r in rows if r["backbone"] == label and _ok(r["separation"]) and _ok(r["ms_per_image"])]
        if pts:
            ax.scatter([r["ms_per_image"] for r in pts], [r["separation"] for r in pts], label=label)
            for r in pts:
                ax.annotate(r["point"], (r["ms_per_image"], r["separation"]), fontsize=7, alpha=0.7)
    ax.set_xlabel("measured ms / image (this machine)")
    ax.set_ylabel("separation (mean over images)")
    ax.set_title("score vs cost, every point of the sweep")
    if labels:
        ax.legend(fontsize=8)
    out["score_vs_cost.png"] = fig
    for key in sweep:
        fig = Figure(figsize=(6.5, 4), layout="constrained")
        ax = fig.add_subplot()
        points = list(dict.fromkeys(r["point"] for r in rows))
        for label in labels:
            ys = [next((r["separation"] for r in rows if r["point"] == p and r["backbone"] == label), None)
                  for p in points]
            ax.plot(range(len(points)), [y if _ok(y) else math.nan for y in ys], marker="o", label=label)
        ax.set_xticks(range(len(points)), points, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("separation")
        ax.set_title(f"separation across the sweep over {key}")
        ax.legend(fontsize=8)
        out[f"score_by_{key}.png"] = fig
    return out


def _ok(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
