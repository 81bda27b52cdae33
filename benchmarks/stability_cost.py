"""What the bounded second pass costs (issue 25): a default label-free run against a one-pass run, and
the stability part of a merge at 100,000 images.

    python benchmarks/stability_cost.py [--n 2000] [--reps 2] [-b mobilenet:alpha=0.25] [--input-size 224]
    python benchmarks/stability_cost.py --merge-only [--sizes 1000,10000,100000] [--max-images 300]
    python benchmarks/stability_cost.py --trio [--trio-n 200] [--n 2000]

Part 1: fresh ``bbselect compare`` processes (random weights, ``--no-cache``, ``--labels none``, default
figures) on n images (the label-free pool of benchmarks/stability_sample.py — ../shared/data/photos,
labeled/trashnet, labeled/magnetic-tile-defects — repeated through symlinks in sub-folders of 500, so
the sample has strata), in turn: ``--stability off`` (one pass), the default (stability on a sample of
``--stability-max-images``, default 300) and ``--stability-max-images 0`` (the old behaviour, a view for
every image). Printed: the median wall and CPU time (user + system of the process: less sensitive to
other jobs on a shared machine than wall) of each over ``--reps`` alternating rounds, their ratios to
the one-pass run, and from run.json the views' forward seconds against the originals'.

Part 3 (``--trio``, instead of Part 1): the default trio is too slow here for 2,000 images per run, so
its ratio is extrapolated from three measured runs (random weights, --no-cache, default figures): 1
image one pass (T1), m images one pass (Tm) and m images with a view for every image (Vm, i.e.
``--stability-max-images 0``). Linear model: a one-pass run of n images costs T1 + (n - 1) (Tm - T1) /
(m - 1); every view adds (Vm - Tm) / m (its forward pass, augmentation, the stability figure and scores
spread over the views: an over-estimate of a view's cost); the default run at n adds N such views.

Part 2 (``--merge-only`` runs only this): the stability part of a merge of n images, the way
``scoring/summarize.py`` does it: the sample from the folder's n relative paths
(``stability_sample.record``), the run's images filtered to it (``stability_sample.members``), then one
backbone's stability on the sampled images' pooled features (``stability_summary.backbone_summary``,
random features of 512 / 1,280 / 2,048 channels, the default trio's widths) and the paired comparisons
of the three. Measured directly at each n (only the sampled rows are made), no extrapolation.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbselect.config.schema import STABILITY_MAX_IMAGES  # noqa: E402
from bbselect.scoring import stability_sample, stability_summary, stats  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SUFFIXES = (".jpg", ".jpeg", ".png")
CHANNELS = {"vgg16": 512, "mobilenetv2": 1280, "resnet50": 2048}


def folder_of(n: int, dest: Path) -> Path:
    files = sorted(p for src in (DATA / "photos", DATA / "labeled" / "trashnet", DATA / "labeled" / "magnetic-tile-defects")
                   for p in src.rglob("*") if p.suffix.lower() in SUFFIXES)
    for i in range(n):
        f = files[i % len(files)]
        link = dest / f"part{i // 500}" / f"{i:05d}{f.suffix.lower()}"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f.resolve())
    return dest


def one_run(folder: Path, out: Path, name: str, backbone: str, size: str, extra: list[str]) -> tuple[float, dict, float]:
    """Wall seconds, run.json and CPU seconds (user + system) of one fresh ``bbselect compare`` process."""
    cmd = [sys.executable, "-m", "bbselect", "compare", str(folder), "-o", str(out), "--name", name, "-q",
           "-b", backbone, "--weights", "none", "--input-size", size, "--no-cache", "--labels", "none", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode:
        raise SystemExit(f"bbselect failed ({p.returncode}): {p.stderr[-2000:]}")
    run_dir = sorted(out.glob(f"{name}*"), key=lambda d: d.stat().st_mtime)[-1]
    return wall, json.loads((run_dir / "run.json").read_text()), cpu


def end_to_end(n: int, reps: int, backbone: str, size: str, work: Path) -> None:
    folder = folder_of(n, work / f"imgs{n}")
    settings = [("one pass (--stability off)", ["--stability", "off"]),
                (f"default (sample of {STABILITY_MAX_IMAGES})", []),
                ("every image (--stability-max-images 0)", ["--stability-max-images", "0"])]
    walls = {s: [] for s, _ in settings}
    cpus = {s: [] for s, _ in settings}
    views = {s: [] for s, _ in settings}
    for r in range(reps):
        for s, extra in settings:
            wall, manifest, cpu = one_run(folder, work / "out", f"r{r}", backbone, size, extra)
            walls[s].append(wall)
            cpus[s].append(cpu)
            t = manifest["timing"]["backbones"]
            views[s].append((sum(b.get("view_seconds", 0.0) for b in t.values()),
                             sum(b.get("inference_seconds", 0.0) for b in t.values())))
            print(f"  round {r + 1}: {s}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    base = statistics.median(walls[settings[0][0]])
    base_cpu = statistics.median(cpus[settings[0][0]])
    print(f"\nPart 1: {n} images, {backbone} (random weights) at {size}, default figures, fresh processes, "
          f"median of {reps}")
    print(f"{'setting':>42s} {'wall s':>8s} {'x one pass':>10s} {'CPU s':>8s} {'x one pass':>10s} "
          f"{'view fwd s':>10s} {'orig fwd s':>10s}")
    for s, _ in settings:
        vs, inf = (statistics.median(x) for x in zip(*views[s]))
        wall, cpu = statistics.median(walls[s]), statistics.median(cpus[s])
        print(f"{s:>42s} {wall:8.1f} {wall / base:10.3f} {cpu:8.1f} {cpu / base_cpu:10.3f} {vs:10.1f} {inf:10.1f}")


def trio(m: int, n: int, max_images: int, work: Path) -> None:
    from bbselect.config.schema import CompareConfig

    trio_backbones = CompareConfig().backbones
    folder1, folder = folder_of(1, work / "trio1"), folder_of(m, work / f"trio{m}")
    walls = {}
    for key, f, extra in (("T1", folder1, ["--stability", "off"]), ("Tm", folder, ["--stability", "off"]),
                          ("Vm", folder, ["--stability", "on", "--stability-max-images", "0"])):
        args = [a for b in trio_backbones for a in ("-b", b)]
        walls[key], _, _ = one_run(f, work / "out", key, args[1], "224", args[2:] + extra)
        print(f"  {key}: {walls[key]:.1f} s", flush=True)
    per_image = (walls["Tm"] - walls["T1"]) / (m - 1)
    per_view = (walls["Vm"] - walls["Tm"]) / m
    one = walls["T1"] + (n - 1) * per_image
    default = one + min(n, max_images) * per_view
    print(f"\nPart 3: default trio ({', '.join(trio_backbones)}), random weights, 224, default figures")
    print(f"measured: T1 = {walls['T1']:.1f} s, T{m} = {walls['Tm']:.1f} s, V{m} = {walls['Vm']:.1f} s -> "
          f"{per_image:.3f} s per image, {per_view:.3f} s per view")
    print(f"extrapolated to n = {n:,}: one pass {one:.0f} s; default (views for {min(n, max_images)}) {default:.0f} s "
          f"= {default / one:.3f}x; a view for every image {one + n * per_view:.0f} s = {(one + n * per_view) / one:.3f}x")


def merge_part(sizes: list[int], max_images: int, k: int = 10) -> None:
    print(f"\nPart 2: the stability part of a merge (--stability-max-images {max_images}, k = {k}, one view, "
          f"the default trio's channel widths {', '.join(f'{b} {c}' for b, c in CHANNELS.items())})")
    print(f"{'n':>8s} {'sample s':>9s} {'members s':>9s} " + " ".join(f"{b + ' s':>12s}" for b in CHANNELS)
          + f" {'paired s':>9s} {'total s':>8s}")
    rng = np.random.default_rng(0)
    for n in sizes:
        rels = [f"part{i // 500:04d}/{i:06d}.jpg" for i in range(n)]
        images = [{"rel": r, "id": f"{i:06d}"} for i, r in enumerate(rels)]
        t0 = time.perf_counter()
        rec = stability_sample.record(rels, max_images, 0)
        t_sample = time.perf_counter() - t0
        t0 = time.perf_counter()
        chosen = stability_sample.members(images, {"sample": rec})
        t_members = time.perf_counter() - t0
        m = len(chosen)
        per_bb, entries, per_image = [], [], {}
        for label, c in CHANNELS.items():
            gap = rng.standard_normal((m, c)).astype(np.float32)
            view = (gap + 0.5 * rng.standard_normal((m, c)).astype(np.float32))[:, None, :]
            t0 = time.perf_counter()
            entry, values = stability_summary.backbone_summary(gap, view, k)
            per_bb.append(time.perf_counter() - t0)
            entries.append({"label": label, "stability": entry})
            per_image[label] = dict(zip([im["id"] for im in chosen], values.tolist()))
        t0 = time.perf_counter()
        stats.add_paired(entries, "stability", per_image)
        t_paired = time.perf_counter() - t0
        total = t_sample + t_members + sum(per_bb) + t_paired
        print(f"{n:8,d} {t_sample:9.3f} {t_members:9.3f} " + " ".join(f"{t:12.3f}" for t in per_bb)
              + f" {t_paired:9.3f} {total:8.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("-b", "--backbone", default="mobilenet:alpha=0.25")
    ap.add_argument("--input-size", default="224")
    ap.add_argument("--merge-only", action="store_true")
    ap.add_argument("--trio", action="store_true", help="Part 3 instead of Part 1")
    ap.add_argument("--trio-n", type=int, default=200)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--max-images", type=int, default=STABILITY_MAX_IMAGES)
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bbselect-stability-cost-"))
    if args.trio:
        trio(args.trio_n, args.n, args.max_images, work)
    elif not args.merge_only:
        end_to_end(args.n, args.reps, args.backbone, args.input_size, work)
    merge_part([int(x) for x in args.sizes.split(",")], args.max_images)


if __name__ == "__main__":
    main()
