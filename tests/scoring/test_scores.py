"""Tests for bbselect.scoring.mapscores.

Expected values come from brute-force re-implementations written here, from
scikit-image, or from closed-form reasoning spelled out next to each case.
"""

import math

import numpy as np
import pytest

from bbselect.scoring import mapscores as S
from bbselect.scoring import stats as ST

# --------------------------------------------------------------------------
# helpers (independent re-implementations)
# --------------------------------------------------------------------------

def brute_otsu(m):
    """Scan every cut between unique values; within-class variance via np.var."""
    x = np.asarray(m, dtype=np.float64).ravel()
    total = np.var(x)
    best_eta, best_t = -1.0, None
    for t in np.unique(x)[:-1]:
        a, b = x[x <= t], x[x > t]
        within = (a.size * np.var(a) + b.size * np.var(b)) / x.size
        eta = (total - within) / total
        if eta > best_eta + 1e-12:
            best_eta, best_t = eta, t
    return best_eta, best_t


def hot_pixel(n_side=10, value=3.0):
    m = np.zeros((n_side, n_side))
    m[4, 7] = value
    return m


# --------------------------------------------------------------------------
# Otsu
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_otsu_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(3, 15, size=2))
    # mix of continuous and heavily tied maps
    m = rng.gamma(2.0, size=shape) if seed % 2 else rng.integers(0, 6, size=shape)
    eta_ref, t_ref = brute_otsu(m)
    assert S.otsu_separability(m) == pytest.approx(eta_ref, abs=1e-10)
    assert S.otsu_threshold(m) == t_ref


def test_otsu_two_valued_map_is_one():
    m = np.full((7, 9), 0.5)
    m[2:5, 3:8] = 4.0
    assert S.otsu_separability(m) == pytest.approx(1.0, abs=1e-12)
    assert S.otsu_threshold(m) == 0.5


def test_otsu_known_three_value_case():
    # values {0, 0, 1, 3}: the two cuts give between-class variances
    # t=0: w0=w1=1/2, mu0=0, mu1=2 -> 1/4*4 = 1; t=1: w0=3/4, mu0=1/3, mu1=3
    # -> 3/16*(8/3)^2 = 4/3.  Total variance = mean(x^2)-1 = 10/4-1 = 3/2.
    m = np.array([[0.0, 0.0], [1.0, 3.0]])
    assert S.otsu_separability(m) == pytest.approx((4 / 3) / 1.5, abs=1e-12)
    assert S.otsu_threshold(m) == 1.0


def test_otsu_threshold_agrees_with_skimage():
    filters = pytest.importorskip("skimage.filters")
    rng = np.random.default_rng(3)
    m = np.concatenate([rng.normal(0.0, 1.0, 3000), rng.normal(4.0, 1.5, 1900)])
    m = m.reshape(70, 70)
    t = S.otsu_threshold(m)
    # Exact histogram (one bin per unique value): skimage runs the same
    # criterion and reports the upper value of class 0, so it must agree exactly.
    uniq, counts = np.unique(m, return_counts=True)
    assert filters.threshold_otsu(hist=(counts, uniq)) == t
    # Default 256-bin version: agrees to within a couple of bin widths.
    width = (m.max() - m.min()) / 256
    assert abs(filters.threshold_otsu(m) - t) < 2 * width
    # and the threshold sits between the two modes
    assert 0.5 < t < 3.5


# --------------------------------------------------------------------------
# top10_mass
# --------------------------------------------------------------------------

def test_top10_single_hot_pixel_is_one():
    assert S.top_mass_share(hot_pixel()) == pytest.approx(1.0, abs=1e-12)


def test_top10_hand_computed_intermediate():
    # n=100, k=10: 5 pixels of 2, 10 pixels of 1, 85 zeros (min = 0).
    # top 10 = 5*2 + 5*1 = 15 of total 20 -> share 0.75 -> (0.75-0.1)/0.9 = 13/18
    v = np.zeros(100)
    v[:5] = 2.0
    v[5:15] = 1.0
    m = np.random.default_rng(0).permutation(v).reshape(10, 10)
    assert S.top_mass_share(m) == pytest.approx(13 / 18, abs=1e-12)


