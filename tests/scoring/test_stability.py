"""Neighbourhood stability, augmentation retrieval, the paired bootstrap and the augmented view."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from bbselect.inputs import augment as aug
from bbselect.scoring import stability as st
from bbselect.scoring.stats import paired_bootstrap


def _feats(n=120, d=24, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


# ------------------------------------------------------------------ the score on known answers

def test_identical_views_give_one():
    x = _feats()
    r = st.neighbourhood_stability(x, x.copy(), k=10)
    assert r["reason"] is None
    assert r["stability"] == 1.0 and np.all(r["per_image"] == 1.0)
    assert r["retrieval"] == 1.0


def test_views_independent_of_originals_give_the_hypergeometric_chance_level():
    # Views drawn independently of the originals: each view's k neighbours are a uniformly random
    # k-subset of the n - 1 others, so |A ∩ B| is hypergeometric (n - 1, k, k), mean k² / (n - 1), and
    # E[J] = E[I / (2k - I)] ≈ k / (2 (n - 1)) — "about k/n" in overlap share I/k.
    n, k, m = 300, 10, 4
    x = _feats(n, 16, seed=1)
    views = np.random.default_rng(2).normal(size=(m, n, 16))
    per = st.stability_per_image(x, views, k)
    chance = st.chance_jaccard(n, k)
    assert chance == pytest.approx(0.0174, abs=5e-4)  # hand value: J ≈ k / (2(n-1)) = 0.0167, +curvature
    se = per.std() / math.sqrt(n)
    assert abs(per.mean() - chance) < 4 * se
    assert per.mean() < 0.05  # far from 1
    rt = st.retrieval_per_image(x, views)
    assert rt.mean() < 5 / n + 4 * math.sqrt(1 / n / n)  # top-1 retrieval at chance: 1/n


def test_matches_an_independent_nearest_neighbour_reference():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 8)) * rng.uniform(0.1, 5, size=8) + rng.normal(size=8)
    v = x + rng.normal(scale=0.8, size=x.shape)
    k = 5
    mu, sd = x.mean(0), x.std(0)

    def neigh(a):
        z = (a - mu) / sd
        nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(z)
        idx = nn.kneighbors(z, return_distance=False)
        return [set(row[row != i][:k]) for i, row in enumerate(idx)]

    ref = [len(a & b) / len(a | b) for a, b in zip(neigh(x), neigh(v))]
    got = st.stability_per_image(x, v, k)
    np.testing.assert_allclose(got, ref)
    assert 0.1 < np.mean(ref) < 0.9  # a case in between, not a trivial 0 or 1


def test_more_noise_less_stable():
    x = _feats(200, 32, seed=4)
    rng = np.random.default_rng(5)
    vals = [st.neighbourhood_stability(x, x + rng.normal(scale=s, size=x.shape))["stability"]
            for s in (0.05, 0.5, 1.0, 3.0)]
    assert vals == sorted(vals, reverse=True) and vals[0] > 0.8 and vals[-1] < 0.2


def test_invariant_to_per_channel_scaling_and_offset():
    x = _feats(100, 12, seed=6)
    v = x + np.random.default_rng(7).normal(scale=0.7, size=x.shape)
    scale = np.random.default_rng(8).uniform(0.01, 100, size=12)
    shift = np.random.default_rng(9).normal(scale=50, size=12)
    a = st.neighbourhood_stability(x, v)
    b = st.neighbourhood_stability(x * scale + shift, v * scale + shift)
    np.testing.assert_allclose(a["per_image"], b["per_image"])
    np.testing.assert_allclose(a["retrieval_per_image"], b["retrieval_per_image"])
    # a whole layer at ~1e-16 (random-init MobileNet c5 pools to that scale) is the same score, not undefined
    c = st.neighbourhood_stability(x * 1e-16, v * 1e-16)
    assert c["reason"] is None
    np.testing.assert_allclose(a["per_image"], c["per_image"])
    # a channel that is constant (up to float32 rounding of the layer's scale) is not blown up by 1/std
    xc, vc = x.copy(), v.copy()
    xc[:, 0], vc[:, 0] = 5.0 + 1e-9 * np.arange(100), 5.0
    d = st.neighbourhood_stability(xc, vc)
    e = st.neighbourhood_stability(np.delete(x, 0, axis=1), np.delete(v, 0, axis=1))
    np.testing.assert_allclose(d["per_image"], e["per_image"])


def test_deterministic_and_follows_a_permutation_of_the_images():
    x = _feats(80, 10, seed=10)
    v = x + np.random.default_rng(11).normal(scale=0.6, size=x.shape)
    a = st.stability_per_image(x, v)
    np.testing.assert_array_equal(a, st.stability_per_image(x, v))
    perm = np.random.default_rng(12).permutation(80)
    np.testing.assert_allclose(st.stability_per_image(x[perm], v[perm]), a[perm])


def test_views_averaged_over_m_sets():
    x = _feats(60, 8, seed=13)
    rng = np.random.default_rng(14)
    v1, v2 = x + rng.normal(size=x.shape), x + rng.normal(size=x.shape)
    both = st.stability_per_image(x, np.stack([v1, v2]))
    np.testing.assert_allclose(both, (st.stability_per_image(x, v1) + st.stability_per_image(x, v2)) / 2)


def test_not_defined_below_three_k_images_with_the_reason():
    assert st.min_images(10) == 30
    r = st.neighbourhood_stability(_feats(29), _feats(29, seed=1), k=10)
    assert math.isnan(r["stability"]) and "fewer than 3 × k = 30" in r["reason"]
    assert st.neighbourhood_stability(_feats(30), _feats(30, seed=1), k=10)["reason"] is None
    with pytest.raises(ValueError, match="fewer than"):
        st.stability_per_image(_feats(14), _feats(14), k=5)


def test_dead_features_are_not_scored_as_perfectly_stable():
    x = np.zeros((40, 6))
    r = st.neighbourhood_stability(x, x.copy())
    assert math.isnan(r["stability"]) and "same for every image" in r["reason"]
    assert math.isnan(r["retrieval"])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="views must have shape"):
        st.stability_per_image(_feats(40, 5), _feats(40, 6))


# ------------------------------------------------------------------ paired bootstrap

def test_paired_bootstrap_clearly_different_is_not_tied():
    rng = np.random.default_rng(0)
    b = rng.uniform(0, 1, 200)
    a = b + 0.2 + rng.normal(scale=0.05, size=200)  # per-image spread large, the paired gap small
    r = paired_bootstrap(a, b, n_boot=1000, seed=0)
    assert r["tied"] is False and r["lo"] > 0.15 and r["hi"] < 0.25
    assert r["diff"] == pytest.approx(np.mean(a - b))
    # unpaired intervals of these two would overlap heavily: pairing is what separates them
    assert np.percentile(a, 25) < np.percentile(b, 75)


def test_paired_bootstrap_same_is_tied_and_symmetric():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 150)
    e = rng.normal(scale=0.1, size=150)
    b = a + (e - e.mean())  # same mean, noisy pairs
    r = paired_bootstrap(a, b, n_boot=1000, seed=0)
    assert r["tied"] is True and r["lo"] < 0 < r["hi"]
    r2 = paired_bootstrap(b, a, n_boot=1000, seed=0)
    assert r2["diff"] == pytest.approx(-r["diff"])


def test_paired_bootstrap_drops_missing_pairs_and_ignores_order():
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 7.0])
    b = np.array([0.5, 1.0, 3.0, np.nan, 4.0, 6.5])
    r = paired_bootstrap(a, b, n_boot=500, seed=3)
    assert r["n"] == 4 and r["n_missing"] == 2 and r["diff"] == pytest.approx(np.mean([0.5, 1.0, 1.0, 0.5]))
    perm = [5, 2, 0, 4, 1, 3]
    assert paired_bootstrap(a[perm], b[perm], n_boot=500, seed=3) == r
    assert paired_bootstrap([np.nan], [1.0])["tied"] is None


# ------------------------------------------------------------------ the augmented view

def _img(w=97, h=61):
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8), "RGB")


def test_crop_area_and_colour_factors_stay_in_their_ranges():
    flips = []
    for i in range(300):
        for wh in ((97, 61), (40, 300), (224, 224)):
            p = aug.draw_params(wh, seed=0, image_id=f"img{i}", view=i % 3)
            area = p.width * p.height / (wh[0] * wh[1])
            # rounding each side to whole pixels moves the area by at most ~ (w + h) / (w h)
            tol = (wh[0] + wh[1] + 1) / (wh[0] * wh[1])
            assert 0.4 - tol <= area <= 0.8 + tol
            assert 0 <= p.left and p.left + p.width <= wh[0] and 0 <= p.top and p.top + p.height <= wh[1]
            assert 0.8 <= p.brightness <= 1.2 and 0.8 <= p.contrast <= 1.2
            flips.append(p.flip)
    assert 0.4 < np.mean(flips) < 0.6


def test_view_is_deterministic_per_seed_id_and_index_not_order_or_thread():
    img = _img()
    jobs = [(s, i, v) for s in (0, 1) for i in ("a", "b/c.jpg") for v in (0, 1)]
    first = {j: np.asarray(aug.augmented_view(img, *j)) for j in jobs}
    with ThreadPoolExecutor(4) as pool:
        again = dict(zip(jobs[::-1], pool.map(lambda j: np.asarray(aug.augmented_view(img, *j)), jobs[::-1])))
    for j in jobs:
        np.testing.assert_array_equal(first[j], again[j])
    # every coordinate of the key matters
    distinct = {aug.draw_params(img.size, *j) for j in jobs}
    assert len(distinct) == len(jobs)


def test_view_content_is_the_crop_flipped_and_recoloured():
    img = _img(50, 40)
    p = aug.ViewParams(left=5, top=3, width=30, height=20, flip=True, brightness=1.0, contrast=1.0)
    got = np.asarray(aug.apply_params(img, p))
    want = np.asarray(img)[3:23, 5:35][:, ::-1]
    np.testing.assert_array_equal(got, want)
    grey = Image.new("RGB", (10, 10), (100, 100, 100))
    p2 = aug.ViewParams(0, 0, 10, 10, False, brightness=1.2, contrast=0.8)
    assert np.all(np.asarray(aug.apply_params(grey, p2)) == 120)  # brightness scales, contrast keeps a flat image


# ------------------------------------------------------------------ the figure

def test_neighbours_of_agrees_with_the_per_image_score():
    x = _feats(50, 8, seed=20)
    v = x + np.random.default_rng(21).normal(scale=0.8, size=x.shape)
    per = st.stability_per_image(x, v, 10)
    got = st.neighbours_of(x, v, [0, 7, 31], k=10)
    assert [g["jaccard"] for g in got] == pytest.approx(per[[0, 7, 31]])
    assert all(g["image"] not in g["orig"] and g["image"] not in g["view"] for g in got)


def test_neighbours_figure_frames_the_neighbours_both_sets_share():
    from bbselect.reports.neighbours import NeighbourRow, neighbours_figure

    ids = [f"i{j}" for j in range(9)]
    th = {i: np.full((8, 8, 3), 10 * n, np.uint8) for n, i in enumerate(ids)}
    row = NeighbourRow("net", "i0", ids[1:5], ["i3", "i4", "i7", "i8"], 2 / 6)
    fig = neighbours_figure([row], th, th, show=4)
    framed = [ax for ax in fig.axes if ax.spines["left"].get_linewidth() == 3]
    assert len(fig.axes) == 2 + 4 + 4 and len(framed) == 4  # i3, i4 on each side
    assert "2 of 4 neighbours survive" in " ".join(t.get_text() for t in fig.texts)


# ------------------------------------------------------------------ ranking: paired ties, the health gate

def _entry(label, mean, dead=0.0, erank=20.0, paired=None):
    s = {"mean": mean, "lo": mean - 0.05, "hi": mean + 0.05, **({"paired": paired} if paired else {})}
    return {"label": label, "primary": s, "channels_stats": {"dead_fraction": dead, "effective_rank": erank}}


def test_rank_ties_follow_the_paired_comparison_not_interval_overlap():
    from bbselect.scoring import ranking

    a = _entry("a", 0.40, paired={"b": {"tied": False}})
    b = _entry("b", 0.38, paired={"a": {"tied": False}})
    c = _entry("c", 0.30)  # no paired result: interval overlap decides (0.25-0.35 vs 0.33-0.43)
    out = ranking.rank([c, b, a])
    assert [e["label"] for e in out] == ["a", "b", "c"]
    assert out[0]["tied_with"] == [] and out[1]["tied_with"] == ["c"]


def test_health_gate_demotes_but_never_promotes():
    from bbselect.scoring import ranking

    dead = _entry("dead", 0.9, dead=0.7)
    flat = _entry("flat", 0.8, erank=1.3)
    good = _entry("good", 0.3)
    worse = _entry("worse", 0.2)
    out = ranking.rank([worse, flat, dead, good], health_gate=True)
    assert [e["label"] for e in out] == ["good", "worse", "dead", "flat"]
    assert "never fire" in out[2]["demoted"] and "effective rank 1.3" in out[3]["demoted"]
    # without the gate (labelled or boxed evidence) the order is the score's
    assert [e["label"] for e in ranking.rank([worse, flat, dead, good])] == ["dead", "flat", "good", "worse"]


def _knn_by_full_sort(z, k):
    """The definition, written the slow way and without floating point: the similarity of two rows is
    the exact integer dot product of the rows rounded to the 2**-GRID_BITS grid (int64 arithmetic, no
    BLAS); sort each whole row (stable, so ties go by index)."""
    q = np.rint(z * 2.0 ** st.GRID_BITS).astype(np.int64)
    s = q @ q.T  # |entries| <= 2**26, d <= 12 terms: far inside int64
    np.fill_diagonal(s, -(2 ** 62))
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def _features(kind):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((301, 12))
    if kind == "ties":  # few distinct values: many equal similarities, also at the k-th place
        z = rng.integers(-1, 2, size=(301, 4)).astype(float)
    if kind == "zero rows":
        z[::7] = 0.0
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize("kind", ["continuous", "ties", "zero rows"])
@pytest.mark.parametrize("block", [1, 7, 64, 300, 1024])
def test_knn_indices_equal_a_stable_sort_of_whole_rows(kind, block, monkeypatch):
    """The partition-based neighbour search returns exactly what sorting every row would, ties
    included, whatever the block size it works in (one row, uneven blocks, the last one partial, one block)."""
    z = _features(kind)
    monkeypatch.setattr(st, "_BLOCK", block)
    for k in (1, 10, 300):
        assert np.array_equal(st.knn_indices(z, k), _knn_by_full_sort(z, k)), k


def _reversed_sum(a, b):
    """Another BLAS: the same dot products summed in the opposite order, one pair at a time."""
    return np.array([[sum(float(x) * float(y) for x, y in zip(r[::-1], c[::-1])) for c in b] for r in a])


@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_neighbours_do_not_depend_on_how_the_dot_products_are_summed(kind, monkeypatch):
    """Issue 20: a fresh machine's BLAS rounded tied similarities differently in different block shapes,
    so the k-th neighbour changed with the blocking. Summing every dot product in another order (as another
    BLAS or kernel would) must give the same neighbours, tie order, retrieval and stability."""
    z = _features(kind)[:61]
    views = z + 0.05 * np.random.default_rng(4).standard_normal(z.shape)
    want = st.knn_indices(z, 20), st.neighbourhood_stability(z, views, 10), st.neighbours_of(z, views, [0, 5])
    monkeypatch.setattr(st, "similarities", _reversed_sum)
    monkeypatch.setattr(st, "_BLOCK", 8)
    assert np.array_equal(st.knn_indices(z, 20), want[0])
    got = st.neighbourhood_stability(z, views, 10)
    for key in ("per_image", "retrieval_per_image"):
        assert np.array_equal(got[key], want[1][key], equal_nan=True), key
    assert st.neighbours_of(z, views, [0, 5]) == want[2]
    zs = st.standardise(z)[0]  # what the figure shows is what the score counted
    assert want[2][1]["orig"] == st.knn_indices(zs, 10)[5].tolist()
