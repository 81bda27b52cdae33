"""What sharding costs: N shard processes started together, then one merge, against one unsharded run.

    python benchmarks/shards.py [IMAGES] [--n 192] [--shards 2] [-b NAME ...] [--input-size 224]

Every run is a fresh `bbselect compare` process (random weights, empty cache, --figures none, the
product's default backbones unless -b is given) on the same n images (IMAGES repeated through
symlinks; default ../shared/data/photos beside the repo). The shards get their index from the
environment (`--shard auto` with BBSELECT_SHARD=I/N), the way an array job's tasks do. Printed:

  unsharded   wall time of one process over all n images
  one image   wall time of one process over 1 image: the fixed cost every shard task pays
              (Python + TensorFlow import, model build and first call, reports)
  shards      wall time until the last of the N processes, started at once on this machine, ends
  merge       wall time of `bbselect merge` on the N shard folders (copies maps, scores, reports);
              with --figures 12 it also draws the default figure sample
  equal       whether the merged scores.json equals the unsharded one (it must)

    python benchmarks/shards.py --merge-scaling [--sizes 1000,2000,4000,8000] [--channels 2048]

times the one part of a merge that grows faster than the folder: neighbourhood stability, which finds
every image's nearest neighbours among all images (n^2 similarities), on random pooled features of
the given width, and fits seconds = a * n^2 to extrapolate to large folders.

On one machine the shards share its cores, so they cannot beat the unsharded run; the figures are
the inputs of the wall-time estimate for N machines in docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def repeat_images(src: Path, n: int, dest: Path) -> Path:
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in SUFFIXES)
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        f = files[i % len(files)]
        (dest / f"{i:05d}{f.suffix.lower()}").symlink_to(f.resolve())
    return dest


def bbselect(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bbselect", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait(*procs: subprocess.Popen) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"bbselect failed ({p.returncode}): {err[-2000:]}")


def timed(*procs_factory) -> float:
    t0 = time.perf_counter()
    wait(*[f() for f in procs_factory])
    return time.perf_counter() - t0


def scores(run_dir: Path):
    s = json.loads((run_dir / "scores.json").read_text())
    return s["backbones"], s["images"]


def merge_scaling(sizes: list[int], channels: int) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from bbselect.scoring import stability_summary

    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        gap = rng.standard_normal((n, channels)).astype(np.float32)
        views = (gap + 0.5 * rng.standard_normal((n, channels)).astype(np.float32))[:, None, :]
        t0 = time.perf_counter()
        stability_summary.backbone_summary(gap, views)
        rows.append((n, time.perf_counter() - t0))
    a = sum(t * n**2 for n, t in rows) / sum(n**4 for n, _ in rows)  # least squares for t = a n^2
    print(f"stability of one backbone at merge time, {channels} channels, one view per image:")
    for n, t in rows:
        print(f"  n = {n:7,d}: {t:7.2f} s   (a n^2 fit: {a * n * n:7.2f} s)")
    for n in (10_000, 100_000):
        print(f"  extrapolated n = {n:7,d}: {a * n * n:9.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="?", default=str(ROOT.parent / "shared" / "data" / "photos"))
    ap.add_argument("--n", type=int, default=192)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("-b", "--backbone", action="append", default=None)
    ap.add_argument("--input-size", default="224")
    ap.add_argument("--merge-figures", default="none")
    ap.add_argument("--merge-scaling", action="store_true", help="only time stability's n^2 part of a merge")
    ap.add_argument("--sizes", default="1000,2000,4000,8000")
    ap.add_argument("--channels", type=int, default=2048)
    args = ap.parse_args()
    if args.merge_scaling:
        merge_scaling([int(x) for x in args.sizes.split(",")], args.channels)
        return
    work = Path(tempfile.mkdtemp(prefix="bbselect-shards-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), BBSELECT_CACHE=str(work / "cache"))
    backbones = [a for b in (args.backbone or []) for a in ("-b", b)]
    common = ["--weights", "none", "--no-cache", "--figures", "none", "--input-size", args.input_size, "-q",
              "-o", str(work / "results"), *backbones]
    try:
        folder = repeat_images(Path(args.images), args.n, work / "imgs")
        one = repeat_images(Path(args.images), 1, work / "one")
        t_one = timed(lambda: bbselect("compare", str(one), *common, "--name", "one", env=env))
        t_whole = timed(lambda: bbselect("compare", str(folder), *common, "--name", "whole", env=env))
        t_shards = timed(*[
            (lambda i=i: bbselect("compare", str(folder), *common, "--name", "sharded", "--shard", "auto",
                                  env=dict(env, BBSELECT_SHARD=f"{i}/{args.shards}")))
            for i in range(1, args.shards + 1)])
        t_merge = timed(lambda: bbselect("merge", str(work / "results" / "sharded"), "-o", str(work / "results"),
                                         "--name", "merged", "--figures", args.merge_figures, "-q", env=env))
        equal = scores(work / "results" / "merged") == scores(work / "results" / "whole")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine    : {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
          f"python {platform.python_version()}")
    print(f"run        : {args.n} images, backbones {' '.join(args.backbone or ['(defaults)'])}, "
          f"input {args.input_size}, random weights, --figures none, {args.shards} shards")
    print(f"unsharded  : {t_whole:7.1f} s  ({args.n / t_whole:.1f} images/s end to end)")
    print(f"one image  : {t_one:7.1f} s  (fixed cost of a process)")
    print(f"shards     : {t_shards:7.1f} s  ({args.shards} processes at once on this machine)")
    print(f"merge      : {t_merge:7.1f} s  ({1000 * t_merge / args.n:.1f} ms per image incl. start-up; "
          f"--figures {args.merge_figures})")
    print(f"equal      : {equal}")


if __name__ == "__main__":
    main()
