"""LogME (You, Liu, Wang & Long, ICML 2021) on pooled features, written from the paper.

For each target column y (for classes: the one-hot column of class k) the features F [n, d] predict
it with the Bayesian linear model ``y = F w + noise``, prior ``w ~ N(0, alpha^-1 I)`` and noise
precision ``beta``.  The log evidence ``log p(y | F, alpha, beta)`` is maximised over alpha and beta
with the paper's fixed-point iteration, and LogME is the mean over columns of (maximised evidence / n).
Higher is better; comparable between backbones on the same images and targets, not between data
sets.  Features are used as given (no centring or scaling), as in the paper; LogME does not change
when all features are multiplied by one constant (only the optimal alpha moves).  NaN, never 0, when
``labels.labelled_reason`` reports a problem.  Pure numpy: no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from bbselect.probes.labels import encode_labels, labelled_reason

# --------------------------------------------------------------------------
# LogME
# --------------------------------------------------------------------------


def _evidence_terms(s2: np.ndarray, z: np.ndarray, r2: float, n: int, d: int,
                    alpha: float, beta: float) -> tuple[float, float, float, float]:
    """(evidence, gamma, m^T m, ||F m - y||^2) from the SVD quantities.

    ``s2``: the r = min(n, d) squared singular values of F; ``z = U^T y``;
    ``r2 = ||y||^2 - ||z||^2`` (the part of y outside the column space of F).
    With ``t_i = alpha + beta s2_i``:

    * ``m^T m = sum beta^2 s2_i z_i^2 / t_i^2``
    * ``||F m - y||^2 = r2 + sum (alpha z_i / t_i)^2``
    * ``log det A = sum log t_i + (d - r) log alpha``
    * ``gamma = sum beta s2_i / t_i``
    """
    t = alpha + beta * s2
    mm = float(np.sum(beta * beta * s2 * z * z / (t * t)))
    res = float(r2 + np.sum((alpha * z / t) ** 2))
    logdet = float(np.sum(np.log(t)) + (d - s2.size) * math.log(alpha))
    gamma = float(np.sum(beta * s2 / t))
    ev = (0.5 * n * math.log(beta) + 0.5 * d * math.log(alpha)
          - 0.5 * n * math.log(2.0 * math.pi) - 0.5 * beta * res
          - 0.5 * alpha * mm - 0.5 * logdet)
    return ev, gamma, mm, res


def _svd(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(U [n, r], s^2 [r], c^2) of the thin SVD of F / c, r = min(n, d), c = F's root mean square.

    The evidence is the same for F and F / c (only alpha moves, to alpha / c^2 for F / c), but the fixed-point
    iteration starts at alpha = beta = 1 and stops at boundaries relative to s^2: features at a scale
    of 1e-8 or below (a random-init MobileNet's are ~1e-16) stopped at once as "explains nothing".
    LAPACK's thin SVD costs O(min(n, d)^2 * max(n, d)); the d - r zero
    singular values of a wide F are accounted for in ``_evidence_terms``.
    """
    f = np.asarray(features, dtype=np.float64)
    c2 = float(np.mean(f * f)) if f.size else 0.0
    if not (c2 > 0.0 and math.isfinite(c2)):
        c2 = 1.0
    u, s, _ = np.linalg.svd(f / math.sqrt(c2), full_matrices=False)
    return u, s * s, c2


def logme_class_evidence(features: np.ndarray, y: np.ndarray, tol: float = 1e-8,
                         max_iter: int = 1000) -> tuple[float, float, float]:
    """Maximised log evidence of one target column, with the maximising alpha, beta.

    Returns ``(evidence, alpha, beta)`` where ``evidence`` is the full
    ``log p(y | F, alpha, beta)`` (not divided by n).  Fixed-point updates
    (MacKay; LogME Algorithm 1) start from alpha = beta = 1 and stop when
    both change by less than ``tol`` relatively, or after ``max_iter`` steps.
    Returns NaNs when the evidence is not defined (all-zero features or target).
    """
    f = np.asarray(features, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64).ravel()
    n, d = f.shape
    if yv.size != n:
        raise ValueError(f"y has {yv.size} entries, features have {n} rows")
    u, s2, c2 = _svd(f)
    ev, alpha, beta = _maximise(s2, u.T @ yv, float(yv @ yv), n, d, tol, max_iter)
    return ev, alpha * c2, beta  # alpha for F itself (the SVD was of F / c)


_BOUNDARY = 1e10


def _maximise(s2, z, yy, n, d, tol, max_iter):
    r2 = max(0.0, yy - float(z @ z))
    if not s2.max(initial=0.0) > 0.0 or not yy > 0.0:
        return math.nan, math.nan, math.nan
    s2_max = float(s2.max())
    pos = s2[s2 > s2_max * 1e-12]
    s2_min = float(pos.min())
    alpha, beta = 1.0, 1.0
    with np.errstate(over="ignore", under="ignore"):
        for _ in range(max_iter):
            _, gamma, mm, res = _evidence_terms(s2, z, r2, n, d, alpha, beta)
            if not (mm > 0.0 and res > 0.0):
                break
            new_alpha = gamma / mm
            new_beta = (n - gamma) / res
            if not (math.isfinite(new_alpha) and math.isfinite(new_beta)
                    and new_alpha > 0.0 and new_beta > 0.0):
                break
            done = (abs(new_alpha - alpha) <= tol * alpha
                    and abs(new_beta - beta) <= tol * beta)
            alpha, beta = new_alpha, new_beta
            # Boundary maxima: the evidence keeps rising as alpha -> inf (the
            # features explain nothing: w = 0) or beta -> inf (exact fit, n <= d).
            # Stop once the prior / the noise is 1e10 times weaker than the
            # other term; the evidence is then within ~1e-10 (relative) of its limit.
            if alpha > _BOUNDARY * beta * s2_max or beta * s2_min > _BOUNDARY * alpha:
                break
            if done:
                break
        ev = _evidence_terms(s2, z, r2, n, d, alpha, beta)[0]
    return ev, alpha, beta


def logme_targets(features: np.ndarray, targets: np.ndarray) -> float:
    """Mean over the columns of ``targets`` [n, t] of (maximised log evidence / n); one SVD for all.

    The general form LogME uses for regression targets (You et al. 2021, sec. 4); ``logme`` calls it
    with the one-hot class columns.  Columns with an undefined evidence (all zero) are skipped; NaN
    if none is left.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    y = y.reshape(len(y), -1)
    n, d = f.shape
    if y.shape[0] != n:
        raise ValueError(f"targets have {y.shape[0]} rows, features have {n}")
    u, s2, _c2 = _svd(f)
    values = []
    for yv in y.T:
        ev = _maximise(s2, u.T @ yv, float(yv @ yv), n, d, 1e-8, 1000)[0]
        if math.isfinite(ev):
            values.append(ev / n)
    return float(np.mean(values)) if values else math.nan


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME: mean over classes of (maximised log evidence of the one-hot column) / n.

    NaN when ``labelled_reason`` reports a problem.  One SVD serves all classes.
    """
    if labelled_reason(features, labels) is not None:
        return math.nan
    codes, classes = encode_labels(labels)
    onehot = (codes[:, None] == np.arange(len(classes))[None, :]).astype(np.float64)
    return logme_targets(features, onehot)
