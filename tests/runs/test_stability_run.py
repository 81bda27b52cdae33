"""Neighbourhood stability inside a real run: views in the same pass, saved beside the maps, cached,
independent of batching, and switched by --stability (a tiny random-init MobileNet, offline)."""

from __future__ import annotations

import json

import numpy as np
from conftest import make_images

from bbselect.config.schema import CompareConfig
from bbselect.runs.pipeline import compare
from bbselect.scoring import validated

BB = "mobilenet:alpha=0.25,layer=c3"


def _run(tmp_path, images, name, **kw):
    kw.setdefault("figures", "none")
    cfg = CompareConfig(images=str(images), backbones=[BB], weights="none", input_size=32,
                        output=str(tmp_path / "out"), name=name, stability_k=3, **kw)
    out = compare(cfg, quiet=True)
    summary = json.loads((out.run_dir / "scores.json").read_text())
    maps = sorted((out.run_dir / "maps").glob("*/*.npz"))
    return out.run_dir, summary, {p.name: dict(np.load(p)) for p in maps}


def test_views_in_the_pass_saved_cached_and_batch_independent(tmp_path, monkeypatch):
    # rank by stability whatever the committed study says (tests/scoring/test_validated.py covers the switch)
    monkeypatch.setattr(validated, "load", lambda: {"labels": {"scores": {"stability": {
        "supported": True, "tau_nonrandom": {"trashnet": 0.7}}}}})
    images = tmp_path / "imgs"
    make_images(images, n=10, size=(48, 40))
    run_dir, s, maps = _run(tmp_path, images, "a", batch_size=4, stability_views=2, figures="1")
    b = s["backbones"][0]
    assert all(m["view_gap"].shape == (2, m["gap"].shape[0]) for m in maps.values())
    st = b["stability"]
    assert st["n"] == 10 and st["k"] == 3 and st["m"] == 2 and st["reason"] is None
    assert s["evidence"]["metric"] == "neighbourhood stability"  # no labels, no boxes: auto = on
    assert "How sure" in s["verdict"]
    assert s["figures"]["stability"] == "figures/stability.png" and (run_dir / "figures/stability.png").stat().st_size
    assert "figures/stability.png" in (run_dir / "report.html").read_text()
    cfg = (run_dir / "config.yaml").read_text()
    assert "stability: auto" in cfg and "stability_views: 2" in cfg
    # other batch size, cache on (second run reads the cache): the same views, the same score
    _, s2, maps2 = _run(tmp_path, images, "b", batch_size=3, stability_views=2)
    for k, m in maps.items():
        np.testing.assert_allclose(maps2[k]["view_gap"], m["view_gap"], rtol=1e-5, atol=1e-6)
    assert s2["backbones"][0]["stability"]["mean"] == st["mean"] or abs(
        s2["backbones"][0]["stability"]["mean"] - st["mean"]) < 1e-9
    # another seed makes other views
    _, _, maps3 = _run(tmp_path, images, "c", stability_views=2, stability_seed=1)
    assert any(not np.allclose(maps3[k]["view_gap"], m["view_gap"]) for k, m in maps.items())


def test_stability_off_and_auto_with_labels(tmp_path):
    images = tmp_path / "imgs"
    make_images(images, n=4, size=(48, 40))
    _, s, maps = _run(tmp_path, images, "off", stability="off")
    assert all("view_gap" not in m for m in maps.values()) and "stability" not in s["backbones"][0]
    assert s["evidence"]["metric"] == "separation"
    classes = tmp_path / "classes"
    for c in ("a", "b"):
        make_images(classes / c, n=3, size=(48, 40))
    _, s, maps = _run(tmp_path, classes, "labelled")  # auto with class folders: off
    assert all("view_gap" not in m for m in maps.values())
    assert s["run"]["stability"]["on"] is False and "labels" in s["run"]["stability"]["why"]


def test_too_few_images_says_why(tmp_path):
    images = tmp_path / "imgs"
    make_images(images, n=6, size=(48, 40))
    _, s, _ = _run(tmp_path, images, "few", stability="on")
    st = s["backbones"][0]["stability"]
    assert st["mean"] is None and "fewer than 3 × k = 9" in st["reason"]
    assert s["evidence"]["metric"] == "separation"  # stability undefined: the ranking falls back
    assert "stability is not defined here: 6 images is fewer than" in s["verdict"]


def test_auto_makes_no_views_when_the_folder_is_too_small_and_says_why(tmp_path):
    """Too few images for the score (6 < 3 × k = 9): ``auto`` spends no second forward pass on views, and
    the run still says why stability is missing, as a run with views would (issue 25: small runs)."""
    images = tmp_path / "imgs"
    make_images(images, n=6, size=(48, 40))
    _, s, maps = _run(tmp_path, images, "small")  # stability: auto
    assert maps and all("view_gap" not in m for m in maps.values())
    assert s["run"]["stability"]["on"] is False and "fewer than 3 × k = 9" in s["run"]["stability"]["why"]
    st = s["backbones"][0]["stability"]
    assert st["mean"] is None and "6 images is fewer than 3 × k = 9" in st["reason"]
    assert "stability is not defined here: 6 images is fewer than" in s["verdict"]
    # with enough images, auto makes them
    make_images(tmp_path / "more", n=9, size=(48, 40))
    _, s9, maps9 = _run(tmp_path, tmp_path / "more", "enough")
    assert s9["run"]["stability"]["on"] is True and all("view_gap" in m for m in maps9.values())