def test_top10_near_uniform_is_near_zero():
    # An exactly uniform map is degenerate (NaN); the closest non-constant
    # case, 99 ones and one zero: share = 10/99 -> (10/99 - 1/10)/0.9 = 1/891.
    m = np.ones((10, 10))
    m[0, 0] = 0.0
    assert S.top_mass_share(m) == pytest.approx(1 / 891, abs=1e-12)
    assert math.isnan(S.top_mass_share(np.ones((10, 10))))


def test_top_k_uses_ceil_without_float_creep():
    # n=300, frac=0.1 -> k=30; 31 equal hot pixels: share = 30/31.
    v = np.zeros(300)
    v[:31] = 1.0
    assert S.top_mass_share(v.reshape(15, 20)) == pytest.approx((30 / 31 - 0.1) / 0.9, abs=1e-12)
    # n=100, frac=0.07: 0.07*100 is 7.000000000000001 in floats but k must be 7.
    # 8 equal hot pixels: share = 7/8 -> (7/8 - 7/100)/(93/100) = 161/186
    # (k=8 would give 1).
    assert 0.07 * 100 > 7
    v = np.zeros(100)
    v[:8] = 1.0
    assert S.top_mass_share(v.reshape(10, 10), frac=0.07) == pytest.approx(161 / 186, abs=1e-12)
    # a non-integer frac*n rounds up: n=16, frac=0.1 -> k=2; one pixel of 3 and
    # one of 1 among zeros -> share 1 -> 1; three pixels of 1 -> share 2/3
    # -> (2/3 - 2/16)/(1 - 2/16) = 13/21
    v = np.zeros(16)
    v[:3] = 1.0
    assert S.top_mass_share(v.reshape(4, 4)) == pytest.approx(13 / 21, abs=1e-12)


def test_top10_ignores_offset():
    m = np.random.default_rng(1).random((8, 8))
    assert S.top_mass_share(m + 100.0) == pytest.approx(S.top_mass_share(m), abs=1e-9)


# --------------------------------------------------------------------------
# concentration
# --------------------------------------------------------------------------

def test_concentration_single_hot_pixel_is_one():
    assert S.concentration(hot_pixel()) == pytest.approx(1.0, abs=1e-12)


def test_concentration_near_uniform():
    # 99 ones + one zero: p = 1/99 on 99 pixels -> H = ln 99 -> 1 - ln99/ln100
    m = np.ones((10, 10))
    m[3, 3] = 0.0
    assert S.concentration(m) == pytest.approx(1 - math.log(99) / math.log(100), abs=1e-12)
    assert S.concentration(m) < 0.01
    assert math.isnan(S.concentration(np.full((10, 10), 2.0)))


def test_concentration_two_hot_pixels():
    # mass split equally on 2 of 64 pixels: H = ln 2 -> 1 - ln2/ln64 = 1 - 1/6
    m = np.zeros((8, 8))
    m[0, 0] = m[5, 5] = 1.0
    assert S.concentration(m) == pytest.approx(5 / 6, abs=1e-12)


# --------------------------------------------------------------------------
# degenerate maps
# --------------------------------------------------------------------------

def _all_nan(sc):
    return all(math.isnan(getattr(sc, k)) for k in S.SCORE_NAMES)


def test_relu6_constant_map_is_degenerate():
    m = np.full((7, 7), 6.0, dtype=np.float32)
    assert S.degenerate_reason(m) == "constant map (all 6)"
    sc = S.score_map(m)
    assert _all_nan(sc)
    assert sc.degenerate.startswith("constant map")
    for f in (S.otsu_separability, S.top_mass_share, S.concentration):
        assert math.isnan(f(m))


def test_float32_jitter_on_constant_map_is_still_constant():
    # a few float32 ulps around 6 (~5e-7) are below 1e-6 * 6
    m = np.full((5, 5), 6.0, dtype=np.float32)
    m[0, 0] = np.nextafter(np.float32(6.0), np.float32(7.0))
    m[1, 1] = np.nextafter(np.float32(6.0), np.float32(5.0))
    assert S.degenerate_reason(m).startswith("constant map")
    assert _all_nan(S.score_map(m))


