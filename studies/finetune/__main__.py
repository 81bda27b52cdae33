"""``python -m studies.finetune``: the fine-tuning study's command line (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studies.finetune import __doc__ as ABOUT
from studies.finetune import analyse, measure, page, plan, write

ROOT = Path(__file__).resolve().parents[2]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m studies.finetune", description=ABOUT.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 networks, 2 folds, 1 epoch")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--cache", default=None, help="per-network results [default: results/finetune_cache.json]")
    ap.add_argument("--phases", default="frozen,short,long",
                    help="comma-separated: frozen, short, long, proxy (last stage only, short) [default: %(default)s]")
    ap.add_argument("--networks", default=None, help="comma-separated subset of the study's network keys")
    ap.add_argument("--from-cache", action="store_true", help="measure nothing; report from the cache")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument("--validated", default=str(ROOT / "bbselect" / "scoring" / "validated.json"))
    ap.add_argument("--no-doc", action="store_true", help="print only; write neither the page nor validated.json")
    ap.add_argument("--n-boot", type=int, default=500)
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    shared = Path(args.shared).expanduser()
    if not (shared / "weights" / "zoo" / "zoo.json").exists() or not (shared / "data" / "boxes" / "raccoon").is_dir():
        sys.exit(f"studies.finetune: the shared data is missing under {shared} (pass --shared PATH)")
    keys = plan.network_keys(args.quick, args.networks)
    name = "finetune_cache_quick.json" if args.quick else "finetune_cache.json"
    cache = measure.Cache(Path(args.cache or ROOT / "results" / name), plan.meta(args.quick))
    data = measure.load_data(shared)
    fold_of = measure.fold_assignment(data, plan.folds(args.quick))
    if not args.from_cache:
        measure.measure(cache, data, fold_of, keys, [p for p in args.phases.split(",") if p],
                        plan.schedules(args.quick))
    result = analyse.analyse(cache.data, data, fold_of, keys, args.n_boot)
    print(page.text_summary(result), flush=True)
    out = None if args.no_doc or args.quick else Path(args.validated)
    write.render(result, Path(args.doc), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
