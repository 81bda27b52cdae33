"""The real pretrained zoo in ../shared/weights/zoo (issue 21): every network of zoo.json through the CLI,
the model files with safe mode, nested and dynamic-input models against their flat fixed-size twins,
per-backbone weights. Skips cleanly without ../shared. Two photos at 224, no figures, no stability."""

import hashlib
import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import bbselect
from bbselect.cli import main
from bbselect.models import modelfile, registry, stages
from bbselect.models.runtime import keras
from bbselect.store import mapfiles
from bbselect.store.rundir import safe_name

FAST = ["--input-size", "224", "--batch-size", "2", "--figures", "none", "--stability", "off", "-q"]


@pytest.fixture
def zoo(shared):
    folder = shared / "weights" / "zoo"
    if not (folder / "zoo.json").is_file():
        pytest.skip(f"{folder / 'zoo.json'} not present")
    return folder


@pytest.fixture
def photos(shared, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((shared / "data" / "photos").glob("*.jpg"))[:2]:
        shutil.copy(p, folder / p.name)
    return folder


def selection_of(entry: dict, zoo) -> str:
    """The -b selection for a zoo.json entry, read from its ``load`` line (a keras.applications call
    with its options, or keras.saving.load_model of a model file)."""
    path = (zoo / entry["file"]).resolve()
    if entry["load"].startswith("keras.saving.load_model"):
        return f"{path}:name={entry['name']}"
    ctor, args = re.match(r"keras\.applications\.(\w+)\((.*)\)", entry["load"]).groups()
    name = next(n for n, s in registry.REGISTRY.items() if s.constructor == ctor)
    alpha = re.search(r"alpha=([\d.]+)", args)
    opts = [f"alpha={alpha.group(1)}"] if alpha else []
    return f"{name}:" + ",".join([*opts, f"weights={path}", f"name={entry['name']}"])


def maps_of(run_dir, label):
    return [mapfiles.load_maps(p) for p in sorted((run_dir / "maps" / safe_name(label)).glob("*.npz"))]


def assert_same_maps(want: list[dict], got: list[dict]) -> None:
    """The two runs' maps of the sample's two images agree (max, mean, sum, pooled), up to float noise."""
    assert len(want) == len(got) == 2
    for w, g in zip(want, got):
        for key in ("max", "mean", "sum", "gap"):
            np.testing.assert_allclose(g[key], w[key], rtol=1e-5, atol=1e-5)


def test_every_zoo_network_runs_through_compare_with_finite_maps_and_scores(zoo, photos, tmp_path):
    entries = json.loads((zoo / "zoo.json").read_text())["networks"]
    args = ["compare", str(photos), "-o", str(tmp_path / "res"), "--format", "json", *FAST]
    for e in entries:
        args += ["-b", selection_of(e, zoo)]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    rows = {r["label"]: r for r in summary["ranking"]}
    assert set(rows) == {e["name"] for e in entries}
    run_dir = tmp_path / "res" / "photos"
    for e in entries:
        row = rows[e["name"]]
        assert np.isfinite(row["separation"]["mean"]) and np.isfinite(row["effective_rank"]), row
        maps = maps_of(run_dir, e["name"])
        assert len(maps) == 2
        for m in maps:
            for key in ("max", "mean", "sum", "gap"):
                assert np.isfinite(m[key]).all() and m[key].size > 0, (e["name"], key)
    meta = {b["label"]: b for b in json.loads((run_dir / "run.json").read_text())["backbones"]}
    for e in entries:  # each file is the one zoo.json names: its sha256 in the run's record
        w = meta[e["name"]]["weights"]
        assert w.get("sha256") == e["sha256"] or w.get("md5") == hashlib.md5((zoo / e["file"]).read_bytes()).hexdigest()
    # SqueezeNet 1.1 has no stride-32 layer: c5 is its deepest stage, fire9_concat (zoo.json's ~c4)
    squeeze = meta["squeezenet_v1_1"]
    assert (squeeze["layer"], squeeze["stage"], squeeze["stride"]) == ("fire9_concat", "c4", 16)
    assert squeeze["layer_note"] and squeeze["preprocess"] == "raw"


@pytest.mark.parametrize("name", ["efficientnet_lite0", "squeezenet_v1_1"])
def test_zoo_model_files_load_with_safe_mode_and_have_the_documented_stages(zoo, monkeypatch, name):
    entry = next(e for e in json.loads((zoo / "zoo.json").read_text())["networks"] if e["name"] == name)
    k = keras()
    seen = []
    original = k.saving.load_model

    def spy(*args, **kwargs):
        seen.append(kwargs.get("safe_mode"))
        return original(*args, **kwargs)

    monkeypatch.setattr(k.saving, "load_model", spy)
    model = modelfile.load(zoo / entry["file"])
    assert seen == [True] and tuple(model.inputs[0].shape)[1:] == (None, None, 3)
    graph = stages.trace(model, 224)
    stride = {t.name: t.stride for t in graph.taps}
    documented = {re.match(r"~?(c\d)", k).group(1): v.split()[0] for k, v in entry["stages"].items()}
    for stage, layer in documented.items():  # zoo.json's layers sit at their stage's stride
        assert stride[layer] == registry.STAGES[stage], (stage, layer, stride[layer])
    deepest = stages.resolve_layer(graph, "c5")  # and c5 is the deepest layer zoo.json names
    assert deepest.name == documented[max(documented)]


def _images():
    return [np.random.default_rng(i).integers(0, 255, (150, 200, 3), dtype=np.uint8) for i in range(2)]


def test_nested_model_gives_the_flat_backbones_maps(zoo, tmp_path):
    """The Keras transfer-learning pattern, inputs -> Rescaling -> base_model(x), against the registry's
    flat MobileNetV2 with the same weights file and its family's preprocessing (x / 127.5 - 1)."""
    k = keras()
    wfile = zoo / "mobilenetv2_1.0_224_no_top.coral-dequantized.weights.h5"
    base = k.applications.MobileNetV2(weights=str(wfile), include_top=False, input_shape=(None, None, 3))
    inp = k.Input((None, None, 3))
    x = k.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    nested = k.Model(inp, k.layers.GlobalAveragePooling2D()(base(x, training=False)), name="transfer")
    common = dict(output=str(tmp_path), figures="none", stability="off", input_size=224, layer="c4")
    flat = bbselect.compare(_images(), backbones=[f"mobilenetv2:weights={wfile},name=flat"], name="flat", **common)
    nest = bbselect.compare(_images(), backbones=[nested], name="nested", **common)
    assert_same_maps(maps_of(flat.run_dir, "flat"), maps_of(nest.run_dir, "transfer"))
    meta = json.loads((nest.run_dir / "run.json").read_text())["backbones"][0]
    assert meta["layer"].endswith("/block_13_expand_relu") and meta["stage"] == "c4"


def test_dynamic_input_model_gives_its_fixed_size_twins_maps(zoo, tmp_path):
    k = keras()
    dynamic = modelfile.load(zoo / "efficientnet_lite0_imagenet_no_top.keras")
    fixed = k.models.clone_model(dynamic, input_tensors=k.Input((224, 224, 3)))
    fixed.set_weights(dynamic.get_weights())
    common = dict(output=str(tmp_path), figures="none", stability="off", input_size=224)
    r_dyn = bbselect.compare(_images(), backbones=[dynamic], name="dyn", **common)
    r_fix = bbselect.compare(_images(), backbones=[fixed], name="fixed", **common)
    assert_same_maps(maps_of(r_fix.run_dir, "efficientnet_lite0"), maps_of(r_dyn.run_dir, "efficientnet_lite0"))


def test_per_backbone_weights_reach_the_right_mobilenetv2(zoo, photos, tmp_path):
    """Two MobileNetV2 α 1.0 entries: the zoo's weights and a random-init file. Each one's maps are its
    own weights' (a direct Keras forward pass), and they differ."""
    k = keras()
    coral = zoo / "mobilenetv2_1.0_224_no_top.coral-dequantized.weights.h5"
    k.utils.set_random_seed(0)
    other = tmp_path / "random_init.weights.h5"
    k.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3)).save_weights(other)
    out = tmp_path / "res"
    res = CliRunner().invoke(main, ["compare", str(photos), "-o", str(out), "-b", f"mobilenetv2:weights={coral},name=coral",
                                    "-b", f"mobilenetv2:weights={other},name=other", *FAST], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    run_dir = out / "photos"
    a, b = maps_of(run_dir, "coral"), maps_of(run_dir, "other")
    assert not np.allclose(a[0]["gap"], b[0]["gap"], rtol=1e-2, atol=1e-2 * np.abs(a[0]["gap"]).max())
    from bbselect.inputs import decode as dec
    from bbselect.inputs import images

    ref = images.discover_images(photos)[0][0]  # the image of the first maps file (files are named by id)
    assert (run_dir / "maps" / "coral" / f"{ref.id}.npz") == sorted((run_dir / "maps" / "coral").glob("*.npz"))[0]
    x = dec.decode_input(ref, 224, "stretch", 10**8)[0][None].astype(np.float32)
    model = k.applications.MobileNetV2(weights=str(coral), include_top=False, input_shape=(224, 224, 3))
    want = np.asarray(model(k.applications.mobilenet_v2.preprocess_input(x), training=False)).mean(axis=(1, 2))[0]
    np.testing.assert_allclose(a[0]["gap"], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