def test_tiny_map_is_degenerate():
    sc = S.score_map(np.array([[2.5]]))
    assert sc.degenerate == "too few pixels (1×1)"
    assert _all_nan(sc)
    assert S.degenerate_reason(np.array([[0.0, 1.0, 2.0]])) == "too few pixels (1×3)"
    assert S.degenerate_reason(np.array([[0.0, 1.0], [2.0, 3.0]])) is None


def test_non_finite_map_is_degenerate():
    m = np.random.default_rng(0).random((6, 6))
    m[2, 2] = np.nan
    sc = S.score_map(m)
    assert sc.degenerate.startswith("non-finite values")
    assert _all_nan(sc)
    m[2, 2] = np.inf
    assert S.degenerate_reason(m).startswith("non-finite values")


def test_nearly_constant_map_formulas_vs_policy():
    m = np.full((10, 10), 6.0)
    m[2, 3] = 5.99                      # spread 0.01 >> 1e-6 * 6: not constant...
    # analytic: one low pixel among 99 equal: Otsu splits it off exactly -> 1;
    # top10 and concentration as in the near-uniform cases above.
    assert S.otsu_separability(m) == pytest.approx(1.0, abs=1e-9)
    assert S.top_mass_share(m) == pytest.approx(1 / 891, abs=1e-9)
    assert S.concentration(m) == pytest.approx(1 - math.log(99) / math.log(100), abs=1e-9)
    # ...but 99% of it is clipped at the ceiling, so score_map refuses the misleading Otsu = 1
    sc = S.score_map(m)
    assert "saturated" in sc.degenerate and math.isnan(sc.otsu)
    m2 = m.copy()
    m2[2, 3] = 6.01                     # one peak above a flat floor is a real (if weak) map
    assert S.degenerate_reason(m2) is None and S.score_map(m2).otsu == pytest.approx(1.0, abs=1e-9)
    # small-magnitude maps: 1e-3 spread around 0 is valid, 1e-7 is constant
    assert S.degenerate_reason(np.linspace(0, 1e-3, 16).reshape(4, 4)) is None
    assert S.degenerate_reason(np.linspace(0, 1e-7, 16).reshape(4, 4)) is not None


# --------------------------------------------------------------------------
# invariance: sum map = C * mean map
# --------------------------------------------------------------------------

def test_sum_map_scores_equal_mean_map_scores():
    rng = np.random.default_rng(7)
    feats = rng.gamma(1.5, size=(12, 12, 48))
    mean_map = feats.mean(axis=-1)
    sum_map = feats.sum(axis=-1)
    a, b = S.score_map(mean_map), S.score_map(sum_map)
    for k in S.SCORE_NAMES:
        assert getattr(b, k) == pytest.approx(getattr(a, k), abs=1e-9)
    for c in (1e-3, 7.0, 512.0):
        sc = S.score_map(c * mean_map)
        for k in S.SCORE_NAMES:
            assert getattr(sc, k) == pytest.approx(getattr(a, k), abs=1e-9)


def test_score_docs_cover_every_score():
    assert set(S.SCORE_DOCS) == set(S.SCORE_NAMES)
    for line in S.SCORE_DOCS.values():
        assert "higher" in line and "\n" not in line


def test_scores_stay_in_unit_interval_on_random_maps():
    rng = np.random.default_rng(11)
    for _ in range(30):
        m = rng.standard_normal((9, 11)) ** 3
        sc = S.score_map(m)
        for k in S.SCORE_NAMES:
            assert 0.0 <= getattr(sc, k) <= 1.0


# --------------------------------------------------------------------------
# summarize / intervals_overlap
# --------------------------------------------------------------------------

def test_summarize_basic_and_deterministic():
    x = np.random.default_rng(0).normal(0.4, 0.1, 50)
    s = ST.summarize(x)
    assert s["n"] == 50 and s["n_missing"] == 0
    assert s["mean"] == pytest.approx(np.mean(x), abs=1e-12)
    assert s["lo"] < s["mean"] < s["hi"]
    # width ~ 2*1.96*sd/sqrt(n) for a near-normal sample
    expected = 2 * 1.96 * np.std(x) / math.sqrt(50)
    assert (s["hi"] - s["lo"]) == pytest.approx(expected, rel=0.2)
    assert ST.summarize(x, seed=0) == s
    assert ST.summarize(x, seed=1) != s


