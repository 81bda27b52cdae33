"""Write what the within-family study found: the terminal tables, docs/validation.md (its own part; the
blocks other studies own are kept), docs/img/validation_tau.png and the ``labels`` / ``boxes`` keys of
``validated.json`` (through ``bbselect.scoring.validated.write``)."""

from __future__ import annotations

from pathlib import Path

from bbselect.scoring import validated
from studies import docs
from studies.validation import boxpage, plan
from studies.validation.analyse import analyse, analyse_boxes, counted, supported, supported_boxes
from studies.validation.figure import figure
from studies.validation.page import page
from studies.validation.tables import print_boxes, print_labels


def labels_json(res: dict) -> dict:
    """Per score: supported or not, with its τ (all and non-random configurations), p and the share of
    (pretrained, random-init) pairs it orders pretrained-first, per data set."""
    return {k: {"supported": supported(res, k), "tau": {ds: res[ds]["tau"][k]["tau"] for ds in res},
                "p": {ds: res[ds]["tau"][k]["p"] for ds in res},
                "tau_nonrandom": {ds: res[ds]["tau_nonrandom"][k]["tau"] for ds in res},
                "above_random": {ds: res[ds]["rvr"][k]["all"] for ds in res}}
            for k in plan.label_scores()}


def boxes_json(res: dict) -> dict:
    """Per score: supported or not, on which data sets it was counted, its τ, p and pretrained > degraded."""
    return {k: {"supported": supported_boxes(res, k), "counted": counted(res),
                "tau": {ds: res[ds]["tau"][k]["tau"] for ds in res},
                "p": {ds: res[ds]["tau"][k]["p"] for ds in res},
                "tau_nonrandom": {ds: res[ds]["tau_nonrandom"][k]["tau"] for ds in res},
                "above_degraded": {ds: res[ds]["above"][k]["all"] for ds in res}}
            for k in plan.box_scores()}


def write_validated(path: Path, res: dict, box_res: dict, meta: dict) -> None:
    """Which scores the study supports, per kind of data (a part not run keeps what the file had)."""
    old = validated.load(path)
    doc = {
        "generated_by": meta["command"], "seconds": round(meta["seconds"]), "rule": validated.RULE,
        "boxes": {"ground_truth": "detection-probe mAP@0.5", "datasets": list(box_res), "scores": boxes_json(box_res)}
        if box_res else old.get("boxes"),
        "labels": {"ground_truth": "linear-probe accuracy", "datasets": list(res), "scores": labels_json(res)}
        if res else old.get("labels"),
    }
    validated.write(path, doc)  # other studies' keys kept


def render(rows: list[dict], box_rows: list[dict] | None, meta: dict, doc: Path, fig: Path, out: Path | None) -> None:
    """Print the tables; unless ``out`` is None or the run was ``--quick``, write the page, the figure and
    ``validated.json`` at ``out``."""
    res = analyse(rows) if rows else {}
    box_res = analyse_boxes(box_rows) if box_rows else {}
    if res:
        print_labels(res)
    if box_res:
        print_boxes(box_res)
    print(f"\ntotal run time: {meta['seconds']:.0f} s ({meta['seconds'] / 60:.1f} min)")
    if out is None:
        return
    if meta.get("quick"):
        print("--quick: docs/validation.md and the validated-scores file are left as they are")
        return
    if res:
        figure(res, fig)
        text = page(doc, fig, rows, res, meta, boxpage.section(box_rows, box_res, meta) if box_res else None)
        doc.parent.mkdir(parents=True, exist_ok=True)
        old = doc.read_text() if doc.is_file() else ""
        doc.write_text(validated.keep_blocks(old, text))  # other studies' marked sections kept
    elif box_res:  # the box part alone: replace only the box section of the page
        boxpage.replace_box_section(doc, boxpage.section(box_rows, box_res, meta), meta)
    write_validated(out, res, box_res, meta)
    docs.after_write(out)
    print(f"wrote {doc} and {out}" + (f" and {fig}" if res else ""))
