"""``python -m studies.validation``: the within-family study's command line (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from studies import docs, saved
from studies.cascade import cascade_file
from studies.validation import __doc__ as ABOUT
from studies.validation import measure, measure_boxes, plan, write
from studies.validation.tables import config_name

ROOT = Path(__file__).resolve().parents[2]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m studies.validation", description=ABOUT.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: input 128, seed 0, MobileNet only")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"),
                    help="the shared data folder [default: ../shared beside the repo]")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument("--figure", default=str(ROOT / "docs" / "img" / "validation_tau.png"))
    ap.add_argument("--no-doc", action="store_true",
                    help="print only; write neither the page, the figure nor the validated-scores file")
    ap.add_argument("--part", choices=("all", "labels", "boxes"), default="all",
                    help="labels: classification data, ground truth probe accuracy; boxes: box data, ground "
                         "truth detection-probe mAP@0.5 [default: all]")
    ap.add_argument("--box-datasets", default=",".join(plan.BOX_DATASETS),
                    help="comma-separated box data sets under ../shared/data/boxes [default: %(default)s]")
    ap.add_argument("--validated", default=str(ROOT / "bbselect" / "scoring" / "validated.json"),
                    help="where to write which scores the study supports (read by the verdict)")
    ap.add_argument("--json", default=None, help="also save every measured row to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder (run folders)")
    ap.add_argument("--from-json", default=None, metavar="FILE",
                    help="no measuring: redo the statistics, tables, page and figure from a --json file "
                         "(files saved before the studies used the registry's names are read too)")
    ap.add_argument("--docs-only", action="store_true",
                    help="no measuring: rewrite the study figures docs/evidence.md and README.md quote from "
                         "the validated-scores file (--validated)")
    return ap


def measure_box_part(box_data: list[Path], quick: bool, weights: str, work: Path, t0: float,
                     partial: Path | None) -> list[dict]:
    """Every box configuration on each box data set; ``partial`` is rewritten after each one, so an
    interrupted run keeps what it measured."""
    rows = []
    for root in box_data:
        data = measure_boxes.load_box_data(root)
        configs = plan.box_configs(quick, weights)
        for i, cfg in enumerate(configs, start=1):
            t1 = time.perf_counter()
            w = cfg["weights"]
            if cfg["kind"] == "cascade":
                w = cascade_file(data["images_dir"], cfg["stage"], cfg["k"], weights, work, cfg["size"])
            row = measure_boxes.measure(data, cfg, w)
            rows.append(row)
            if partial is not None:
                saved.dump(partial, box_rows=rows)
            print(f"[boxes {root.name} {i}/{len(configs)}] {config_name(row)} {cfg['size']}: "
                  f"mAP@0.5={row[plan.BOX_TRUTH]:.3f} ({time.perf_counter() - t1:.0f}s, total "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = None if args.no_doc else Path(args.validated)
    if args.docs_only:
        changed = docs.rewrite(Path(args.validated))
        print("rewrote " + (", ".join(str(p) for p in changed) if changed else "nothing: the pages are current"))
        return 0
    if args.from_json:
        got = saved.load(args.from_json)[0]
        write.render(got["rows"], got.get("box_rows"), got["meta"], Path(args.doc), Path(args.figure), out)
        return 0

    shared = Path(args.shared).expanduser()
    weights = shared / plan.WEIGHTS_FILE
    data = [shared / "data" / "labeled" / d for d in plan.DATASETS] if args.part != "boxes" else []
    box_data = ([shared / "data" / "boxes" / d for d in args.box_datasets.split(",") if d]
                if args.part != "labels" else [])
    missing = [p for p in [weights, *data, *box_data] if not p.exists()]
    if missing:
        sys.exit("studies.validation: the shared data is missing — expected " + ", ".join(str(p) for p in missing)
                 + f".\nIt lives at ../shared beside the repo ({ROOT.parent / 'shared'}); pass --shared PATH if "
                 "it is elsewhere.")
    work = Path(tempfile.mkdtemp(prefix="bbselect-validation-"))
    os.environ["BBSELECT_CACHE"] = str(work / "cache")  # never the user's cache
    t0 = time.perf_counter()
    try:
        rows = measure.measure_all(data, plan.label_groups(args.quick, str(weights)), work, t0)
        box_rows = measure_box_part(box_data, args.quick, str(weights), work, t0,
                                    Path(args.json + ".partial") if args.json else None)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    cmd = ("python -m studies.validation" + (" --quick" if args.quick else "")
           + (f" --part {args.part}" if args.part != "all" else ""))
    meta = saved.machine(cmd, time.perf_counter() - t0, args.quick)
    if args.json:
        saved.dump(Path(args.json), meta=meta, rows=rows, box_rows=box_rows)
    write.render(rows, box_rows, meta, Path(args.doc), Path(args.figure), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
