"""Measured speed that does not hinge on one noisy timing.

One timing of one batch is at the mercy of whatever else the machine does in that moment (decode
threads, another process, the first call into a kernel): a stage-c4 extractor, a strict prefix of the
c5 one, was once measured slower than c5. The extractor runs one image per forward pass and times each
(models/extractor.py), so a run's own images are the measurement; this module turns those timings into
the median ms/image with its spread, topping them up to ``k`` timings (on a synthetic image, after the
warm-up call) only when the run itself computed fewer images. (The JSON key ``timed_batches`` counts
these one-image passes.)
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

DEFAULT_K = 5  # timed forward passes per backbone (median of k; the spread is their min..max)


def summarize(image_seconds: list[float]) -> dict:
    """ms/image (median over timed passes), its spread (min..max), images/s, and k.

    ``image_seconds``: one entry per timed forward pass, its seconds divided by its images (one).
    """
    per_image = [1000.0 * s for s in image_seconds if s > 0]
    if not per_image:
        return {"ms_per_image": float("nan"), "ms_lo": float("nan"), "ms_hi": float("nan"),
                "images_per_s": float("nan"), "timed_batches": 0}
    med = statistics.median(per_image)
    return {"ms_per_image": med, "ms_lo": min(per_image), "ms_hi": max(per_image),
            "images_per_s": 1000.0 / med, "timed_batches": len(per_image)}


def top_up(run: Callable[[], object], image_seconds: list[float], k: int = DEFAULT_K, k_min: int = 3,
           budget_s: float = 2.0, per: int = 1, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Time ``run()`` (one pass of ``per`` images) until ``image_seconds`` holds ``k`` timings (each
    a pass's seconds per image); return the list.

    A large backbone on a small folder would spend seconds on extra batches, so topping up stops
    at ``k_min`` timings once ``budget_s`` seconds have gone into it. Call it after the warm-up
    call, so graph tracing is never timed.
    """
    out = list(image_seconds)
    spent = 0.0
    while len(out) < k and not (len(out) >= k_min and spent >= budget_s):
        t0 = clock()
        run()
        dt = clock() - t0
        out.append(dt / per)
        spent += dt
    return out
