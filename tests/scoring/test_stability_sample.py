"""Neighbourhood stability on a bounded sample (issue 25, point 2): the sample is deterministic,
stratified by sub-folder and the same in every shard and file order; a run makes views for at most N
images; a sharded and merged run reproduces the unsharded stability; a folder of at most N images is
scored exactly as before; the reports say when stability sampled. A tiny random-init MobileNet, offline."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from bbselect.config.schema import CompareConfig
from bbselect.errors import UsageError
from bbselect.inputs import augment
from bbselect.reports.headline import headline, headline_text
from bbselect.reports.machine import ci_summary
from bbselect.runs.merge import merge
from bbselect.runs.pipeline import compare
from bbselect.runs.shards import shard_of
from bbselect.scoring import stability, stability_sample, stats, validated

BB = "mobilenet:alpha=0.25,layer=c3"
K = 3


def _folder(root, sizes: dict[str, int]):
    """Distinct random images (a different seed per image), ``sizes``: sub-folder -> count."""
    for s, (sub, n) in enumerate(sorted(sizes.items())):
        d = root / sub if sub else root
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng(1000 * s + i)
            arr = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
            arr[rng.integers(0, 20):, rng.integers(0, 28):][:12, :12] = rng.integers(0, 255, 3)
            Image.fromarray(arr).save(d / f"im{i:02d}.png")
    return root


def _run(tmp_path, images, name, **kw):
    kw.setdefault("figures", "none")
    kw.setdefault("stability", "on")
    cfg = CompareConfig(images=str(images), backbones=[BB], weights="none", input_size=32,
                        output=str(tmp_path / "out"), name=name, stability_k=K, **kw)
    out = compare(cfg, quiet=True)
    return out.run_dir, json.loads((out.run_dir / "scores.json").read_text())


def _maps(run_dir) -> dict[str, dict]:
    manifest = json.loads((run_dir / "run.json").read_text())
    rel = {im["id"]: im["rel"] for im in manifest["images"]}
    return {rel[p.stem]: dict(np.load(p)) for p in sorted((run_dir / "maps").glob("*/*.npz"))}


# ---------------------------------------------------------------- the sample itself (pure)

def _rels(sizes: dict[str, int]) -> list[str]:
    return [f"{sub}/im{i:03d}.jpg" if sub else f"im{i:03d}.jpg" for sub, n in sizes.items() for i in range(n)]


def test_sample_is_deterministic_and_independent_of_file_order_and_shards():
    rels = _rels({"a": 120, "b": 50, "c": 30, "": 20})
    first = stability_sample.sample(rels, 40, seed=0)
    shuffled = list(rels)
    random.Random(3).shuffle(shuffled)
    assert stability_sample.sample(shuffled, 40, seed=0) == first  # file order on disk does not matter
    assert len(first) == 40 and set(first) <= set(rels)
    # a stratum of its own for files at the top; a path's rank does not depend on the other paths
    assert stability_sample.stratum("im001.jpg") == "" and stability_sample.stratum("a/b/x.png") == "a/b"
    more = stability_sample.sample(rels + _rels({"d": 5}), 45, seed=0)
    assert len(more) == 45 and sum(r.startswith("d/") for r in more) == 1
    assert stability_sample.sample(rels, 40, seed=1) != first  # the seed salts the ranking
    assert stability_sample.sample(rels, 0) == sorted(rels) == stability_sample.sample(rels, 220)


def test_sample_is_stratified_by_sub_folder_proportionally_with_at_least_one_each():
    rels = _rels({"a": 60, "b": 30, "c": 10})
    got = Counter(stability_sample.stratum(r) for r in stability_sample.sample(rels, 20))
    assert got == {"a": 12, "b": 6, "c": 2}  # 20 × 60/100, 20 × 30/100, 20 × 10/100
    rels = _rels({"big": 97, "x": 1, "y": 1, "z": 1})
    got = Counter(stability_sample.stratum(r) for r in stability_sample.sample(rels, 10))
    assert got == {"big": 7, "x": 1, "y": 1, "z": 1}  # every stratum is represented
    # fractional shares: the largest remainders get the spare places (4.5 → 5 or 4, 3.0, 2.5)
    assert stability_sample.allocate([45, 30, 25], 10) in ([5, 3, 2], [4, 3, 3])
    assert sum(stability_sample.allocate([45, 30, 25], 10)) == 10
    assert stability_sample.allocate([5, 0, 3], 20) == [5, 0, 3]


def test_too_small_a_limit_is_a_usage_error(tmp_path):
    folder = _folder(tmp_path / "imgs", {"": 12})
    with pytest.raises(UsageError, match="stability-max-images 5"):
        _run(tmp_path, folder, "bad", stability_max_images=5)  # 5 < 3 × k = 9


# ---------------------------------------------------------------- in a run

def test_a_run_makes_views_for_the_sample_only_and_scores_exactly_those(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "imgs", {"a": 16, "b": 8})
    calls = []
    real = augment.decode_with_views
    monkeypatch.setattr(augment, "decode_with_views", lambda ref, *a, **kw: calls.append(ref.rel) or real(ref, *a, **kw))
    run_dir, s = _run(tmp_path, folder, "sampled", stability_max_images=12)
    expected = stability_sample.sample([f"a/im{i:02d}.png" for i in range(16)] + [f"b/im{i:02d}.png" for i in range(8)],
                                       12, 0)
    assert sorted(calls) == expected  # 12 views made, no more: one per sampled image
    maps = _maps(run_dir)
    assert sorted(r for r, m in maps.items() if "view_gap" in m) == expected
    assert len(maps) == 24  # every image still has its maps
    st = s["backbones"][0]["stability"]
    assert st["n"] == 12
    # the score is the neighbourhood stability of exactly the sampled images (computed here directly)
    gap = np.stack([maps[r]["gap"] for r in expected])
    views = np.stack([maps[r]["view_gap"] for r in expected])
    direct = stability.neighbourhood_stability(gap, views.transpose(1, 0, 2), K)
    assert st["mean"] == pytest.approx(float(np.nanmean(direct["per_image"])), abs=1e-12)
    assert st["lo"] == pytest.approx(stats.summarize(direct["per_image"])["lo"], abs=1e-12)
    assert s["run"]["stability"]["sample"]["sampled"] is True
    assert s["run"]["stability"]["sample"]["rels"] == expected


def test_sharded_and_merged_equals_the_unsharded_stability(tmp_path):
    folder = _folder(tmp_path / "imgs", {"a": 14, "b": 9, "c": 5})
    whole_dir, whole = _run(tmp_path, folder, "whole", stability_max_images=12, cache=False)
    for i in (1, 2, 3):
        shard_dir, _ = _run(tmp_path, folder, "big", stability_max_images=12, shard=f"{i}/3", cache=False)
        in_shard = sorted(r for r, m in _maps(shard_dir).items() if "view_gap" in m)
        assert in_shard == [r for r in whole["run"]["stability"]["sample"]["rels"] if shard_of(r, 3) == i]
    merged = merge([tmp_path / "out" / "big"], tmp_path / "out", "merged", quiet=True)
    m = json.loads((merged.run_dir / "scores.json").read_text())
    assert m["backbones"][0]["stability"] == whole["backbones"][0]["stability"]  # exactly, interval included
    assert m["run"]["stability"]["sample"] == whole["run"]["stability"]["sample"]


def test_a_folder_at_or_below_the_limit_is_scored_as_before(tmp_path):
    folder = _folder(tmp_path / "imgs", {"a": 10, "b": 6})
    run_dir, limited = _run(tmp_path, folder, "limited", stability_max_images=16)
    _, unlimited = _run(tmp_path, folder, "all", stability_max_images=0)
    maps = _maps(run_dir)
    assert all("view_gap" in m for m in maps.values())  # every image has its view, as before
    assert limited["run"]["stability"]["sample"]["sampled"] is False
    st = limited["backbones"][0]["stability"]
    assert st == unlimited["backbones"][0]["stability"] and st["n"] == 16
    rels = sorted(maps)
    direct = stability.neighbourhood_stability(np.stack([maps[r]["gap"] for r in rels]),
                                               np.stack([maps[r]["view_gap"] for r in rels]).transpose(1, 0, 2), K)
    assert st["mean"] == pytest.approx(float(np.nanmean(direct["per_image"])), abs=1e-12)
    assert "sample" not in limited["verdict"] and "stability_sample" not in limited["evidence"]


def test_the_reports_say_when_stability_sampled(tmp_path, monkeypatch):
    monkeypatch.setattr(validated, "load", lambda: {"labels": {"scores": {"stability": {
        "supported": True, "tau_nonrandom": {"trashnet": 0.7}}}}})
    folder = _folder(tmp_path / "imgs", {"a": 14, "b": 10})
    run_dir, s = _run(tmp_path, folder, "words", stability_max_images=12, figures="1", labels="none")
    words = "a stratified sample of 12 of 24 images (--stability-max-images 12)"
    assert s["evidence"]["metric"] == "neighbourhood stability"
    assert s["evidence"]["sample"] == {"n": 12, "of": 24, "max_images": 12, "text": words}
    assert words in s["verdict"]
    line = headline_text(headline(s))  # the terminal's first line and --format json's headline
    assert f"on {words}" in line and "24 images)" not in line
    assert f"on {words}" in ci_summary(s, str(run_dir), 0)["headline"]  # --format json
    assert words in (run_dir / "report.md").read_text()
    assert words in (run_dir / "report.html").read_text()
    assert (run_dir / "figures" / "stability.png").exists()  # the figure is drawn from the sample


def test_resume_and_cache_keep_views_with_sampled_images_only(tmp_path):
    folder = _folder(tmp_path / "imgs", {"a": 12, "b": 12})
    run_dir, first = _run(tmp_path, folder, "first", stability_max_images=12)
    cfg = CompareConfig(images=str(folder), backbones=[BB], weights="none", input_size=32, figures="none",
                        output=str(tmp_path / "out"), name="first", stability_k=K, stability="on",
                        stability_max_images=12)
    again = compare(cfg, quiet=True, resume=run_dir)  # every kept maps file verifies: nothing recomputed
    t = json.loads((again.run_dir / "run.json").read_text())["timing"]["backbones"][BB]
    assert (t["computed"], t["resumed"]) == (0, 24)
    assert again.summary["backbones"][0]["stability"] == first["backbones"][0]["stability"]
    # the unsampled images' maps are those of a run without views: a --stability off run reuses them
    # from the cache; the sampled ones (cached with their views, under another key) it computes
    off_dir, _ = _run(tmp_path, folder, "off", stability="off")
    t = json.loads((off_dir / "run.json").read_text())["timing"]["backbones"][BB]
    assert (t["cached"], t["computed"]) == (12, 12)
    # a larger sample (8 + 7 or 7 + 8: each stratum's first images in the same hash order, so it holds
    # the 12) takes the 12 with views and the 9 unsampled from the cache and computes the 3 new ones
    other_dir, other = _run(tmp_path, folder, "other", stability_max_images=15)
    t = json.loads((other_dir / "run.json").read_text())["timing"]["backbones"][BB]
    assert (t["cached"], t["computed"]) == (21, 3)
    with_views = sorted(r for r, m in _maps(other_dir).items() if "view_gap" in m)
    assert with_views == other["run"]["stability"]["sample"]["rels"] and len(with_views) == 15
    assert set(first["run"]["stability"]["sample"]["rels"]) < set(with_views)
