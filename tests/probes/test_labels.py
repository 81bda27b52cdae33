"""Tests for bbselect.probes.labels.

LogME is checked against the log-density of the marginal likelihood written
directly as a multivariate normal, y ~ N(0, alpha^-1 F F^T + beta^-1 I)
(scipy.stats), never against numbers printed by the code under test.
"""

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import multivariate_normal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bbselect.errors import UsageError
from bbselect.inputs import labelfiles
from bbselect.probes import labels as L
from bbselect.probes import logme as LM
from bbselect.reports import charts


def direct_log_evidence(F, y, alpha, beta):
    n = F.shape[0]
    cov = F @ F.T / alpha + np.eye(n) / beta
    return float(multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(y))


def blobs(n_per=30, k=3, d=10, sep=8.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    centres *= sep / np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(k), n_per)
    X = centres[y] + rng.normal(size=(k * n_per, d))
    return X, y


@pytest.fixture
def small_problem():
    """n = 30, d = 5, a target that depends on the features (interior maximum)."""
    rng = np.random.default_rng(1)
    F = rng.normal(size=(30, 5))
    y = (F @ np.array([1.0, -0.5, 0.0, 0.3, 0.0]) + 0.5 * rng.normal(size=30) > 0).astype(float)
    return F, y


# --------------------------------------------------------------------------
# LogME
# --------------------------------------------------------------------------

def test_class_evidence_equals_direct_density(small_problem):
    F, y = small_problem
    ev, a, b = LM.logme_class_evidence(F, y)
    assert 0 < a < 1e6 and 0 < b < 1e6          # an interior optimum
    assert ev == pytest.approx(direct_log_evidence(F, y, a, b), rel=1e-9, abs=1e-9)


def test_class_evidence_is_a_maximum(small_problem):
    F, y = small_problem
    ev, a, b = LM.logme_class_evidence(F, y)
    grid = np.logspace(-3, 3, 41)
    best = max(direct_log_evidence(F, y, a * s, b * t) for s in grid for t in grid)
    assert best <= ev + 1e-9
    # and it is a stationary point, not just the best of a coarse grid
    for s, t in [(1.01, 1), (0.99, 1), (1, 1.01), (1, 0.99)]:
        assert direct_log_evidence(F, y, a * s, b * t) < ev


def test_class_evidence_wide_features_n_less_than_d():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(12, 40))
    y = (F[:, 0] + F[:, 1] + 0.3 * rng.normal(size=12) > 0).astype(float)
    ev, a, b = LM.logme_class_evidence(F, y)
    assert ev == pytest.approx(direct_log_evidence(F, y, a, b), rel=1e-7)
    grid = np.logspace(-2, 2, 21)
    assert max(direct_log_evidence(F, y, a * s, b * t) for s in grid for t in grid) <= ev + 1e-7


def test_class_evidence_unrelated_target_reaches_the_no_signal_limit():
    # y independent of F: the evidence is maximised as alpha -> inf (w = 0), where
    # y ~ N(0, beta^-1 I) and the best beta is n / |y|^2 (closed form).
    rng = np.random.default_rng(3)
    F = rng.normal(size=(40, 6))
    y = (rng.random(40) < 0.4).astype(float)
    n = y.size
    limit = -0.5 * n * math.log(2 * math.pi * float(y @ y) / n) - 0.5 * n
    ev, a, b = LM.logme_class_evidence(F, y)
    assert ev >= limit - 1e-6
    assert ev == pytest.approx(direct_log_evidence(F, y, a, b), rel=1e-9)
    for s in np.logspace(-3, 3, 13):
        assert direct_log_evidence(F, y, 1.0 * s, n / float(y @ y)) <= ev + 1e-9


def test_logme_is_mean_of_per_class_evidence_over_n():
    X, y = blobs(n_per=10, k=3, d=4)
    expected = []
    for k in range(3):
        yk = (y == k).astype(float)
        _, a, b = LM.logme_class_evidence(X, yk)
        expected.append(direct_log_evidence(X, yk, a, b) / X.shape[0])
    assert LM.logme(X, y) == pytest.approx(np.mean(expected), rel=1e-8)


def test_logme_accepts_string_labels():
    X, y = blobs(n_per=10, k=2, d=4)
    names = np.array(["cat", "dog"])[y]
    assert LM.logme(X, names) == pytest.approx(LM.logme(X, y), rel=1e-12)


def test_logme_linear_labels_beat_random_features():
    X, y = blobs(n_per=30, k=3, d=10, sep=8.0)
    rng = np.random.default_rng(5)
    R = rng.normal(size=X.shape) * X.std()
    assert LM.logme(X, y) > LM.logme(R, y) + 0.3


@pytest.mark.parametrize("labels, reason_part", [
    (np.zeros(6, int), "only one class"),
    (np.array([0, 0, 0, 1, 1, 2]), "fewer than 2 images"),
])
def test_logme_degenerate_is_nan_with_reason(labels, reason_part):
    X = np.random.default_rng(0).normal(size=(6, 3))
    assert math.isnan(LM.logme(X, labels))
    assert reason_part in L.labelled_reason(X, labels)


