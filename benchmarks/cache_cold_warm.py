"""Cold vs warm (cached) wall time of the same `bbselect compare` run.

    python benchmarks/cache_cold_warm.py [IMAGES] [--weights none] [--figures none] [--repeat 3]

Runs the command once with an empty cache (cold: every map computed) and then again (warm: every map
from the cache, no model built, TensorFlow not imported), each in a fresh process, and prints the
wall times and their ratio. Default images: ../shared/data/photos beside the repo. The default
backbones are the product's (vgg16, resnet50, mobilenetv2); weights default to `none` so it runs
offline (speed does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="?", default=str(ROOT.parent / "shared" / "data" / "photos"))
    ap.add_argument("--weights", default="none")
    ap.add_argument("--figures", default="none", help="figure setting for both runs (all | N | none)")
    ap.add_argument("--repeat", type=int, default=2, help="warm runs to time (the median is reported)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bbselect-bench-"))
    env = dict(os.environ, BBSELECT_CACHE=str(work / "cache"))
    base = [sys.executable, "-m", "bbselect", "compare", args.images, "--weights", args.weights,
            "--figures", args.figures, "-o", str(work / "results"), "-q"]
    n_images = sum(1 for p in Path(args.images).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    try:
        cold = timed(base, env)
        warm = sorted(timed(base, env) for _ in range(args.repeat))[args.repeat // 2]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine : {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    print(f"command : bbselect compare {args.images} --weights {args.weights} --figures {args.figures}")
    print(f"images  : {n_images}, backbones: vgg16 resnet50 mobilenetv2 (defaults)")
    print(f"cold    : {cold:7.2f} s  (empty cache: decode + 3 forward passes per image)")
    print(f"warm    : {warm:7.2f} s  (median of {args.repeat}; every map from the cache)")
    print(f"ratio   : {cold / warm:7.1f} x")


if __name__ == "__main__":
    main()
