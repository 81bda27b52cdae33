"""The real ImageNet-pretrained MobileNet v1 (alpha 0.25) from ../shared against the same model with
random weights, end to end through the CLI. Skipped when ../shared is absent.

Run with ``pytest -s -m integration`` to see the side-by-side table of both runs' scores.
"""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bbselect.cli import main

pytestmark = pytest.mark.integration
SEL = "mobilenet:alpha=0.25"


def _compare(photos, out, name, weights, layer):
    args = ["compare", str(photos), "-b", SEL, "--weights", str(weights), "--layer", layer,
            "-o", str(out), "--name", name, "--figures", "none", "-q", "--batch-size", "16"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads((out / name / "scores.json").read_text())["backbones"][0]


def _fmt(x):
    return "  n/a" if x is None else f"{x:5.3f}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from conftest import MOBILENET_FILE, SHARED

    photos = SHARED / "data" / "photos"
    if not (photos.is_dir() and MOBILENET_FILE.is_file()):
        pytest.skip("../shared photos or pretrained MobileNet not present")
    out = tmp_path_factory.mktemp("integration")
    result = {}
    for layer in ("c5", "c3"):
        result[layer] = {
            "real": _compare(photos, out, f"real-{layer}", MOBILENET_FILE, layer),
            "random": _compare(photos, out, f"random-{layer}", "none", layer),
        }
    # the table the closing note quotes
    print(f"\n{'layer':5s} {'weights':7s} {'score':14s} {'max map':>8s} {'mean map':>8s}")
    for layer, pair in result.items():
        for kind, b in pair.items():
            for score in ("otsu", "top10_mass", "concentration"):
                print(f"{layer:5s} {kind:7s} {score:14s} {_fmt(b['scores']['max'][score]['mean']):>8s} "
                      f"{_fmt(b['scores']['mean'][score]['mean']):>8s}")
            st = b["channels_stats"]
            print(f"{layer:5s} {kind:7s} separation={_fmt(b['separation']['mean'])} degenerate={b['degenerate']} "
                  f"dead={st['dead_fraction']:.2f} effective_rank={_fmt(st['effective_rank'])}")
    return result


def test_real_weights_are_identified_and_used(runs):
    real = runs["c5"]["real"]
    assert real["weights"]["kind"] == "file"
    assert real["weights"]["md5"] == "f313cee49f5d33dfb06f2b255c4adb64"  # ../shared/README.md
    assert runs["c5"]["random"]["weights"]["kind"] == "none"


def test_pretrained_features_are_richer_than_random(runs):
    """Pretrained channels are many and alive; random-init ones collapse to a few directions.

    This is the one label-free statistic expected to separate them for an independent reason
    (random-init deep nets are known to collapse the rank of their representations)."""
    for pair in runs.values():
        real, rand = pair["real"]["channels_stats"], pair["random"]["channels_stats"]
        assert real["effective_rank"] is not None and real["effective_rank"] > 3
        assert rand["effective_rank"] is None or real["effective_rank"] > 2 * rand["effective_rank"]
        # random-init activations are tiny (~1e-17 at c5), not dead: the scale-free test (issue 13)
        # no longer calls them dead, where an absolute floor of 1e-6 called c5 100% dead
        assert rand["dead_fraction"] < 0.5


def test_degenerate_maps_are_reported_not_scored_zero(runs):
    for pair in runs.values():
        for b in pair.values():
            for agg, count in b["degenerate"].items():
                n = b["scores"][agg]["otsu"]["n"]
                assert n + count == 48  # every photo is either scored or counted as degenerate
                if count == 48:
                    assert b["scores"][agg]["otsu"]["mean"] is None


def test_imagenet_weights_load_from_keras_home(tmp_path, image_folder):
    """`--weights imagenet` finds the official file name in $KERAS_HOME/models, offline."""
    from conftest import MOBILENET_FILE

    if not MOBILENET_FILE.is_file():
        pytest.skip("pretrained MobileNet not present")
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    (home / "models" / MOBILENET_FILE.name).symlink_to(MOBILENET_FILE)
    env = dict(os.environ, KERAS_HOME=str(home))
    out = tmp_path / "o"
    proc = subprocess.run(
        [sys.executable, "-m", "bbselect", "compare", str(image_folder), "-b", SEL, "-o", str(out),
         "--name", "kh", "-q", "--figures", "none"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    w = json.loads((out / "kh" / "run.json").read_text())["backbones"][0]["weights"]
    assert w["kind"] == "imagenet" and w["md5"] == "f313cee49f5d33dfb06f2b255c4adb64"
    assert w["source"].startswith(str(home))
