"""The fixed cost of a small run, against the raw floor built here (issue 25).

    python benchmarks/small_run.py [IMAGES] [--n 8] [--reps 3] [--size 224]

Whole-process wall times, measured side by side in one call and alternating (floor, then each bbselect
variant, then the floor again, ...), so a drift of the machine's speed shows in every column alike:

  floor     a script written by this benchmark: import Keras, build the three default backbones
            (VGG16, ResNet50, MobileNetV2; include_top=False, random weights, SIZE x SIZE), decode each
            image with Pillow, resize it and run it through each network, one image per call; nothing else
  default   ``bbselect compare IMAGES --weights none --no-cache`` (label-free verdict, figures, reports)
  figures   the same with ``--figures none``
  lean      the same with ``--figures none --stability off`` (one forward pass per image, no drawing)

Every run starts a fresh Python process (imports included: the floor pays them too) and writes to a
temporary folder. Prints each column's median wall time and the median of the per-repetition ratios to
that repetition's floor. IMAGES defaults to the first --n photos of ../shared/data/photos beside the
repo, else the bundled images/ folder; ``--repo`` times another checkout (before/after). Random weights: speed does not depend on weight values, and this
runs offline.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = (".jpg", ".jpeg", ".png")

FLOOR = '''
import sys
from pathlib import Path
import numpy as np
from PIL import Image
import keras
size = int(sys.argv[2])
nets = [keras.applications.VGG16, keras.applications.ResNet50, keras.applications.MobileNetV2]
models = [net(weights=None, include_top=False, input_shape=(size, size, 3)) for net in nets]
for path in sorted(Path(sys.argv[1]).iterdir()):
    x = np.asarray(Image.open(path).convert("RGB").resize((size, size)), np.float32)[None]
    for m in models:
        m(x, training=False)
'''

VARIANTS = {"default": [], "figures": ["--figures", "none"], "lean": ["--figures", "none", "--stability", "off"]}


def pick_images(src: Path | None, n: int, dest: Path) -> Path:
    if src is None:
        shared = ROOT.parent / "shared" / "data" / "photos"
        src = shared if shared.is_dir() else ROOT / "images"
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in EXTENSIONS)[:n]
    dest.mkdir(parents=True)
    for f in files:
        os.symlink(f.resolve(), dest / f.name)
    return dest


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="?", type=Path)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repo", type=Path, default=ROOT, help="the bbselect checkout to time (default: this one)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bbselect-small-"))
    env = {**os.environ, "PYTHONPATH": str(args.repo.resolve()) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        folder = pick_images(args.images, args.n, work / "images")
        n = len(list(folder.iterdir()))
        floor = work / "floor.py"
        floor.write_text(FLOOR)
        cmds = {"floor": [sys.executable, str(floor), str(folder), str(args.size)]}
        for name, extra in VARIANTS.items():
            cmds[name] = [sys.executable, "-m", "bbselect", "compare", str(folder), "--weights", "none", "--no-cache",
                          "--input-size", str(args.size), "-o", str(work / "out"), "--name", name, "-q", *extra]
        print(f"{n} images at {args.size}, default backbones, random weights; {args.reps} repetitions, alternating; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", flush=True)
        walls: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.reps):
            for name, cmd in cmds.items():
                walls[name].append(timed(cmd, env))
                shutil.rmtree(work / "out", ignore_errors=True)
        print(f"{'what':10} {'median wall s':>14} {'x floor (median of paired ratios)':>36}")
        for name, w in walls.items():
            ratios = [a / b for a, b in zip(w, walls["floor"])]
            print(f"{name:10} {statistics.median(w):>14.1f} {statistics.median(ratios):>36.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
