"""``python -m studies.zoo``: the cross-family study's command line (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from studies import saved
from studies.zoo import __doc__ as ABOUT
from studies.zoo import measure, plan, write
from studies.zoo.analyse import tie_sets

ROOT = Path(__file__).resolve().parents[2]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m studies.zoo", description=ABOUT.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 4 networks, 60 images")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument("--validated", default=str(ROOT / "bbselect" / "scoring" / "validated.json"))
    ap.add_argument("--json", default=None, help="save every row here")
    ap.add_argument("--from-json", default=None,
                    help="no measuring: redo the statistics and the page from saved rows (one file, or several "
                         "joined by commas: processes that split the configurations; files saved before the "
                         "studies used the registry's names are read too)")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--only", default=None, help="comma-separated configuration ids to measure")
    ap.add_argument("--merge", default=None, help="add the rows of an earlier --json run (not re-measured)")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    out = None if args.no_doc else Path(args.validated)
    if args.from_json:
        got = saved.load(args.from_json)
        rows = [r for s in got for r in s["rows"]]
        tie_sets(rows)
        meta = {**got[0]["meta"], "seconds": max(s["meta"]["seconds"] for s in got), "processes": len(got)}
        write.render(rows, meta, Path(args.doc), out)
        return 0
    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="bbselect-zoo-"))
    t0 = time.perf_counter()
    max_images = args.max_images or (plan.QUICK_IMAGES if args.quick else None)
    try:
        cfgs = plan.configs(shared, args.quick)
        if args.only:  # in the order given
            by_id = {c["id"]: c for c in cfgs}
            cfgs = [by_id[i] for i in args.only.split(",")]
        rows, _evals = measure.measure(cfgs, shared, work, max_images, t0,
                                       Path(args.json + ".partial") if args.json else None)
        if args.merge:  # rows of an earlier run (e.g. configurations that failed there), measured alike
            have = {(r["dataset"], r["config"]) for r in rows}
            rows += [r for r in saved.load(args.merge)[0]["rows"] if (r["dataset"], r["config"]) not in have]
        try:
            tie_sets(rows)
        except Exception as err:  # noqa: BLE001 - keep the rows; the statistics can be redone from --json
            print(f"tie sets FAILED: {type(err).__name__}: {err}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = saved.machine("python -m studies.zoo" + (" --quick" if args.quick else ""),
                         time.perf_counter() - t0, args.quick, max_images=max_images)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, default=str))
    write.render(rows, meta, Path(args.doc), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
