"""How neighbourhood stability's interval and its ranking of backbones change with the sample size n:
the figures behind the default of ``--stability-max-images`` (issue 25).

    KERAS_HOME=... python benchmarks/stability_sample.py [--sizes 50,100,200,300,400] [--seeds 10] [--work DIR]

A label-free pool of real images (``../shared/data/photos``, ``labeled/trashnet`` and
``labeled/magnetic-tile-defects`` beside the repo, symlinked into one folder: photos/, trashnet/<class>/,
tiles/<class>/ — the sub-folders are the sample's strata) goes once through ``bbselect compare`` with
``--labels none --stability on --stability-max-images 0`` (every image gets its view, seed 0) for

  * the real MobileNet v1 α0.25 at c5, c4 and c3 (ImageNet weights; needs KERAS_HOME), and
  * two random-init copies at c5 (``--weights none``, seeds 0 and 1).

The maps are cached (``--work``/cache), so a second run only re-scores. Then, for each n and sample
seed 0..S-1, each backbone's stability on the stratified sample a run would take
(``scoring.stability_sample.sample``; neighbours found among the sampled images only, as in a run):
printed per n are each backbone's mean (sd over seeds), the median 95% interval width, Kendall τ of
the sample's order of the five backbones with the whole pool's, how often the top pick is the pool's,
and how often each paired comparison (tied or not, 95% paired bootstrap) agrees with the pool's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbselect.config.schema import CompareConfig  # noqa: E402
from bbselect.runs.pipeline import compare  # noqa: E402
from bbselect.scoring import stability_sample, stability_summary, stats  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
MOB = "mobilenet:alpha=0.25"
SUFFIXES = (".jpg", ".jpeg", ".png")


def pool(dest: Path) -> Path:
    """photos/, trashnet/<class>/, tiles/<class>/ as symlinks (the strata of the sample)."""
    if dest.exists():
        return dest
    for name, src in (("photos", DATA / "photos"), ("trashnet", DATA / "labeled" / "trashnet"),
                      ("tiles", DATA / "labeled" / "magnetic-tile-defects")):
        for f in sorted(p for p in src.rglob("*") if p.suffix.lower() in SUFFIXES):
            link = dest / name / f.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f.resolve())
    return dest


def features(folder: Path, work: Path) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """rels, and per backbone label (gap [n, C], view_gap [n, 1, C]) in the order of rels."""
    runs = [("imagenet", 0, [f"{MOB},name=real-c5", f"{MOB},layer=c4,name=real-c4", f"{MOB},layer=c3,name=real-c3"]),
            ("none", 0, [f"{MOB},name=random-s0"]), ("none", 1, [f"{MOB},name=random-s1"])]
    out, rels = {}, None
    for weights, seed, names in runs:
        cfg = CompareConfig(images=str(folder), backbones=names, weights=weights, seed=seed, labels="none",
                            boxes="none", figures="none", stability="on", stability_max_images=0,
                            output=str(work / "results"), cache_dir=str(work / "cache"))
        t0 = time.perf_counter()
        run_dir = compare(cfg, quiet=True).run_dir
        print(f"  maps of {', '.join(names)} ({weights}): {time.perf_counter() - t0:.0f} s", flush=True)
        manifest = json.loads((run_dir / "run.json").read_text())
        rels = [im["rel"] for im in manifest["images"]]
        for meta in manifest["backbones"]:
            maps = [np.load(run_dir / meta["maps_dir"] / f"{im['id']}.npz") for im in manifest["images"]]
            out[meta["label"]] = (np.stack([m["gap"] for m in maps]), np.stack([m["view_gap"] for m in maps]))
    return rels, out


def scored(rels: list[str], feats: dict, chosen: list[str]) -> tuple[dict, dict]:
    """Per backbone: its stability entry (with paired comparisons) on the images ``chosen``."""
    pos = {r: i for i, r in enumerate(rels)}
    idx = np.array([pos[r] for r in chosen])
    entries, per_image = [], {}
    for label, (gap, views) in feats.items():
        entry, values = stability_summary.backbone_summary(gap[idx], views[idx])
        entries.append({"label": label, "stability": entry})
        per_image[label] = dict(zip(chosen, values.tolist()))
    stats.add_paired(entries, "stability", per_image)
    return {e["label"]: e["stability"] for e in entries}, per_image


def ties(st: dict) -> dict[tuple[str, str], bool]:
    labels = sorted(st)
    return {(a, b): st[a]["paired"][b]["tied"] for i, a in enumerate(labels) for b in labels[i + 1:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,100,200,300,400")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--work", default=None, help="folder for the pool, maps cache and runs (default: a temp folder)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bbselect-stability-sample-"))
    folder = pool(work / "pool")
    print(f"pool: {folder} ({sum(1 for p in folder.rglob('*') if p.is_file())} files); work: {work}")
    rels, feats = features(folder, work)
    labels = list(feats)
    full, _ = scored(rels, feats, rels)
    full_order = sorted(labels, key=lambda lb: -full[lb]["mean"])
    full_ties = ties(full)
    print(f"\nall {len(rels)} images: " + ", ".join(
        f"{lb} {full[lb]['mean']:.3f} [{full[lb]['lo']:.3f}, {full[lb]['hi']:.3f}]" for lb in full_order))
    print("pairs tied on the whole pool: " + (", ".join(f"{a}~{b}" for (a, b), t in full_ties.items() if t) or "none"))
    top_group = {full_order[0], *(b for b in labels if full_ties.get(tuple(sorted((full_order[0], b))), False))}
    untied = [p for p, t in full_ties.items() if not t]
    head = (f"{'n':>5s} " + " ".join(f"{lb:>17s}" for lb in full_order)
            + f" {'CI width':>9s} {'tau':>5s} {'top ok':>6s} {'order kept':>10s} {'ties agree':>10s}")
    print(f"\nper n: each backbone's mean (sd over {args.seeds} sample seeds); median 95% CI width over backbones and "
          f"seeds; Kendall tau of the order with the whole pool's (mean); top ok: the sample's top pick is the "
          f"pool's or tied with it on the pool (share); order kept: pairs the pool tells apart, in the pool's "
          f"order (share); ties agree: paired tied/not-tied calls equal to the pool's (share)")
    print(head)
    for n in [int(x) for x in args.sizes.split(",")] + [len(rels)]:
        seeds = range(args.seeds) if n < len(rels) else [0]
        got = [scored(rels, feats, stability_sample.sample(rels, n, seed))[0] for seed in seeds]
        means = {lb: [g[lb]["mean"] for g in got] for lb in labels}
        widths = [g[lb]["hi"] - g[lb]["lo"] for g in got for lb in labels]
        taus = [kendalltau([full[lb]["mean"] for lb in labels], [g[lb]["mean"] for lb in labels])[0] for g in got]
        top = [max(labels, key=lambda lb: g[lb]["mean"]) in top_group for g in got]
        kept = [(g[a]["mean"] > g[b]["mean"]) == (full[a]["mean"] > full[b]["mean"]) for g in got for a, b in untied]
        agree = [t == full_ties[p] for g in got for p, t in ties(g).items()]
        print(f"{n:5d} " + " ".join(f"{np.mean(means[lb]):8.3f} ({np.std(means[lb]):.3f})" for lb in full_order)
              + f" {np.median(widths):9.3f} {np.mean(taus):5.2f} {np.mean(top):6.2f} {np.mean(kept):10.2f}"
              f" {np.mean(agree):10.2f}",
              flush=True)


if __name__ == "__main__":
    main()
