"""report.html and a sweep's index.html, opened in real headless Chromium at 1280 px.

Checks what a person would notice first: no horizontal scroll, every image shows, the headline is
there, nothing errors. Screenshots of the first screen are kept as test artefacts in
``$BBSELECT_ARTIFACTS`` (default: ``tmp/browser/`` in the repository, which git ignores).
Skips only when Chromium is missing outside CI; in CI (``CI`` set) a missing Chromium fails.
"""

import os
from pathlib import Path

import pytest
from browser import check_page, chromium, screenshot
from click.testing import CliRunner
from conftest import make_images

from bbselect.cli import main

ARTIFACTS = Path(os.environ.get("BBSELECT_ARTIFACTS") or Path(__file__).resolve().parents[2] / "tmp" / "browser")
SMALL = ["--weights", "none", "--input-size", "64", "--batch-size", "2", "-q"]
# Long labels and file names are what used to push the page wider than the window.
BACKBONES = ["-b", "mobilenet:alpha=0.25,layer=c3", "-b", "mobilenet:alpha=0.25,layer=conv_pw_4_relu"]
LONG_NAME = "a_very_long_file_name_from_a_camera_export_" + "x" * 60 + ".png"


@pytest.fixture(scope="module")
def browser():
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must run the browser test (.ci/run installs it)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    imgs = root / "imgs"
    make_images(imgs, n=3)
    (imgs / "img0.png").rename(imgs / LONG_NAME)
    out = root / "r"
    res = CliRunner().invoke(main, ["compare", str(imgs), "-o", str(out), "--name", "run", *BACKBONES,
                                    "--figures", "1", "--cache-dir", str(root / "cache"), *SMALL])
    assert res.exit_code == 0, res.output
    cfg = root / "sweep.yaml"
    cfg.write_text(f"name: sw\nimages: {imgs}\nbackbones: [mobilenet:alpha=0.25]\nfigures: none\n"
                   "sweep:\n  layer: [c3, c4]\n")
    res = CliRunner().invoke(main, ["run", str(cfg), "-o", str(out), "--cache-dir", str(root / "cache"), *SMALL])
    assert res.exit_code == 0, res.output
    return {"report": out / "run" / "report.html", "sweep": out / "sw" / "index.html"}


@pytest.mark.parametrize("which", ["report", "sweep"])
def test_page_in_headless_chromium(browser, pages, which):
    page = pages[which]
    got = check_page(page, width=1280)
    assert got["innerWidth"] == 1280
    assert got["scrollWidth"] <= got["innerWidth"], f"horizontal scroll: {got['scrollWidth']} px wide"
    assert got["images"], "the page shows no figure"
    broken = [i["src"] for i in got["images"] if not i["loaded"]]
    assert not broken, f"images that did not load: {broken}"
    assert all(i["width"] <= 1280 for i in got["images"])
    assert got["headline"] and "RANDOM WEIGHTS" in got["headline"] and "Recommended" in got["headline"]
    assert got["errors"] == []
    shot = screenshot(page, ARTIFACTS / f"{which}-1280.png")
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_probe_sees_overflow_broken_images_and_errors(browser, tmp_path):
    """The checks above can fail: a page that is too wide, with a missing image, is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head></head><body><div style="width:1500px">wide</div>'
                    '<img src="missing.png"></body></html>')
    got = check_page(page, width=1280)
    assert got["scrollWidth"] > 1280
    assert got["images"] == [{"src": "missing.png", "loaded": False, "width": got["images"][0]["width"]}]
    assert any("missing.png" in err for err in got["errors"])
    assert got["headline"] is None


def test_seven_long_labels_do_not_widen_the_page(browser, pages, tmp_path):
    """Seven backbones with long labels (model files, weights files) pushed the per-image table to
    1,564 px at 1280: every table now fits or scrolls inside itself, never the page."""
    import copy
    import json

    from bbselect.reports.html import render_html

    run_dir = pages["report"].parent
    summary = json.loads((run_dir / "scores.json").read_text())
    first = summary["backbones"][0]
    labels = [f"mobilenetv2:alpha=0.35,weights=mobilenetv2_0.35_224_no_top.export_{i}" for i in range(7)]
    summary["backbones"] = [dict(copy.deepcopy(first), label=lb, rank=i + 1) for i, lb in enumerate(labels)]
    for im in summary["images"]:
        per = (im.get("scores") or {}).get(first["label"])
        im["scores"] = {lb: per for lb in labels}
    page = run_dir / "seven.html"
    page.write_text(render_html(summary), encoding="utf-8")
    assert sum(lb[:20] in page.read_text() for lb in labels) == 7  # the wide table is on the page
    got = check_page(page, width=1280)
    assert got["scrollWidth"] <= got["innerWidth"], f"horizontal scroll: {got['scrollWidth']} px wide"
