"""bbselect's speed against the physical limit and against the seed notebook's loop.

    python benchmarks/throughput.py [IMAGES] [--n 192] [--n-large 960] [--n-detector 48] [--memory]

Rates are images/s on the same images (the photos repeated through symlinks), random weights (speed
does not depend on the weights' values; this runs offline). Three measurements per setting:

  raw        the model alone on pre-decoded, pre-preprocessed, pre-batched tensors (batch 8): the limit
  bbselect   pipeline.compare in-process with an empty cache: decode + inference + maps + scores +
             figures + reports; with default settings, with --figures none, and "lean" (--figures none
             --stability off: one forward pass per image and no drawing, the same work as raw and seed;
             a default label-free run also passes one augmented view per image for stability)
  seed-style the 2020 notebook's way: per image, keras load_img + img_to_array + preprocess_input +
             model.predict on a batch of one, then numpy max/mean over channels (in its own process)

One-off model preparation (building the model and its first, graph-tracing call) is excluded from
all three and printed apart; so is the TensorFlow import.

Part 1 is the product's default run: `bbselect compare` with its three default backbones at 224 on
--n and on --n-large images. Its limit is the three networks alone, one after another:
n / (n/raw_vgg16 + n/raw_resnet50 + n/raw_mobilenetv2); the seed loop runs each backbone in turn.
The two sizes separate the run's fixed cost (figures, charts, reports) from its per-image cost.
Part 2 runs each backbone alone at 224 (--n images) and at a detector-style 416, letterboxed
(--n-detector images). Part 3 (--memory) measures peak RSS of `bbselect compare --figures none` on
100 and 2,000 images in subprocesses. Default images: ../shared/data/photos beside the repo.
Part 4 (--stability; alone with --stability-only) is the cost of neighbourhood stability: a label-free
run of the real MobileNet v1 (c5, c4, c3) on --stability-images (default ../shared trashnet, class
folders ignored) with --stability off, and on with m = 1, 2, 4 views per image, three view seeds each:
the extra forward seconds, the pass's wall time, and how steady the score is across seeds for its cost.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbselect.config.schema import CompareConfig  # noqa: E402
from bbselect.inputs import decode as dec
from bbselect.inputs import images
from bbselect.models import runtime  # noqa: E402
from bbselect.models.selection import parse_selection  # noqa: E402
from bbselect.models.weights import build_backbone  # noqa: E402
from bbselect.reports import render
from bbselect.runs.pipeline import compare  # noqa: E402
from bbselect.scoring import summarize

BACKBONES = tuple(CompareConfig().backbones)  # the product's default selection


def raw_rate(name: str, refs, size: int, resize: str, batch: int = 8) -> float:
    sel = parse_selection(name)
    model, _ = build_backbone(sel, "none", size)
    arrs = [dec.decode_input(r, size, resize, dec.DEFAULT_MAX_PIXELS)[0] for r in refs]
    batches = [sel.spec.preprocess(np.stack(arrs[i:i + batch]).astype(np.float32))
               for i in range(0, len(arrs), batch)]
    model.predict_on_batch(batches[0])  # warm-up / tracing
    t0 = time.perf_counter()
    for b in batches:
        model.predict_on_batch(b)
    rate = len(arrs) / (time.perf_counter() - t0)
    runtime.release()
    return rate


def seed_rate(name: str, folder: Path, size: int) -> float:
    """The seed loop in a fresh process: run in this one, it slowed every later measurement by ~7%
    (most likely through the threads Keras' ``predict`` leaves behind)."""
    out = subprocess.run([sys.executable, __file__, "--seed-loop", name, str(folder), str(size)],
                         check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def _seed_loop(name: str, folder: Path, size: int) -> float:
    refs, _ = images.discover_images(folder)
    keras = runtime.keras()
    sel = parse_selection(name)
    model, _ = build_backbone(sel, "none", size)
    model.predict(np.zeros((1, size, size, 3), np.float32), verbose=0)
    t0 = time.perf_counter()
    for r in refs:
        img = keras.utils.load_img(r.path, target_size=(size, size))
        x = sel.spec.preprocess(keras.utils.img_to_array(img)[None])
        f = model.predict(x, verbose=0)[0]
        f.max(axis=-1), f.mean(axis=-1)
    rate = len(refs) / (time.perf_counter() - t0)
    runtime.release()
    return rate


class Phases:
    """Wall-clock seconds of a run's phases, by wrapping the pipeline's stage functions."""

    STAGES = ((summarize, "summarize_run"), (render, "_figures"), (render, "write_outputs"))

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._saved = []

    def __enter__(self):
        for mod, name in self.STAGES:
            fn = getattr(mod, name)
            self._saved.append((mod, name, fn))
            setattr(mod, name, self._timed(name, fn))
        return self

    def _timed(self, name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    def __exit__(self, *exc):
        for mod, name, fn in self._saved:
            setattr(mod, name, fn)


def bbselect_run(names, folder: Path, n: int, size: int, resize: str, work: Path, figures: str | None = None,
                 stability: str | None = None):
    """(images/s excluding one-off model preparation, preparation seconds, phase seconds)."""
    cfg = CompareConfig(images=str(folder), backbones=list(names), weights="none", input_size=size,
                        resize=resize, output=str(work / "results"), cache=False)
    if figures is not None:
        cfg.figures = figures
    if stability is not None:
        cfg.stability = stability
    with Phases() as phases:
        t0 = time.perf_counter()
        outcome = compare(cfg, quiet=True)
        wall = time.perf_counter() - t0
    timing = outcome.summary["timing"]
    warmup = sum(b["warmup_seconds"] for b in timing["backbones"].values())
    prep = warmup + sum(b["build_seconds"] for b in timing["backbones"].values())
    phases.seconds.update(
        wall=wall, prepare=prep, maps_pass=timing["maps_seconds"] - warmup,
        inference=sum(b["inference_seconds"] for b in timing["backbones"].values()),
    )
    return n / (wall - prep), prep, phases.seconds


def stability_cost(folder: Path, weights: str, work: Path, seeds=(0, 1, 2), views=(1, 2, 4)) -> None:
    """Part 4: extra forward work of the augmented views, and the score's spread across view seeds."""
    mob = "mobilenet:alpha=0.25"
    names = [mob, f"{mob},layer=c4", f"{mob},layer=c3"]

    def run(**kw):
        cfg = CompareConfig(images=str(folder), backbones=names, weights=weights, labels="none", boxes="none",
                            figures="none", output=str(work / "results"), cache=False, **kw)
        out = compare(cfg, quiet=True)
        t = out.summary["timing"]
        warm = sum(b["warmup_seconds"] for b in t["backbones"].values())
        return out.summary, {"pass": t["maps_seconds"] - warm,
                             "inference": sum(b["inference_seconds"] for b in t["backbones"].values()),
                             "views": sum(b.get("view_seconds", 0.0) for b in t["backbones"].values())}

    _, off = run(stability="off")
    n = len(images.discover_images(folder)[0])
    print(f"\nPart 4: neighbourhood stability, {n} images, real MobileNet v1 c5/c4/c3 ({weights})")
    print(f"--stability off: maps pass {off['pass']:.1f} s (inference {off['inference']:.1f} s)")
    print(f"{'m':>2s} {'pass s':>7s} {'x off':>6s} {'view fwd s':>10s} {'/ orig fwd':>10s}  "
          + "  ".join(f"{st}: mean sd(seeds) CI width" for st in ("c5", "c4", "c3"))
          + "  c5-c4 paired tied")
    for m in views:
        got = [run(stability="on", stability_views=m, stability_seed=sd) for sd in seeds]
        ps = np.mean([c["pass"] for _, c in got])
        vs = np.mean([c["views"] for _, c in got])
        inf = np.mean([c["inference"] for _, c in got])
        cols = []
        for lb in names:
            st = [next(b for b in s["backbones"] if b["label"] == lb)["stability"] for s, _ in got]
            means = [x["mean"] for x in st]
            cols.append(f"{np.mean(means):.3f} {np.std(means, ddof=1):.4f} {np.mean([x['hi'] - x['lo'] for x in st]):.3f}")
        tied = sum(bool(next(b for b in s["backbones"] if b["label"] == names[0])["stability"]["paired"][names[1]]["tied"])
                   for s, _ in got)
        print(f"{m:2d} {ps:7.1f} {ps / off['pass']:6.2f} {vs:10.1f} {vs / inf:10.2f}  " + "  ".join(
            f"{c:>26s}" for c in cols) + f"  {tied} of {len(got)}", flush=True)


def chain(rates: list[float]) -> float:
    """The rate of running several models one after another on the same images."""
    return 1.0 / sum(1.0 / r for r in rates)


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


HEAD = (f"{'backbones':28s} {'input':>13s} {'n':>5s} {'raw':>7s} {'default':>8s} {'no-fig':>7s} {'lean':>6s} "
        f"{'seed':>6s} {'def/raw':>8s} {'lean/raw':>8s} {'lean/seed':>9s} {'prep s':>7s}")


def row(label, size, resize, n, raw, e2e, nofig, lean, seed, prep) -> str:
    return (f"{label:28s} {f'{size} {resize}':>13s} {n:5d} {raw:7.1f} {e2e:8.1f} {nofig:7.1f} {lean:6.1f} "
            f"{seed:6.1f} {e2e / raw:8.0%} {lean / raw:8.0%} {lean / seed:8.1f}x {prep:7.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="?", default=str(ROOT.parent / "shared" / "data" / "photos"))
    ap.add_argument("--n", type=int, default=192, help="images for the 224 runs")
    ap.add_argument("--n-large", type=int, default=960, help="images for the large default run (0: skip)")
    ap.add_argument("--n-detector", type=int, default=48, help="images at the detector size")
    ap.add_argument("--detector-size", type=int, default=416)
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS at 100 vs 2,000 images")
    ap.add_argument("--skip-single", action="store_true", help="only part 1 (the default three-backbone run)")
    ap.add_argument("--stability", action="store_true", help="also part 4: the cost of neighbourhood stability")
    ap.add_argument("--stability-only", action="store_true", help="only part 4")
    ap.add_argument("--stability-images", default=str(ROOT.parent / "shared" / "data" / "labeled" / "trashnet"))
    ap.add_argument("--stability-weights",
                    default=str(ROOT.parent / "shared" / "weights" / "keras" / "mobilenet_2_5_224_tf_no_top.h5"))
    ap.add_argument("--seed-loop", nargs=3, metavar=("NAME", "FOLDER", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.seed_loop:
        name, seed_folder, size = args.seed_loop
        print(_seed_loop(name, Path(seed_folder), int(size)))
        return
    work = Path(tempfile.mkdtemp(prefix="bbselect-throughput-"))
    runtime.keras()  # the TensorFlow import is a one-off per process: not counted anywhere
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"tensorflow {metadata.version('tensorflow')}, keras {metadata.version('keras')}; rates in images/s")

    if args.stability_only:
        stability_cost(Path(args.stability_images), args.stability_weights, work)
        return
    folder = subset(Path(args.images), args.n, work / "imgs224")
    refs, _ = images.discover_images(folder)
    raw = {b: raw_rate(b, refs, 224, "stretch") for b in BACKBONES}
    seed = {b: seed_rate(b, folder, 224) for b in BACKBONES}
    print("\nPart 1: the default run (" + " + ".join(BACKBONES) + ")")
    print(HEAD)
    runs = []
    for n in (args.n, args.n_large):
        if not n:
            continue
        f = folder if n == args.n else subset(Path(args.images), n, work / f"imgs224-{n}")
        e2e, prep, phases = bbselect_run(BACKBONES, f, n, 224, "stretch", work)
        nofig, _, nofig_phases = bbselect_run(BACKBONES, f, n, 224, "stretch", work, figures="none")
        lean, _, lean_phases = bbselect_run(BACKBONES, f, n, 224, "stretch", work, figures="none", stability="off")
        runs += [(n, "default", phases), (n, "none", nofig_phases), (n, "lean", lean_phases)]
        print(row("default three", 224, "stretch", n, chain(list(raw.values())), e2e, nofig, lean,
                  chain(list(seed.values())), prep), flush=True)
    print("\nWhere the default run's time goes (seconds; prepare = model builds + first calls, excluded above):")
    print(f"{'n':>5s} {'setting':>9s} {'wall':>6s} {'prepare':>8s} {'maps pass':>10s} {'inference':>10s} "
          f"{'networks alone':>15s} {'scores':>7s} {'figures':>8s} {'reports':>8s} {'other':>6s}")
    for n, fig, p in runs:
        alone = n / chain(list(raw.values()))
        other = p["wall"] - p["prepare"] - p["maps_pass"] - p["summarize_run"] - p["write_outputs"]
        print(f"{n:5d} {fig:>9s} {p['wall']:6.1f} {p['prepare']:8.1f} {p['maps_pass']:10.1f} "
              f"{p['inference']:10.1f} {alone:15.1f} {p['summarize_run']:7.1f} {p['_figures']:8.1f} "
              f"{p['write_outputs'] - p['_figures']:8.1f} {other:6.1f}")
    defaults = [(n, p) for n, fig, p in runs if fig == "default"]
    if len(defaults) == 2:
        (n1, p1), (n2, p2) = defaults
        slope = (n2 - n1) / ((p2["wall"] - p2["prepare"]) - (p1["wall"] - p1["prepare"]))
        fixed = (p1["wall"] - p1["prepare"]) - n1 / slope
        limit = chain(list(raw.values()))
        print(f"per-image rate between n={n1} and n={n2}: {slope:.1f} images/s = {slope / limit:.0%} of raw "
              f"({limit:.1f}); fixed cost per run: {fixed:.1f} s")

    if not args.skip_single:
        print("\nPart 2: one backbone per run")
        print(HEAD)
        for size, resize, n in ((224, "stretch", args.n), (args.detector_size, "letterbox", args.n_detector)):
            f = folder if size == 224 else subset(Path(args.images), n, work / f"imgs{size}")
            rs, _ = images.discover_images(f)
            for name in BACKBONES:
                r = raw[name] if size == 224 else raw_rate(name, rs, size, resize)
                s = seed[name] if size == 224 else seed_rate(name, f, size)
                e2e, prep, _ = bbselect_run([name], f, n, size, resize, work)
                nofig, _, _ = bbselect_run([name], f, n, size, resize, work, figures="none")
                lean, _, _ = bbselect_run([name], f, n, size, resize, work, figures="none", stability="off")
                print(row(name, size, resize, n, r, e2e, nofig, lean, s, prep), flush=True)
    if args.stability:
        stability_cost(Path(args.stability_images), args.stability_weights, work)
    if args.memory:
        print()
        for n in (100, 2000):
            f = subset(Path(args.images), n, work / f"mem{n}")
            t0 = time.perf_counter()
            rss = peak_rss_mb(f, work)
            print(f"peak RSS, mobilenetv2, {n:5d} images, --figures none: {rss:7.0f} MB "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
