"""ROI features: one pooled [C] vector per annotated box (and per background region) of a feature map.

Input: one image's feature map ``fmap`` [h, w, C] of a square network input of ``input_size`` px,
the image content's ``valid_hw`` (rows, cols in input pixels; the whole input for ``stretch``, the
top-left part for ``letterbox``, as ``bbselect.inputs.decode.fit_to_input`` returns it) and boxes in
normalised image coordinates (``Box`` or any ``(x0, y0, x1, y1, ...)``, 0..1, x right, y down).

Geometry.  A box edge at image coordinate ``x`` lies at input pixel ``x * valid_w``; with the map's
stride ``input_size / w`` that is ``u = x * valid_w * w / input_size`` in *cell units* (0 = left edge of
cell 0, w = right edge of the last cell; cell j's centre is at u = j + 0.5).  ``box_to_cells`` does
this; letterbox and stretch differ only in ``valid_hw``.

ROI-Align (He et al., Mask R-CNN, 2017; the local-feature extraction of Fouquet et al. 2023).  Each
ROI is pooled to one [C] vector: the mean of ``ny x nx`` bilinear samples placed at the centres of a
regular grid over the ROI, ``ny = clip(ceil(2 * height in cells), 2, 16)`` (and so for x).  A sample
at (u, v) interpolates the four cells whose centres surround it (index coordinates u - 0.5, v - 0.5,
clamped to the map), so a box smaller than a cell still gets a feature, and a linear ramp is
reproduced exactly.  Vectorised numpy; ``tests/probes/test_roi.py`` checks it against a plain loop.

Background ROIs (``background_rois``): for each object box, one region of the same size placed
uniformly at random inside the image content with IoU < ``max_iou`` against every box (up to 50
draws; if none fits the size is halved, down to one cell).  Deterministic for a seed.  Big objects
(raccoon: median box 48 % of the image) can leave no such room: then fewer background ROIs come back,
and the caller counts them.  A candidate is compared only with the boxes whose centres are near enough
to overlap it by ``max_iou`` (``_Grid``), so 10,000 boxes in one image take seconds, not minutes
(``benchmarks/background_rois.py``).

Pure numpy, no I/O.
"""

from __future__ import annotations

import math

import numpy as np


