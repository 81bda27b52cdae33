"""Background-ROI sampling (``bbselect.probes.roi.background_rois``) with many boxes in one image.

    python benchmarks/background_rois.py [--sizes 100 1000 10000] [--old-max 1000]

Boxes are spread at random over a 32 × 32-cell map (a 512 px input at stride 16), 0.3-3 or 0.2-1
cells a side: the dense small-object case (crowds, shelves, aerial images); 10,000 boxes of 0.3-3 cells
cover every cell ~26 times over, so most candidate regions collide and shrink. For every size it prints the
seconds of the current sampler and, up to ``--old-max`` boxes, of the quadratic one it replaced
(issue 20: every candidate compared with every box in Python), and checks that both return the same
regions from the same seed. A third layout piles every box into the left quarter of the map.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from bbselect.probes import roi


def quadratic(object_rois, extent, rng, max_iou=0.3, tries=50):
    """The sampler before issue 20, verbatim: each candidate against every object with ``roi.iou``."""
    objs = [tuple(float(v) for v in r) for r in np.asarray(object_rois, dtype=np.float64).reshape(-1, 4)]
    ew, eh = (float(e) for e in extent)
    out = []
    for u0, v0, u1, v1 in objs:
        bw, bh = min(u1 - u0, ew), min(v1 - v0, eh)
        found = None
        while found is None:
            for _ in range(tries):
                x = rng.uniform(0.0, ew - bw) if ew > bw else 0.0
                y = rng.uniform(0.0, eh - bh) if eh > bh else 0.0
                cand = (x, y, x + bw, y + bh)
                if all(roi.iou(cand, o) < max_iou for o in objs):
                    found = cand
                    break
            if found is None:
                if bw <= 1.0 and bh <= 1.0:
                    break
                bw, bh = max(1.0, bw / 2) if bw > 1.0 else bw, max(1.0, bh / 2) if bh > 1.0 else bh
        if found is not None:
            out.append(found)
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def boxes(n: int, seed: int, side: float = 32.0, x_span: float = 32.0, size=(0.3, 3.0)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wh = rng.uniform(*size, size=(n, 2))
    xy = rng.uniform(0, 1, size=(n, 2)) * (np.array([x_span, side]) - wh)
    return np.concatenate([xy, xy + wh], axis=1)


LAYOUTS = (  # name, width of the strip the boxes lie in (cells), range of box sides (cells)
    ("spread, 0.3-3 cells", 32.0, (0.3, 3.0)),
    ("spread, 0.2-1 cell", 32.0, (0.2, 1.0)),
    ("left quarter, 0.3-3 cells", 8.0, (0.3, 3.0)),
)


def timed(fn, objs, seed=0):
    t0 = time.perf_counter()
    got = fn(objs, (32.0, 32.0), np.random.default_rng(seed))
    return time.perf_counter() - t0, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--old-max", type=int, default=1000, help="largest size to time the quadratic sampler at")
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print("| layout | boxes | background ROIs | new s | old s | same result |")
    print("|---|---:|---:|---:|---:|---|")
    for layout, span, size in LAYOUTS:
        for n in args.sizes:
            objs = boxes(n, seed=n, x_span=span, size=size)
            t_new, new = timed(roi.background_rois, objs)
            old_s, same = "-", "-"
            if n <= args.old_max:
                t_old, old = timed(quadratic, objs)
                old_s, same = f"{t_old:.2f}", str(bool(np.array_equal(old, new)))
            print(f"| {layout} | {n} | {len(new)} | {t_new:.2f} | {old_s} | {same} |")


if __name__ == "__main__":
    main()
