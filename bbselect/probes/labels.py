"""Label-aware scores on pooled features: input checks, linear probe and kNN accuracy.

When the images come with class labels (one sub-folder per class, or a CSV),
the pooled features (global average pool, a [C] vector per image) can be
judged by how well they predict the labels:

``logme``
    LogME lives in ``probes.logme`` (it uses this module's input checks).
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
    * ``linear_probe``: ``LogisticRegression`` (lbfgs, max_iter = 10000) whose inverse
      regularisation C is chosen from ``PROBE_CS`` by ``GridSearchCV`` (scoring = accuracy, the first
      best C on a tie) over an inner stratified ``min(3, smallest class in the training fold)``-fold
      CV on the training fold only, then refitted on the whole training fold (a fixed C = 1 read
      about 2 points low on average, up to 6, in an independent check). Not ``LogisticRegressionCV``:
      its defaults and fitted attributes change in scikit-learn 1.10/1.11.  The chosen C per fold is listed as ``C``; ``correct`` is the
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
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
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
            lr = GridSearchCV(
                LogisticRegression(max_iter=10000), {"C": list(PROBE_CS)}, scoring="accuracy", refit=True,
                cv=StratifiedKFold(n_splits=min(3, inner), shuffle=True, random_state=seed),
            ).fit(xtr, codes[train])
            chosen.append(float(lr.best_params_["C"]))
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