def test_summarize_width_shrinks_with_more_samples():
    rng = np.random.default_rng(2)
    small = ST.summarize(rng.random(20))
    big = ST.summarize(rng.random(2000))
    assert (big["hi"] - big["lo"]) < 0.3 * (small["hi"] - small["lo"])


def test_summarize_nan_handling():
    s = ST.summarize([0.2, np.nan, 0.4, np.nan, 0.6])
    assert s["n"] == 3 and s["n_missing"] == 2
    assert s["mean"] == pytest.approx(0.4)
    assert 0.2 <= s["lo"] <= s["mean"] <= s["hi"] <= 0.6
    none = ST.summarize([np.nan, np.nan])
    assert none["n"] == 0 and none["n_missing"] == 2
    assert all(math.isnan(none[k]) for k in ("mean", "lo", "hi"))
    one = ST.summarize([np.nan, 0.7])
    assert one == {"mean": 0.7, "lo": 0.7, "hi": 0.7, "n": 1, "n_missing": 1}
    assert ST.summarize([])["n"] == 0


def test_intervals_overlap():
    a = {"lo": 0.1, "hi": 0.3}
    assert ST.intervals_overlap(a, {"lo": 0.25, "hi": 0.5})
    assert ST.intervals_overlap({"lo": 0.25, "hi": 0.5}, a)
    assert ST.intervals_overlap(a, {"lo": 0.3, "hi": 0.4})       # touching
    assert ST.intervals_overlap(a, {"lo": 0.15, "hi": 0.2})      # nested
    assert not ST.intervals_overlap(a, {"lo": 0.31, "hi": 0.4})
    assert not ST.intervals_overlap(a, {"lo": math.nan, "hi": math.nan})


# --------------------------------------------------------------------------
# channel_stats
# --------------------------------------------------------------------------

def _rank_r_features(n, c, scales, seed=0, offset=3.0):
    """n x c features whose covariance eigenvalues are proportional to scales**2."""
    rng = np.random.default_rng(seed)
    r = len(scales)
    a = rng.standard_normal((n, r))
    a -= a.mean(axis=0)
    q, _ = np.linalg.qr(a)                       # centred orthonormal columns
    b, _ = np.linalg.qr(rng.standard_normal((c, r)))  # orthonormal directions
    return offset + (q * np.asarray(scales)) @ b.T


@pytest.mark.parametrize("r", [1, 3, 7])
def test_effective_rank_of_r_equal_directions_is_r(r):
    # equal eigenvalues: p_i = 1/r -> exp(ln r) = r
    gap = _rank_r_features(40, 64, [2.0] * r, seed=r)
    st = ST.channel_stats(gap, np.ones_like(gap))
    assert st["effective_rank"] == pytest.approx(r, rel=1e-6)
    assert st["effective_rank_fraction"] == pytest.approx(r / 39, rel=1e-6)
    assert st["note"] is None


def test_effective_rank_unequal_eigenvalues():
    # eigenvalues in ratio 3:1 -> p = (3/4, 1/4)
    gap = _rank_r_features(30, 10, [math.sqrt(3.0), 1.0])
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    st = ST.channel_stats(gap, np.ones_like(gap))
    assert st["effective_rank"] == pytest.approx(expected, rel=1e-6)
    # more images than channels -> C x C path; fraction uses min(n-1, C)
    gap_tall = _rank_r_features(200, 5, [1.0] * 5)
    st = ST.channel_stats(gap_tall, np.ones_like(gap_tall))
    assert st["effective_rank"] == pytest.approx(5.0, rel=1e-6)
    assert st["effective_rank_fraction"] == pytest.approx(1.0, rel=1e-6)


def test_effective_rank_matches_direct_covariance():
    rng = np.random.default_rng(5)
    gap = rng.gamma(2.0, size=(25, 12)) @ rng.random((12, 12))
    lam = np.clip(np.linalg.eigvalsh(np.cov(gap, rowvar=False)), 0, None)
    p = lam[lam > 0] / lam.sum()
    st = ST.channel_stats(gap, gap)
    assert st["effective_rank"] == pytest.approx(math.exp(-np.sum(p * np.log(p))), rel=1e-9)


