"""What the reports say besides the headline, ranking and per-image tables: run facts, notes, and the
label- and box-aware tables as model tables (``formats.Table`` of ``formats.Cell``).

Part of the presentation model (``view`` assembles it). Pure functions of the run summary (the dict
that is also saved as scores.json). Nothing here is escaped for HTML or Markdown (``url_of`` only
percent-quotes a path): every user-derived string (file names, labels, layer names, reasons,
verdict, warnings) is escaped by the renderer for its target format. Every number is a cell made by
its kind's one formatter (``formats``); missing numbers (NaN, null) read "n/a". Accepts the summary as
built in memory (NaN floats) and as read back from scores.json (nulls).
"""

from __future__ import annotations

from urllib.parse import quote

from bbselect.common import finite
from bbselect.models import device
from bbselect.reports.formats import Cell, Table, cell
from bbselect.scoring import registry, roiscores
from bbselect.scoring.ranking import separation

SCORE_NAMES = registry.map_score_names()
RANDOM_BANNER = "RANDOM WEIGHTS — scores say nothing about pretrained features"




def channel_stats_of(b: dict) -> dict:
    """Channel statistics: ``channels_stats`` (pipeline) or a dict under ``channels`` (older schema)."""
    stats = b.get("channels_stats")
    if isinstance(stats, dict):
        return stats
    ch = b.get("channels")
    return ch if isinstance(ch, dict) else {}


def stage_text(b: dict) -> str:
    """``c4``, or ``c4, stride 16: no stride-32 layer`` when c5 was asked of a network without one."""
    if b.get("layer_note") and b.get("stride"):
        return f"{b['stage']}, stride {b['stride']}: no stride-32 layer"
    return str(b.get("stage"))


def preprocess_text(summary: dict) -> str | None:
    """Which input preprocessing each backbone ran with (runs made before it was recorded: None)."""
    parts = [f"{b.get('label', '?')}: {b['preprocess']}" for b in summary.get("backbones", []) if b.get("preprocess")]
    return "; ".join(parts) or None


def map_size_text(b: dict) -> str:
    shape = b.get("map_shape") or []
    size = "×".join(str(s) for s in shape) if shape else "n/a"
    ch = b.get("channels")
    ch = ch if isinstance(ch, int) else channel_stats_of(b).get("n_channels")
    return f"{size}×{ch}" if isinstance(ch, int) else size


def aggregations(summary: dict) -> list[str]:
    out: list[str] = []
    for b in summary.get("backbones", []):
        for k in (b.get("scores") or {}):
            if k not in out:
                out.append(k)
    return out


def image_separation(per_map: dict | None) -> float:
    """One image's separation for one backbone (``ranking.separation`` on the summary's dicts)."""
    return separation(per_map or {})


def degenerate_marks(per_map: dict | None) -> list[str]:
    return [f"{k}: {s['degenerate']}" for k, s in (per_map or {}).items()
            if isinstance(s, dict) and s.get("degenerate")]


def url_of(path: str) -> str:
    """A relative URL for a figure path: backslashes to '/', everything else percent-quoted."""
    return quote(str(path).replace("\\", "/"), safe="/")


def is_random_run(summary: dict) -> bool:
    return bool((summary.get("run") or {}).get("random_weights"))


def layers_text(summary: dict) -> str | None:
    """The run's ``--layer``, plus every backbone that runs at another layer (its ``layer=`` override)."""
    run_layer = (summary.get("run") or {}).get("layer")
    other = [f"{b.get('label', '?')}: {b.get('stage') or b.get('layer')}" for b in summary.get("backbones", [])
             if run_layer is not None and run_layer not in (b.get("stage"), b.get("layer"))]
    return run_layer if not other else f"{run_layer} (except {'; '.join(other)})"


def run_facts(summary: dict) -> list[tuple[str, str]]:
    run = summary.get("run") or {}
    kinds = sorted({(b.get("weights") or {}).get("kind", "?") for b in summary.get("backbones", [])})
    facts = [("run", run.get("name")), ("created", run.get("created")), ("images folder", run.get("images_dir")),
             ("images scored", run.get("n_images")), ("files skipped", run.get("n_skipped")),
             ("input size", run.get("input_size")), ("resize", run.get("resize")),
             ("layer", layers_text(summary)), ("weights", ", ".join(kinds) or None),
             ("preprocessing", preprocess_text(summary)),
             ("device", device.summary_line(run["device"]) if isinstance(run.get("device"), dict) else None),
             ("precision", PRECISION_TEXT.get(run.get("precision"), run.get("precision"))),
             ("shards", (run.get("partial") or {}).get("note") or (
                 f"merged from {len(run['merged_from'])} shard runs" if run.get("merged_from") else None))]
    return [(k, str(v)) for k, v in facts if v is not None]


