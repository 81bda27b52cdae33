"""Label-aware scores on pooled features: LogME, linear probe and kNN accuracy.

When the images come with class labels (one sub-folder per class, or a CSV),
the pooled features (global average pool, a [C] vector per image) can be
judged by how well they predict the labels:

``logme``
    LogME (You, Liu, Wang & Long, ICML 2021).  For each class k the target is
    the one-hot column y_k; the features F [n, d] predict it with the Bayesian
    linear model ``y = F w + noise``, prior ``w ~ N(0, alpha^-1 I)`` and noise
    precision ``beta``.  The log evidence ``log p(y | F, alpha, beta)`` is
    maximised over alpha and beta with the paper's fixed-point iteration, and
    LogME is the mean over classes of (maximised evidence / n).  Higher is
    better; the value is comparable between backbones on the same images and
    labels, but not between data sets.  Features are used as given (no
    centring or scaling), as in the paper; LogME does not change when all
    features are multiplied by one constant (only the optimal alpha moves).
``probe_scores``
    Out-of-fold accuracy of a logistic-regression linear probe and of a
    k-nearest-neighbour classifier, both on standardised features, with
    stratified k-fold cross-validation.  Each image is predicted exactly once;
    the reported accuracy is the pooled out-of-fold accuracy with a 95 %
    Wilson score interval.

Degenerate inputs (fewer than 2 classes, a class with a single image,
non-finite features, all-constant features) give NaN plus a plain-language
reason, never 0.

Pure numpy / scipy / scikit-learn: no I/O. Label files are read by ``inputs.labelfiles``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------


def encode_labels(labels) -> tuple[np.ndarray, list]:
    """(integer codes 0..K-1, sorted class values) for any array of hashable labels."""
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.ravel().astype(np.int64), list(classes)


def labelled_reason(features: np.ndarray, labels: np.ndarray) -> str | None:
    """None if (features, labels) can be scored, else a short reason."""
    f = np.asarray(features)
    y = np.asarray(labels)
    if f.ndim != 2:
        raise ValueError(f"features must be [n, d]; got shape {f.shape}")
    if y.shape != (f.shape[0],):
        raise ValueError(f"labels must be [n] with n = {f.shape[0]}; got shape {y.shape}")
    n, d = f.shape
    if n < 2 or d < 1:
        return f"too few images or features ({n} images, {d} features)"
    if not np.isfinite(f).all():
        return f"non-finite features ({int(np.size(f) - np.isfinite(f).sum())} values)"
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        return f"only one class ({classes[0]!r}); need at least 2"
    if counts.min() < 2:
        small = [str(c) for c, k in zip(classes, counts) if k < 2]
        return ("a class has fewer than 2 images: " + ", ".join(small[:5])
                + (" ..." if len(small) > 5 else ""))
    span = f.max(axis=0) - f.min(axis=0)
    if not (span > 0).any():
        return "features are identical for every image"
    return None


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


# --------------------------------------------------------------------------
# linear probe and kNN
# --------------------------------------------------------------------------


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (95 % by default)."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _nan_metric(reason: str) -> dict:
    return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "folds": [],
            "n": 0, "reason": reason}


PROBE_CS = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)  # the linear probe's inner-CV grid for C


def probe_scores(features: np.ndarray, labels: np.ndarray, folds: int = 5,
                 seed: int = 0) -> dict:
    """Linear-probe and kNN accuracy with stratified k-fold cross-validation.

    * Folds: ``StratifiedKFold(min(folds, smallest class count), shuffle=True,
      random_state=seed)``; at least 2 folds, so every class needs >= 2 images.
    * Both classifiers see features standardised with a ``StandardScaler``
      fitted on the training fold only.
    * ``linear_probe``: ``LogisticRegressionCV`` (lbfgs, max_iter = 10000): the inverse
      regularisation C is chosen from ``PROBE_CS`` by an inner stratified
      ``min(3, smallest class in the training fold)``-fold CV on the training fold only, then
      refitted on the whole training fold (a fixed C = 1 read about 2 points low on average, up to
      6, in an independent check).  The chosen C per fold is listed as ``C``; ``correct`` is the
      per-image out-of-fold hit (input order), for paired comparisons on the same images and folds
      (``bbselect.scoring.stats.mcnemar``).  With a class of a single training image there is no
      inner CV: C = 1.
    * ``knn``: ``KNeighborsClassifier`` with Euclidean distance on the
      standardised features, uniform votes, and
      k = min(5, size of the smallest class in the training fold) so that a
      small class can still win a vote.  The k used in each fold is listed.
    * Per metric: ``mean`` = pooled out-of-fold accuracy (every image is
      predicted once), ``lo``/``hi`` = 95 % Wilson interval on that pooled
      accuracy (it treats the n predictions as independent, so it ignores the
      extra variance from refitting per fold), ``folds`` = per-fold accuracies.

    Returns ``{"linear_probe": {...}, "knn": {...}, "n_folds", "n", "n_classes",
    "chance", "reason"}``; ``chance`` is the majority-class share.  Metrics are
    NaN with the reason when the input is degenerate.  Deterministic for a seed.
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    reason = labelled_reason(features, labels)
    f = np.asarray(features, dtype=np.float64)
    codes, classes = encode_labels(labels)
    counts = np.bincount(codes) if codes.size else np.zeros(0, int)
    out = {"n": int(f.shape[0]), "n_classes": len(classes), "n_folds": 0,
           "chance": float(counts.max() / codes.size) if codes.size else math.nan,
           "reason": reason}
    if reason is not None:
        out["linear_probe"] = _nan_metric(reason)
        out["knn"] = _nan_metric(reason)
        return out
    n_folds = int(min(folds, counts.min()))
    out["n_folds"] = n_folds
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    correct = {"linear_probe": np.zeros(f.shape[0], bool), "knn": np.zeros(f.shape[0], bool)}
    per_fold = {"linear_probe": [], "knn": []}
    ks, chosen = [], []
    for train, test in skf.split(f, codes):
        scaler = StandardScaler().fit(f[train])
        xtr, xte = scaler.transform(f[train]), scaler.transform(f[test])
        inner = int(np.bincount(codes[train], minlength=len(classes)).min())
        if inner >= 2:
            with warnings.catch_warnings():  # sklearn announces new defaults; ours are explicit
                warnings.simplefilter("ignore", FutureWarning)
                lr = LogisticRegressionCV(
                    Cs=list(PROBE_CS), max_iter=10000, scoring="accuracy",
                    cv=StratifiedKFold(n_splits=min(3, inner), shuffle=True, random_state=seed),
                ).fit(xtr, codes[train])
            chosen.append(float(np.ravel(lr.C_)[0]))
        else:
            lr = LogisticRegression(C=1.0, max_iter=10000).fit(xtr, codes[train])
            chosen.append(1.0)
        k = int(min(5, np.bincount(codes[train], minlength=len(classes)).min()))
        ks.append(k)
        knn = KNeighborsClassifier(n_neighbors=k, metric="euclidean").fit(xtr, codes[train])
        for name, model in (("linear_probe", lr), ("knn", knn)):
            hit = model.predict(xte) == codes[test]
            correct[name][test] = hit
            per_fold[name].append(float(hit.mean()))
    for name in ("linear_probe", "knn"):
        k_ok, n = int(correct[name].sum()), int(correct[name].size)
        lo, hi = wilson_interval(k_ok, n)
        out[name] = {"mean": k_ok / n, "lo": lo, "hi": hi, "folds": per_fold[name],
                     "n": n, "reason": None}
    out["knn"]["k"] = ks
    out["linear_probe"]["C"] = chosen
    out["linear_probe"]["correct"] = correct["linear_probe"].tolist()
    return out