def test_dead_channels_counted_exactly():
    rng = np.random.default_rng(0)
    n, c = 6, 20
    gmp = rng.random((n, c)) + 0.1
    gmp[:, [2, 5, 11]] = 0.0                   # never fire
    gmp[:, 7] = -0.3                           # negative everywhere: also never fires
    gmp[:5, 9] = 0.0                           # fires on one image only: alive
    gmp[5, 9] = 0.5
    gmp[:, 13] = 5e-7                          # below dead_eps=1e-6
    st = ST.channel_stats(rng.random((n, c)), gmp)
    assert st["n_channels"] == 20
    assert st["n_dead"] == 5
    assert st["dead_fraction"] == pytest.approx(5 / 20)


def test_channel_stats_constant_and_single_image():
    gap = np.tile(np.arange(8.0), (5, 1))      # every image identical
    st = ST.channel_stats(gap, gap)
    assert math.isnan(st["effective_rank"]) and math.isnan(st["effective_rank_fraction"])
    assert "constant" in st["note"]
    one = ST.channel_stats(np.ones((1, 4)), np.ones((1, 4)))
    assert math.isnan(one["effective_rank_fraction"]) and one["note"]
    assert one["dead_fraction"] == 0.0
    with pytest.raises(ValueError):
        ST.channel_stats(np.ones((3, 4)), np.ones((3, 5)))


def test_constant_channels_do_not_inflate_rank():
    # two genuinely varying directions, plus float32-level jitter on a flat channel
    gap = _rank_r_features(30, 6, [1.0, 1.0])
    gap = np.hstack([gap, np.full((30, 1), 6.0)])
    gap[::2, -1] += 1e-7
    st = ST.channel_stats(gap, np.ones_like(gap))
    assert st["effective_rank"] == pytest.approx(2.0, rel=1e-6)


# --------------------------------------------------------------------------
# robust_limits / value_sample
# --------------------------------------------------------------------------

def test_robust_limits_ordering_and_outliers():
    x = np.concatenate([np.linspace(0, 1, 1000), [1e6, -1e6, np.nan]])
    vmin, vmax = ST.robust_limits(x)
    assert vmin < vmax
    assert -0.1 < vmin < 0.05 and 0.95 < vmax < 1.1     # outliers trimmed
    assert vmin == pytest.approx(np.percentile(x[np.isfinite(x)], 1.0))


def test_robust_limits_zero_width():
    vmin, vmax = ST.robust_limits(np.full(500, 6.0))
    assert vmin < 6.0 < vmax
    assert vmax - vmin < 1e-3
    vmin, vmax = ST.robust_limits(np.zeros(10))
    assert vmin < 0.0 < vmax
    with pytest.raises(ValueError):
        ST.robust_limits(np.array([np.nan]))


def test_value_sample():
    m = np.arange(10_000.0).reshape(100, 100)
    a = ST.value_sample(m, k=256, seed=3)
    assert a.shape == (256,)
    assert np.unique(a).size == 256                     # without replacement
    assert np.isin(a, m).all()
    np.testing.assert_array_equal(a, ST.value_sample(m, k=256, seed=3))
    assert not np.array_equal(a, ST.value_sample(m, k=256, seed=4))
    small = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(ST.value_sample(small, k=256), small.ravel())


def test_saturated_relu6_map_is_degenerate_but_a_single_peak_is_not():
    m = np.full((7, 7), 6.0)
    m[0, :5] = [1.0, 2.0, 3.0, 4.0, 5.0]  # 44 of 49 pixels clipped at the ReLU6 ceiling
    reason = S.degenerate_reason(m)
    assert reason is not None and "saturated" in reason and "90%" in reason
    assert np.isnan(S.score_map(m).otsu)
    peak = np.arange(49, dtype=float).reshape(7, 7)  # one pixel at the maximum
    assert S.degenerate_reason(peak) is None
    half = np.zeros((4, 4))
    half[:2] = 6.0  # exactly half at the maximum: a clean two-level map is saturated by the rule
    assert "saturated" in S.degenerate_reason(half)
