"""bbselect's speed against the physical limit and against the seed notebook's loop.

    python benchmarks/throughput.py [IMAGES] [--n 48] [--n-detector 24] [--memory]

For each backbone (vgg16, resnet50, mobilenetv2) at 224 (stretch) and at a detector-style 416
(letterbox), on the same images, it measures (images/s):

  raw        the model alone on pre-decoded, pre-preprocessed, pre-batched tensors (batch 8): the limit
  bbselect   pipeline.compare in-process with default settings and an empty cache: decode + inference
             + maps + scores + figures + report (model build excluded: a one-off cost, printed apart)
  no-fig     the same with --figures none (the CI setting: no drawing at all)
  seed-style the 2020 notebook's way: per image, keras load_img + img_to_array + preprocess_input +
             model.predict on a batch of one, then numpy max/mean over channels

and prints the ratios bbselect/raw and bbselect/seed. Weights are random (`none`): speed does not
depend on their values, and this runs offline. With --memory it also runs `bbselect compare
--figures none` on 100 and 2,000 images (the photos repeated through symlinks) in subprocesses and
prints their peak RSS. Default images: ../shared/data/photos beside the repo.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbselect import engine, images, registry, runtime  # noqa: E402
from bbselect.config import CompareConfig  # noqa: E402
from bbselect.pipeline import compare  # noqa: E402
from bbselect.weights import build_backbone  # noqa: E402

BACKBONES = ("vgg16", "resnet50", "mobilenetv2")


def raw_rate(name: str, refs, size: int, resize: str, batch: int = 8) -> float:
    sel = registry.parse_selection(name)
    model, _ = build_backbone(sel, "none", size)
    arrs = [engine.decode(r, size, resize, images.DEFAULT_MAX_PIXELS)[0] for r in refs]
    batches = [sel.spec.preprocess(np.stack(arrs[i:i + batch]).astype(np.float32))
               for i in range(0, len(arrs), batch)]
    model.predict_on_batch(batches[0])  # warm-up / tracing
    t0 = time.perf_counter()
    for b in batches:
        model.predict_on_batch(b)
    return len(arrs) / (time.perf_counter() - t0)


def bbselect_rate(name: str, folder: Path, n: int, size: int, resize: str, work: Path,
                  figures: str = "24") -> tuple[float, float]:
    cfg = CompareConfig(images=str(folder), backbones=[name], weights="none", input_size=size, resize=resize,
                        output=str(work / "results"), cache=False, figures=figures)
    t0 = time.perf_counter()
    outcome = compare(cfg, quiet=True)
    wall = time.perf_counter() - t0
    # building the model is a one-off cost per run, not per image: reported apart
    build = outcome.summary["timing"]["backbones"][name]["build_seconds"]
    return n / (wall - build), build


def seed_rate(name: str, refs, size: int) -> float:
    keras = runtime.keras()
    sel = registry.parse_selection(name)
    model, _ = build_backbone(sel, "none", size)
    model.predict(np.zeros((1, size, size, 3), np.float32), verbose=0)
    t0 = time.perf_counter()
    for r in refs:
        img = keras.utils.load_img(r.path, target_size=(size, size))
        x = sel.spec.preprocess(keras.utils.img_to_array(img)[None])
        f = model.predict(x, verbose=0)[0]
        f.max(axis=-1), f.mean(axis=-1)
    return len(refs) / (time.perf_counter() - t0)


def subset(src: Path, n: int, dest: Path) -> Path:
    """A folder of n images: the source photos repeated through symlinks."""
    refs, _ = images.discover_images(src)
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        r = refs[i % len(refs)]
        (dest / f"{i:05d}{r.path.suffix.lower()}").symlink_to(r.path.resolve())
    return dest


_RSS = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_mb(folder: Path, work: Path) -> float:
    """Peak RSS of one `bbselect compare` process, measured by a fresh parent (KiB on Linux)."""
    cmd = [sys.executable, "-m", "bbselect", "compare", str(folder), "-b", "mobilenetv2", "--weights", "none",
           "--figures", "none", "--no-cache", "-q", "-o", str(work / "mem")]
    out = subprocess.run([sys.executable, "-c", _RSS, *cmd], check=True, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="?", default=str(ROOT.parent / "shared" / "data" / "photos"))
    ap.add_argument("--n", type=int, default=48, help="images at 224")
    ap.add_argument("--n-detector", type=int, default=24, help="images at the detector size")
    ap.add_argument("--detector-size", type=int, default=416)
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS at 100 vs 2,000 images")
    ap.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bbselect-throughput-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"tensorflow {__import__('importlib.metadata').metadata.version('tensorflow')}")
    print(f"{'backbone':12s} {'input':>14s} {'n':>4s} {'raw img/s':>10s} {'bbselect':>9s} {'no-fig':>7s} "
          f"{'seed':>7s} {'bbs/raw':>8s} {'nofig/raw':>10s} {'bbs/seed':>9s} {'build s':>8s}")
    for size, resize, n in ((224, "stretch", args.n), (args.detector_size, "letterbox", args.n_detector)):
        folder = subset(Path(args.images), n, work / f"imgs{size}")
        refs, _ = images.discover_images(folder)
        for name in args.backbones:
            raw = raw_rate(name, refs, size, resize)
            e2e, build = bbselect_rate(name, folder, n, size, resize, work)
            nofig, _ = bbselect_rate(name, folder, n, size, resize, work, figures="none")
            seed = seed_rate(name, refs, size)
            runtime.release()
            print(f"{name:12s} {f'{size} {resize}':>14s} {n:4d} {raw:10.1f} {e2e:9.1f} {nofig:7.1f} {seed:7.1f} "
                  f"{e2e / raw:8.0%} {nofig / raw:10.0%} {e2e / seed:8.1f}x {build:8.1f}", flush=True)
    if args.memory:
        for n in (100, 2000):
            folder = subset(Path(args.images), n, work / f"mem{n}")
            t0 = time.perf_counter()
            rss = peak_rss_mb(folder, work)
            print(f"peak RSS, mobilenetv2, {n:5d} images, --figures none: {rss:7.0f} MB "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