def test_logme_constant_or_nonfinite_features_nan():
    y = np.array([0, 0, 1, 1])
    assert math.isnan(LM.logme(np.ones((4, 3)), y))
    X = np.random.default_rng(0).normal(size=(4, 3))
    X[1, 2] = np.nan
    assert math.isnan(LM.logme(X, y))
    assert "non-finite" in L.labelled_reason(X, y)


# --------------------------------------------------------------------------
# probes
# --------------------------------------------------------------------------

def test_probe_separable_vs_shuffled():
    X, y = blobs(n_per=30, k=3, d=10, sep=8.0)
    ys = np.random.default_rng(9).permutation(y)
    good, bad = L.probe_scores(X, y), L.probe_scores(X, ys)
    for metric in ("linear_probe", "knn"):
        assert good[metric]["mean"] >= 0.95
        assert bad[metric]["mean"] <= 0.6            # chance is 1/3
        assert good[metric]["lo"] > bad[metric]["hi"]
    assert LM.logme(X, y) > LM.logme(X, ys) + 0.3


def test_probe_matches_cross_val_predict():
    # independent plumbing: sklearn's own cross_val_predict on the same folds
    X, y = blobs(n_per=20, k=3, d=6, sep=2.0, seed=4)
    res = L.probe_scores(X, y, folds=5, seed=7)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=7)
    inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=7)
    pred = cross_val_predict(make_pipeline(StandardScaler(), GridSearchCV(
        LogisticRegression(max_iter=10000), {"C": list(L.PROBE_CS)}, scoring="accuracy", cv=inner)), X, y, cv=cv)
    assert res["linear_probe"]["mean"] == pytest.approx(np.mean(pred == y), abs=1e-12)
    assert len(res["linear_probe"]["folds"]) == 5


def wilson_by_inversion(k, n, z=1.959963984540054):
    """The Wilson interval is {p : |k/n - p| <= z sqrt(p(1-p)/n)}; find its ends numerically."""
    ph = k / n
    g = lambda p: (ph - p) ** 2 - z * z * p * (1 - p) / n  # noqa: E731
    # g < 0 strictly inside the interval, > 0 outside; at k = 0 (k = n) the lower
    # (upper) end is 0 (1) itself.
    lo = 0.0 if k == 0 else brentq(g, 0.0, min(ph, 1 - 1e-12))
    hi = 1.0 if k == n else brentq(g, max(ph, 1e-12), 1.0)
    return lo, hi


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (27, 30), (30, 30), (81, 263)])
def test_wilson_interval(k, n):
    lo, hi = L.wilson_interval(k, n)
    elo, ehi = wilson_by_inversion(k, n)
    assert lo == pytest.approx(elo, abs=1e-9) and hi == pytest.approx(ehi, abs=1e-9)


def test_probe_interval_is_wilson_on_pooled_predictions():
    X, y = blobs(n_per=15, k=2, d=5, sep=1.5, seed=2)
    res = L.probe_scores(X, y)
    for metric in ("linear_probe", "knn"):
        r = res[metric]
        k = round(r["mean"] * r["n"])
        assert r["mean"] == pytest.approx(k / r["n"])
        assert (r["lo"], r["hi"]) == pytest.approx(wilson_by_inversion(k, r["n"]), abs=1e-9)
        assert min(r["folds"]) <= r["mean"] <= max(r["folds"])


