"""Measured speed that does not hinge on one noisy timing.

One timing of one batch is at the mercy of whatever else the machine does in that moment (decode
threads, another process, the first call into a kernel): a stage-c4 extractor, a strict prefix of the
c5 one, was once measured slower than c5. So the engine times every batch it runs; this module turns
those timings into the median ms/image with its spread, after topping them up to ``k`` timed batches
(on a synthetic batch, after the warm-up call) when the run itself had fewer.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

DEFAULT_K = 5  # timed batches per backbone (median of k; the spread is their min..max)


def summarize(batch_seconds: list[float], batch_size: int) -> dict:
    """ms/image (median over batches), its spread (min..max over batches), images/s, and k.

    Every timed batch is a full batch of ``batch_size`` images (the engine pads the last one), so a
    batch's time divided by ``batch_size`` is its ms/image.
    """
    per_image = [1000.0 * s / batch_size for s in batch_seconds if s > 0]
    if not per_image or batch_size <= 0:
        return {"ms_per_image": float("nan"), "ms_lo": float("nan"), "ms_hi": float("nan"),
                "images_per_s": float("nan"), "timed_batches": 0}
    med = statistics.median(per_image)
    return {"ms_per_image": med, "ms_lo": min(per_image), "ms_hi": max(per_image),
            "images_per_s": 1000.0 / med, "timed_batches": len(per_image)}


def top_up(run: Callable[[], object], batch_seconds: list[float], k: int = DEFAULT_K, k_min: int = 3,
           budget_s: float = 2.0, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Time ``run()`` (one full batch) until ``batch_seconds`` holds ``k`` timings; return the list.

    A large backbone on a small folder would spend seconds on extra batches, so topping up stops
    at ``k_min`` timings once ``budget_s`` seconds have gone into it. Call it after the warm-up
    call, so graph tracing is never timed.
    """
    out = list(batch_seconds)
    spent = 0.0
    while len(out) < k and not (len(out) >= k_min and spent >= budget_s):
        t0 = clock()
        run()
        out.append(clock() - t0)
        spent += out[-1]
    return out