def box_to_cells(box, map_hw: tuple[int, int], input_size: int,
                 valid_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """(u0, v0, u1, v1) of a normalised image box in cell units of an [h, w] map (see module doc)."""
    h, w = (int(s) for s in map_hw)
    vh, vw = (float(s) for s in valid_hw)
    x0, y0, x1, y1 = (float(v) for v in tuple(box)[:4])
    sx, sy = vw * w / input_size, vh * h / input_size
    return x0 * sx, y0 * sy, x1 * sx, y1 * sy


def valid_cells(map_hw: tuple[int, int], input_size: int, valid_hw: tuple[int, int]) -> tuple[float, float]:
    """(width, height) in cell units of the part of the map that covers image content."""
    h, w = (int(s) for s in map_hw)
    return valid_hw[1] * w / input_size, valid_hw[0] * h / input_size


def _samples(extent: float) -> int:
    return int(min(16, max(2, math.ceil(2.0 * extent))))


def roi_align(fmap: np.ndarray, rois) -> np.ndarray:
    """[k, C] ROI-Align pooled features of ``rois`` [k, 4] = (u0, v0, u1, v1) in cell units."""
    f = np.asarray(fmap, dtype=np.float64)
    if f.ndim != 3:
        raise ValueError(f"fmap must be [h, w, C]; got shape {f.shape}")
    h, w, c = f.shape
    r = np.asarray(rois, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((r.shape[0], c))
    for i, (u0, v0, u1, v1) in enumerate(r):
        if not (u1 > u0 and v1 > v0):
            raise ValueError(f"ROI must have u1 > u0 and v1 > v0; got {(u0, v0, u1, v1)}")
        nx, ny = _samples(u1 - u0), _samples(v1 - v0)
        xs = u0 + (np.arange(nx) + 0.5) * (u1 - u0) / nx - 0.5
        ys = v0 + (np.arange(ny) + 0.5) * (v1 - v0) / ny - 0.5
        xs, ys = np.clip(xs, 0.0, w - 1.0), np.clip(ys, 0.0, h - 1.0)
        xa, ya = np.floor(xs).astype(int), np.floor(ys).astype(int)
        xb, yb = np.minimum(xa + 1, w - 1), np.minimum(ya + 1, h - 1)
        lx, ly = xs - xa, ys - ya
        # mean over the grid of bilinear samples = separable weights on rows and columns
        wy = np.zeros(h)
        np.add.at(wy, ya, 1.0 - ly)
        np.add.at(wy, yb, ly)
        wx = np.zeros(w)
        np.add.at(wx, xa, 1.0 - lx)
        np.add.at(wx, xb, lx)
        out[i] = np.einsum("i,j,ijc->c", wy / ny, wx / nx, f)
    return out


def iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each row of ``a`` [P, 4] with the same row of ``b`` [P, 4]: ``iou``'s arithmetic, vectorised."""
    iw = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
    ih = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _segments(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, index): every index of the ranges [lo[i], hi[i]), with the i it came from."""
    n = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo)), n)
    return owner, np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))


class _Grid:
    """Object boxes bucketed by centre on a grid of at most 4n + 16 buckets, so a candidate is compared
    only with the objects that could overlap it by ``max_iou``.

    IoU(c, o) >= t > 0 needs an x-overlap iw >= t * max(width(c), width(o)) (inter >= t * area of
    either box, ih <= either height), so width(o) lies in [t, 1/t] * width(c), and iw = (width(c) +
    width(o)) / 2 - |centre distance| bounds that distance by width(c) * max(1 - t, (1/t - 1) / 2)
    (so for y).  Only objects whose centre lies in that window (widened by 1e-6 for rounding) are
    compared, with ``iou``'s own arithmetic: the decisions are those of comparing with all."""

    def __init__(self, objs: np.ndarray, extent: tuple[float, float], max_iou: float):
        ew, eh = (max(float(e), 1e-9) for e in extent)
        n = len(objs)
        sides = np.maximum(objs[:, 2] - objs[:, 0], objs[:, 3] - objs[:, 1]) if n else np.ones(1)
        self.s = max(float(np.median(sides)) / 2, math.sqrt(ew * eh / (4 * n + 16)), 1e-9)
        self.gx, self.gy = int(math.ceil(ew / self.s)) + 1, int(math.ceil(eh / self.s)) + 1
        key = self._bucket((objs[:, 1] + objs[:, 3]) / 2, self.gy) * self.gx \
            + self._bucket((objs[:, 0] + objs[:, 2]) / 2, self.gx)
        order = np.argsort(key, kind="stable")
        self.objs, self.t = objs[order], float(max_iou)
        self.start = np.searchsorted(key[order], np.arange(self.gx * self.gy + 1))

    def _bucket(self, v: np.ndarray, g: int) -> np.ndarray:
        return np.clip(np.floor(v / self.s), 0, g - 1).astype(np.int64)

    def clashes(self, cands: np.ndarray, near: bool = False) -> np.ndarray:
        """[m] bool: whether each candidate [m, 4] has IoU >= max_iou with some object; ``near``: only
        the objects in the candidate's own bucket (a True is final, a False is not)."""
        m = len(cands)
        if self.t <= 0 or not m:
            return np.full(m, len(self.objs) > 0)
        mx, my = (cands[:, 0] + cands[:, 2]) / 2, (cands[:, 1] + cands[:, 3]) / 2
        if near:
            key = self._bucket(my, self.gy) * self.gx + self._bucket(mx, self.gx)
            pair, obj = _segments(self.start[key], self.start[key + 1])
        else:
            k = max(1 - self.t, (1 / self.t - 1) / 2) * (1 + 1e-6)
            rx, ry = (cands[:, 2] - cands[:, 0]) * k + 1e-9, (cands[:, 3] - cands[:, 1]) * k + 1e-9
            x0, x1 = self._bucket(mx - rx, self.gx), self._bucket(mx + rx, self.gx)
            y0, y1 = self._bucket(my - ry, self.gy), self._bucket(my + ry, self.gy)
            cand, row = _segments(y0, y1 + 1)  # one contiguous run of sorted objects per bucket row
            pair_row, obj = _segments(self.start[row * self.gx + x0[cand]],
                                      self.start[row * self.gx + x1[cand] + 1])
            pair = cand[pair_row]
        out = np.zeros(m, dtype=bool)
        out[pair[iou_pairs(cands[pair], self.objs[obj]) >= self.t]] = True
        return out


def _first_clear(grid: _Grid, rng: np.random.Generator, bw: float, bh: float, ew: float, eh: float,
                 tries: int) -> tuple[float, float, float, float] | None:
    """The first of ``tries`` random (bw x bh) placements that clears every object, or None.  The
    generator ends where drawing one placement at a time (x then y, each only when it can vary) and
    stopping at the first clear one would leave it."""
    k = int(ew > bw) + int(eh > bh)
    state = rng.bit_generator.state
    d = rng.random(tries * k).reshape(tries, k)
    x = 0.0 + (ew - bw) * d[:, 0] if ew > bw else np.zeros(tries)
    y = 0.0 + (eh - bh) * d[:, k - 1] if eh > bh else np.zeros(tries)
    cands = np.stack([x, y, x + bw, y + bh], axis=1)
    for lo, hi in ((0, 1), (1, tries)):  # most images clear at once; crowded ones rarely do
        if lo >= tries:
            break
        maybe = lo + np.flatnonzero(~grid.clashes(cands[lo:hi], near=True))  # cheap: most collide here
        clear = maybe[~grid.clashes(cands[maybe])] if maybe.size else maybe
        if clear.size:
            j = int(clear[0])
            rng.bit_generator.state = state
            rng.random((j + 1) * k)
            return tuple(float(v) for v in cands[j])
    return None


def background_rois(object_rois, extent: tuple[float, float], rng: np.random.Generator,
                    max_iou: float = 0.3, tries: int = 50) -> np.ndarray:
    """[m, 4] background ROIs (cell units), m <= len(object_rois); see the module docstring.  The
    placements and the result are those of comparing every candidate with every object, drawn one at a
    time; ``_Grid`` and ``_first_clear`` only skip the work whose outcome is known."""
    objs = np.asarray(object_rois, dtype=np.float64).reshape(-1, 4)
    ew, eh = (float(e) for e in extent)
    grid = _Grid(objs, (ew, eh), max_iou)
    out = []
    for u0, v0, u1, v1 in objs.tolist():
        bw, bh = min(u1 - u0, ew), min(v1 - v0, eh)
        found = None
        while found is None:
            found = _first_clear(grid, rng, bw, bh, ew, eh, tries)
            if found is None:
                if bw <= 1.0 and bh <= 1.0:
                    break
                bw, bh = max(1.0, bw / 2) if bw > 1.0 else bw, max(1.0, bh / 2) if bh > 1.0 else bh
        if found is not None:
            out.append(found)
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def image_rois(fmap: np.ndarray, boxes, input_size: int, valid_hw: tuple[int, int],
               rng: np.random.Generator) -> dict:
    """One image's ROI features: ``objects`` [k, C], ``labels`` [k], ``coords`` [k, 4] (normalised
    cx, cy, w, h of each box), ``background`` [m, C] (m <= k)."""
    f = np.asarray(fmap)
    hw = f.shape[:2]
    boxes = list(boxes)
    cells = np.asarray([box_to_cells(b, hw, input_size, valid_hw) for b in boxes]).reshape(-1, 4)
    bg = background_rois(cells, valid_cells(hw, input_size, valid_hw), rng)
    coords = np.asarray([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1])
                         for b in boxes], dtype=np.float64).reshape(-1, 4)
    labels = [str(b[4]) if len(tuple(b)) > 4 else "object" for b in boxes]
    c = f.shape[2]
    return {
        "objects": roi_align(f, cells) if len(cells) else np.zeros((0, c)),
        "labels": labels,
        "coords": coords,
        "background": roi_align(f, bg) if len(bg) else np.zeros((0, c)),
    }