PRECISION_TEXT = {"float32": "float32",
                  "mixed_float16": "float16 maps (--mixed-precision: Keras mixed_float16, weights in float32)"}


def is_random_backbone(b: dict) -> bool:
    return bool(b.get("random_weights")) or (b.get("weights") or {}).get("kind") == "none"


def ranking_note(summary: dict) -> str:
    metric = primary_metric(summary)
    spec = registry.by_title(metric)
    what = (spec.method or spec.doc) if spec else metric
    if (summary.get("evidence") or {}).get("evidence") == "detection" or "paired" in what:
        return what  # the method says how ties are made
    if any((b.get("primary") or {}).get("paired") for b in summary.get("backbones") or []):
        return what + " Ties: a paired comparison of the same images (its 95% interval of the difference holds 0)."
    return what + " Backbones whose intervals overlap are marked as tied."


def primary_metric(summary: dict) -> str:
    return (summary.get("evidence") or {}).get("metric", "separation")


def evidence_line(summary: dict) -> str:
    ev = summary.get("evidence") or {}
    if not ev:
        return ""
    parts = [f"Evidence used for the ranking: {ev.get('evidence', 'label-free')} ({ev.get('metric', 'separation')})."]
    if ev.get("note"):
        parts.append(ev["note"][0].upper() + ev["note"][1:] + ".")
    if ev.get("labels"):
        parts.append(f"Labels: {ev['labels']}.")
    bx = ev.get("boxes")
    if bx:
        parts.append(f"Boxes: {bx.get('n_boxes')} {bx.get('format')} boxes on {bx.get('images_with_boxes')} images; "
                     f"{bx.get('images_without')} images without annotation"
                     + (f" (layout: {bx['layout']})." if bx.get("layout") else "."))
        parts.extend(bx.get("notes") or [])
    return " ".join(parts)


def evidence_sections(summary: dict) -> list[Table]:
    """The label- and box-aware tables (detection probe, cheap box scores, labels, boxes), as cells."""
    backbones = summary.get("backbones", [])
    out = [t for t in (detection_section(summary), roi_section(summary)) if t]
    labelled = [b for b in backbones if b.get("labels")]
    if labelled:
        specs = registry.specs("labels")
        rows = [[cell("label", b.get("label", "?")), *[cell(s.kind, registry.at(b, s)) for s in specs],
                 cell("count", b["labels"].get("n")), cell("count", b["labels"].get("n_classes")),
                 cell("number", b["labels"].get("chance"))] for b in labelled]
        out.append(Table("labels", "Label-aware scores",
                         ["backbone", *[_header(s) for s in specs], "images", "classes", "chance"],
                         rows, "Accuracy of a logistic-regression probe and of k-nearest neighbours on the pooled "
                               "features (5-fold stratified cross-validation; 95% Wilson interval). LogME: log "
                               "evidence per image of a Bayesian linear model (higher = better; compare within a "
                               "dataset only). Chance = share of the largest class."))
    boxed = [b for b in backbones if b.get("boxes")]
    if boxed:
        specs = registry.specs("boxes", per_map=True)
        rows = [[cell("label", b.get("label", "?")), cell("text", agg), *[cell(s.kind, registry.at(b, s, agg))
                                                                        for s in specs],
                 cell("count", registry.at(b, specs[0], agg) or {})]
                for b in boxed for agg in (b["boxes"].get("maps") or {})]
        out.append(Table("boxes", "Box-aware scores", ["backbone", "map", *[_header(s) for s in specs], "images"],
                         rows, "AUROC: chance 0.5. Mass ratio: activation share inside the boxes over their area "
                               "share, chance 1. Pointing game: share of images whose map peak lies in a box."))
    return out


def _header(spec) -> str:
    """A score's column header: its title, and "[95% CI]" when its cells show an interval."""
    return spec.title + (" [95% CI]" if spec.kind.endswith("interval") else "")


def _with_ci(x, ci) -> dict:
    return {"mean": x, "lo": ci[0], "hi": ci[1]}