def test_sklearn_calls_set_every_setting_whose_default_is_changing(monkeypatch):
    """Issue 20: scikit-learn 1.9 announces (FutureWarning) that LogisticRegressionCV's fitted attributes and
    l1_ratios change in 1.10 and its scoring default in 1.11 (accuracy -> log loss): the probe's choice of C
    would silently change with the version a fresh install picks. Every scikit-learn call on a score path
    runs here with FutureWarning as an error, and no code path may hide one (simplefilter is disabled)."""
    from bbselect.probes.objectness import objectness_probe

    X, y = blobs(n_per=12, k=3, d=6, sep=3.0, seed=2)
    rng = np.random.default_rng(5)
    feats = [rng.normal(size=(4, 4, 3)) for _ in range(8)]
    masks = [np.pad(np.ones((2, 2), bool), ((i % 2, 2 - i % 2), (1, 1))) for i in range(8)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        monkeypatch.setattr(warnings, "simplefilter", lambda *a, **k: None)
        assert L.probe_scores(X, y, folds=3)["linear_probe"]["mean"] > 0.5
        assert np.isfinite(objectness_probe(feats, masks)["auroc"])
        assert charts.pca_2d(X).shape == (len(X), 2)


def test_probe_deterministic():
    X, y = blobs(n_per=12, k=3, d=5, sep=1.0, seed=3)
    assert L.probe_scores(X, y, seed=4) == L.probe_scores(X, y, seed=4)


def test_probe_reduces_folds_and_k_for_small_classes():
    X, y = blobs(n_per=4, k=3, d=5, sep=8.0)
    y = y.copy()
    y[:1] = 1        # class 0 now has 3 images, class 1 has 5
    res = L.probe_scores(X, y, folds=5)
    assert res["n_folds"] == 3
    # training folds hold 2 of class 0's 3 images, so k = 2
    assert res["knn"]["k"] == [2, 2, 2]
    assert res["chance"] == pytest.approx(5 / 12)


def test_probe_singleton_class_nan_with_reason():
    X = np.random.default_rng(0).normal(size=(7, 3))
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    res = L.probe_scores(X, y)
    assert "fewer than 2 images" in res["reason"]
    for metric in ("linear_probe", "knn"):
        assert math.isnan(res[metric]["mean"]) and math.isnan(res[metric]["lo"])
        assert res[metric]["reason"] == res["reason"]


# --------------------------------------------------------------------------
# class folders and CSV
# --------------------------------------------------------------------------

def test_class_folders(tmp_path):
    rels = ["cat/a.jpg", "cat/sub/b.jpg", "dog/c.png"]
    assert labelfiles.class_folders(tmp_path, rels) == {
        "cat/a.jpg": "cat", "cat/sub/b.jpg": "cat", "dog/c.png": "dog"}
    assert labelfiles.class_folders(tmp_path, ["cat/a.jpg", "top.jpg", "dog/c.png"]) is None
    assert labelfiles.class_folders(tmp_path, ["cat/a.jpg", "cat/b.jpg"]) is None
    assert labelfiles.class_folders(tmp_path, []) is None


def test_labels_csv_good(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("\ufeffImage, Label ,note\n"
                 "a.jpg,cat,x\n"
                 "\n"
                 "sub\\b.jpg,dog,\n"
                 "./c.jpg,\"big, dog\",y\n"
                 "a.jpg,cat,again\n", encoding="utf-8")
    assert labelfiles.labels_csv(p) == {"a.jpg": "cat", "sub/b.jpg": "dog", "c.jpg": "big, dog"}


@pytest.mark.parametrize("text, part", [
    ("image,label\na.jpg,cat\nb.jpg\n", "line 3"),
    ("image,label\na.jpg,cat\n\nb.jpg,  \n", "line 4"),
    ("image,label\na.jpg,cat\nb.jpg,dog\na.jpg,dog\n", "line 4"),
    ("file,class\na.jpg,cat\n", "line 1"),
    ("", "empty"),
])
def test_labels_csv_malformed(tmp_path, text, part):
    p = tmp_path / "bad_labels.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as ei:
        labelfiles.labels_csv(p)
    assert "bad_labels.csv" in str(ei.value) and part in str(ei.value)


def test_labels_csv_missing_file(tmp_path):
    with pytest.raises(UsageError, match="nope.csv"):
        labelfiles.labels_csv(tmp_path / "nope.csv")


# --------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------

def test_pca_2d_matches_eigenvectors_up_to_sign():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)) * np.array([5.0, 2.0, 1.0, 0.5])
    Z = charts.pca_2d(X)
    Xc = X - X.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(Xc.T))
    ref = Xc @ v[:, ::-1][:, :2]
    for j in range(2):
        assert np.allclose(np.abs(Z[:, j]), np.abs(ref[:, j]), atol=1e-8)


def test_pca_2d_small_inputs_pad_with_zeros():
    assert charts.pca_2d(np.array([[1.0, 2.0]])).shape == (1, 2)
    Z = charts.pca_2d(np.array([[0.0], [1.0], [3.0]]))
    assert Z.shape == (3, 2) and np.all(Z[:, 1] == 0)
    assert np.allclose(np.abs(Z[:, 0]), np.abs([0.0, 1.0, 3.0] - np.mean([0.0, 1.0, 3.0])))


def test_logme_invariant_to_global_feature_scale():
    # alpha^-1 (cF)(cF)^T = (alpha / c^2)^-1 F F^T: rescaling F only moves the optimal alpha
    X, y = blobs(n_per=10, k=3, d=6, sep=3.0)
    assert LM.logme(25.0 * X, y) == pytest.approx(LM.logme(X, y), rel=1e-7)


def test_logme_is_the_same_at_any_feature_scale():
    """Multiplying F by c leaves the evidence unchanged and moves the best alpha to alpha * c^2 (the
    model is the same); at 1e-8 and below the iteration used to stop at once as 'explains nothing'."""
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 32))
    y = (f[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    ref = LM.logme(f, y)
    _, alpha, _ = LM.logme_class_evidence(f, y)
    for c in (1e-16, 1e-8, 1e-3, 1e8):
        assert LM.logme(f * c, y) == pytest.approx(ref, rel=1e-9)
        assert LM.logme_class_evidence(f * c, y)[1] == pytest.approx(alpha * c**2, rel=1e-6)
