"""Machine-readable outputs: ``scores.csv`` (one row per image × backbone × map) and the one JSON
document ``--format json`` prints. (report.py renders the same summary for people.)

The CSV's columns come from the score registry: the per-map shape scores of the row's map, then
``degenerate``, then every backbone-level score of every tier (detection probe, cheap box scores, the
label-aware scores, neighbourhood stability and the other label-free ones, the health scores), the same
on every row of a backbone and empty where the run did not compute them. ``--format json`` gives the
same scores per backbone under ``backbone_scores``."""

from __future__ import annotations

import csv
import io
import math

from bbselect.reports.content import channel_stats_of
from bbselect.reports.headline import headline, headline_text
from bbselect.scoring import registry
from bbselect.scoring.registry import map_score_names



def csv_header() -> list[str]:
    """The CSV's columns, read from the registry when asked (a score registered later is a column too)."""
    return ["image", "backbone", "layer", "aggregation", *map_score_names(), "degenerate", *registry.backbone_names()]


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------

def _csv_value(x):
    """Floats as they are (full precision); NaN / null as an empty cell."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return x


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell):
    """A cell a spreadsheet will not run: text starting with ``= + - @``, tab or CR gets a leading
    ``'`` (OWASP's advice against CSV injection, e.g. an image named ``=cmd|' /C calc'!A0.jpg``).
    Numbers and other text are returned unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def csv_rows(summary: dict) -> tuple[list[str], list[list]]:
    """Header plus one row per (image, backbone, scored aggregation); missing scores are None."""
    layers = {b.get("label"): b.get("layer") for b in summary.get("backbones", [])}
    shape, scores = map_score_names(), registry.backbone_names()
    whole = {b.get("label"): [_csv_value(registry.value(b, n)) for n in scores]
             for b in summary.get("backbones", [])}
    order = list(layers)
    rows = []
    for im in summary.get("images") or []:
        per_bb = im.get("scores") or {}
        for label in order + [lb for lb in per_bb if lb not in layers]:
            for agg, s in (per_bb.get(label) or {}).items():
                s = s if isinstance(s, dict) else {}
                rows.append([csv_safe(c) for c in (im.get("rel"), label, layers.get(label), agg,
                             *[_csv_value(s.get(n)) for n in shape], s.get("degenerate"),
                             *whole.get(label, [None] * len(scores)))])
    return csv_header(), rows


def write_csv(path_or_file, summary: dict) -> None:
    """Write :func:`csv_rows` with ``csv.writer`` (QUOTE_MINIMAL) to a path or an open text file."""
    header, rows = csv_rows(summary)
    if hasattr(path_or_file, "write"):
        w = csv.writer(path_or_file, quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        w.writerows(rows)
        return
    with open(path_or_file, "w", newline="", encoding="utf-8") as f:
        write_csv(f, summary)


def csv_text(summary: dict) -> str:
    """The CSV as a string (for atomic writes); write it with ``newline=""`` to keep it byte-exact."""
    buf = io.StringIO(newline="")
    write_csv(buf, summary)
    return buf.getvalue()


# ---------------------------------------------------------------- machine summary (--format json)

CI_SCHEMA_VERSION = 2  # 2: backbone_scores (every tier) replaces box_scores


def ci_summary(summary: dict, run_dir: str, exit_code: int) -> dict:
    """The one JSON document ``--format json`` prints: stable keys, ``schema_version``; measured
    speeds and timestamps only under ``timing`` (everything else is deterministic)."""
    ranking = []
    for b in summary["backbones"]:
        st = channel_stats_of(b)
        ranking.append({
            "rank": b["rank"], "label": b["label"], "layer": b["layer"], "stage": b["stage"],
            "stride": b.get("stride"), "preprocess": b.get("preprocess"), "weights": b["weights"]["kind"],
            "primary": {k: (b.get("primary") or {}).get(k) for k in ("metric", "mean", "lo", "hi")},
            "labels": {"linear_probe": _get(b, "labels", "linear_probe", "mean"), "knn": _get(b, "labels", "knn", "mean"),
                       "logme": _get(b, "labels", "logme")} if b.get("labels") else None,
            "box_auroc": _get(b, "boxes", "auroc", "mean"),
            "backbone_scores": {n: _csv_value(registry.value(b, n)) for n in registry.backbone_names()},
            "separation": {k: b["separation"].get(k) for k in ("mean", "lo", "hi", "n")},
            "tied_with": b["tied_with"],
            "scores": {agg: {n: s["mean"] for n, s in per.items()} for agg, per in b["scores"].items()},
            "degenerate": b["degenerate"],
            "dead_fraction": st.get("dead_fraction"), "effective_rank": st.get("effective_rank"),
            "params": b["cost"].get("params"), "gflops": b["cost"].get("gflops"),
            "imagenet_top1": (b.get("top1") or {}).get("value"),
        })
    gates = summary.get("gates", [])
    return {
        "schema_version": CI_SCHEMA_VERSION,
        "status": "ok" if exit_code == 0 else "gate_failed",
        "exit_code": exit_code,
        "run_dir": run_dir,
        "n_images": summary["run"]["n_images"],
        "n_skipped": summary["run"]["n_skipped"],
        "random_weights": summary["run"].get("random_weights", False),
        "partial": (summary["run"].get("partial") or {}).get("note"),  # merge --allow-partial: what is missing
        "best": ranking[0]["label"] if ranking else None,
        "evidence": (summary.get("evidence") or {}).get("evidence", "label-free"),
        "headline": headline_text(headline(summary)),
        "cross_family": _cross(summary),
        "ranking": ranking,
        "gates": gates,
        "skipped": summary["skipped"],
        "pareto": summary.get("pareto", []),  # by GFLOPs: deterministic
        "timing": summary.get("timing", {}),
    }


def _cross(summary: dict) -> dict:
    """The static prior and the scope of the evidence, for ``--format json``."""
    cf = summary.get("cross_family") or {}
    p = cf.get("prior") or {}
    return {"prior_pick": p.get("label"), "prior_top1": p.get("value"), "evidence_agrees": p.get("agrees"),
            "families": cf.get("families"), "ranking_score": cf.get("score"), "score_scope": cf.get("scope"),
            "within_family_only": cf.get("within_only"), "untrained": cf.get("untrained") or []}


def ci_sweep(sweep_dir: str, outcomes: list, exit_code: int) -> dict:
    """The ``--format json`` document of a sweep: one ``ci_summary`` per point."""
    return {"schema_version": CI_SCHEMA_VERSION, "status": "ok" if exit_code == 0 else "gate_failed",
            "exit_code": exit_code, "sweep_dir": sweep_dir,
            "points": [ci_summary(o.summary, str(o.run_dir), o.exit_code) for o in outcomes]}


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def ci_error(message: str, exit_code: int) -> dict:
    return {"schema_version": CI_SCHEMA_VERSION, "status": "error", "exit_code": exit_code, "error": message}