def detection_section(summary: dict) -> Table | None:
    """The detection probe's table: each backbone, then each box prior; None when it did not run."""
    probe = summary.get("detection")
    if not probe:
        return None
    rows = []
    for label, b in probe["backbones"].items():
        vs = b["vs_best"]
        versus = cell("text", text="best") if label == vs["best"] else cell(
            "signed_interval", _with_ci(-vs["diff"], (-vs["ci"][1], -vs["ci"][0])), sub="tied" if vs["tied"] else "")
        rows.append([cell("label", label), cell("text", "×".join(str(v) for v in b["map_hw"])),
                     cell("interval", _with_ci(b["map50"], b["map50_ci"])), cell("interval", _with_ci(b["map"], b["map_ci"])),
                     cell("signed_interval", _with_ci(b["gain50"], b["gain50_ci"])), versus,
                     cell("text", f"{b['resolvable']} of {b['n_boxes']}"), cell("seconds", b["seconds"])])
    for hw, p in probe["priors"].items():
        rows.append([cell("label", f"box prior ({hw})"), cell("text", hw.replace("x", "×")),
                     cell("interval", _with_ci(p["map50"], p["map50_ci"])), cell("interval", _with_ci(p["map"], p["map_ci"])),
                     cell("text"), cell("text"), cell("text"), cell("seconds", p["seconds"])])
    sample = (f"a stratified sample of {probe['n_images']} of {probe['candidates']} annotated images "
              f"(--probe-max-images {probe['max_images']})" if probe.get("sampled")
              else f"all {probe['n_images']} annotated images")
    note = (f"A small CenterNet-style head (centre heatmap, size, offset) trained on each backbone's frozen "
            f"features, {probe['folds']}-fold by image (duplicate files kept in one fold), on {sample}; every "
            f"image is scored by a head that never saw it; mAP by pycocotools COCOeval in original-image "
            f"pixels. Intervals: {probe['interval']}, {probe['n_boot']} resamples. Gain and 'vs best': "
            f"{probe['paired']} (tied = the interval holds 0). Box prior: the same head on constant features "
            f"(it can learn only where boxes usually are and how big); beating it is necessary, not "
            f"sufficient. Boxes resolvable: boxes at least one feature stride wide and high at the input size.")
    return Table("detection", "Detection probe (ground truth for a detector)",
                 ["backbone", "map", "mAP@0.5 [95% CI]", "mAP@[.5:.95] [95% CI]", "gain over prior [paired CI]",
                  "vs best [paired CI]", "boxes resolvable", "probe s"], rows, note)


PRIOR = "objectness_prior"  # the position-only baseline of the objectness probe (a column, not a score)


def roi_columns() -> list[str]:
    """The registered cheap box scores kept under ``roi``, with the position prior after the objectness AUROC."""
    names = [s.name for s in registry.specs("boxes") if s.path[0] == roiscores.KEY]
    return names[:names.index("objectness") + 1] + [PRIOR] + names[names.index("objectness") + 1:]


def roi_cell(b: dict, name: str) -> str:
    """A cheap box score's text; "n/a (why)" when it could not be computed, never 0."""
    return _roi_cell(b, name).text


def _roi_cell(b: dict, name: str) -> Cell:
    v = (b.get(roiscores.KEY) or {}).get(name)
    kind = "number" if name == PRIOR else registry.get(name).kind
    why = None if finite(v) else roiscores.reason(b, name)
    return cell(kind, v, text=f"n/a ({why})" if why else None)


def roi_section(summary: dict) -> Table | None:
    """The cheap box-aware scores (ROI-LogME, TLogME, objectness) per backbone; None when not computed."""
    boxed = [b for b in summary.get("backbones", []) if b.get(roiscores.KEY)]
    if not boxed:
        return None
    columns = roi_columns()
    header = ["backbone", *["position-prior AUROC" if n == PRIOR else registry.get(n).title for n in columns],
              "objects / background ROIs"]
    rows = [[cell("label", b.get("label", "?")), *[_roi_cell(b, n) for n in columns],
             cell("text", f"{b[roiscores.KEY].get('n_objects')} / {b[roiscores.KEY].get('n_background')}")]
            for b in boxed]
    note = ("Computed without training on the detection probe's images and feature tensors. ROI-LogME: LogME "
            "(You et al. 2021) of ROI-Align features of the boxes against same-size background regions; "
            "per class and for the box coordinates; TLogME = mean of the class and box terms, after TLogME "
            "(Fouquet et al. 2023, arXiv:2306.15306) and Det-LogME (Wang et al. 2024, arXiv:2403.09432); "
            "compare backbones on the same images only. Objectness: AUROC of a logistic regression on each "
            "map cell's channels predicting 'inside a box' (folds by image); the position prior is the same "
            "probe on the cell's position alone, the gain is the difference. These describe the backbones; "
            + ("the ranking uses the detection probe." if summary.get("detection") else
               "they rank only where the validation study supports them."))
    return Table("roi", "Cheap box-aware scores (no training)", header, rows, note)


DETECTIONS_CAPTION = ("Detection probe on held-out images: ground truth (green) and each backbone's and the box "
                      "prior's detections (red, with scores), each from a head that never saw the image.")


def detections_figure(summary: dict) -> str | None:
    """Path (relative to the run folder) of the detection probe's figure, if it was drawn."""
    return (summary.get("detection") or {}).get("figure")
