"""Works anywhere: shipped configs by name, `bbselect config`, `bbselect backbones PATTERN`, and the
Python API's checks (the same schema and errors as the CLI)."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import bbselect
from bbselect.cli import main
from bbselect.config.schema import CompareConfig
from bbselect.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p.name for p in (REPO / "images").iterdir() if p.suffix.lower() in (".png", ".jpg"))


def test_shipped_config_runs_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./images here: the shipped config falls back to the bundled samples
    res = CliRunner().invoke(main, ["run", "detector-512", "--set", "sweep.layer=[c3]", "--set",
                                    "backbones=[mobilenet:alpha=0.25]", "--input-size", "64", "--weights", "none",
                                    "--set", "figures=none", "-q"])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # -q: no progress, no ranking table
    scores = json.loads((tmp_path / "results" / "detector-512" / "c3" / "scores.json").read_text())
    assert sorted(Path(im["rel"]).name for im in scores["images"]) == SAMPLES
    assert scores["run"]["resize"] == "letterbox"  # the shipped file's own setting


def test_unknown_config_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["run", "detector-521"])
    assert res.exit_code == 2
    assert "did you mean 'detector-512'" in res.output and "quick-ci" in res.output


def test_config_prints_every_key_and_writes_a_starter_file(tmp_path):
    res = CliRunner().invoke(main, ["config"])
    assert res.exit_code == 0
    for key in CompareConfig.keys():
        assert f"\n{key}:" in res.output and f"# {key}:" in res.output  # the key and its documented type
    out = tmp_path / "my.yaml"
    assert CliRunner().invoke(main, ["config", "--write", str(out)]).exit_code == 0
    assert out.read_text() == res.output
    again = CliRunner().invoke(main, ["config", "--write", str(out)])
    assert again.exit_code == 2 and "not overwriting" in again.output


def test_backbones_filter_shows_cost_and_weights_cache(tmp_path, monkeypatch):
    import keras

    from bbselect.models import catalog

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(catalog, "keras_models_dir", lambda: models)
    res = CliRunner().invoke(main, ["backbones", "mobilenetv3s*"])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "mobilenetv3small" in line)
    model = keras.applications.MobileNetV3Small(weights=None, include_top=False, input_shape=(224, 224, 3))
    assert f"{model.count_params() / 1e3:.3g} k" in row and "not cached" in row
    assert "mobilenetv3large" not in res.output
    fname = catalog.weights_file("mobilenetv3small")  # the name Keras itself asks for
    assert fname.endswith(".h5") and "small" in fname
    (models / fname).write_bytes(b"x")
    row = next(line for line in CliRunner().invoke(main, ["backbones", "mobilenetv3small"]).output.splitlines()
               if "mobilenetv3small" in line)
    assert "in cache" in row
    bad = CliRunner().invoke(main, ["backbones", "resnet5O"])
    assert bad.exit_code == 2 and "did you mean" in bad.output


def test_api_checks_options_like_the_cli(image_folder):
    with pytest.raises(UsageError, match="did you mean 'layer'"):
        bbselect.compare(image_folder, layr="c4")
    with pytest.raises(UsageError, match="multiple of 32"):
        bbselect.compare(image_folder, backbones=["mobilenet:alpha=0.25"], input_size=33)
    with pytest.raises(UsageError, match="expected a string or a list of strings"):
        bbselect.compare(image_folder, fail_under=3)
    with pytest.raises(UsageError, match="unknown backbone"):
        bbselect.compare(image_folder, backbones=["resnet5O"])
    with pytest.raises(UsageError, match=r"images\[1\]: expected an H×W×3 or H×W array"):
        bbselect.compare([np.zeros((8, 8, 3)), np.zeros(5)])


def test_api_refuses_a_model_with_a_fixed_non_square_input():
    import keras

    inp = keras.Input((32, 48, 3))
    model = keras.Model(inp, keras.layers.Conv2D(4, 3)(inp), name="wide")
    with pytest.raises(UsageError, match=r"takes 32×48 inputs; bbselect feeds square images"):
        bbselect.compare(backbones=[model])
