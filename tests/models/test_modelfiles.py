"""Any backbone in (issue 21), offline: model files, per-backbone keys, nested and dynamic-input models.

Small models are built in the tests; nothing is downloaded. The real zoo is tests/end_to_end/test_zoo.py."""

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

import bbselect
from bbselect.cli import main
from bbselect.errors import UsageError
from bbselect.models import preprocess as pp
from bbselect.models import registry, stages
from bbselect.models.runtime import keras
from bbselect.models.selection import parse_selection
from bbselect.store import mapfiles
from bbselect.store.rundir import safe_name

FAST = ["--input-size", "64", "--batch-size", "2", "--figures", "none", "--stability", "off", "-q"]


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def conv_net(inp, n=5, name="net", padding="same", prefix=""):
    """n stride-2 convolutions: strides 2 .. 2**n."""
    k = keras()
    x = inp
    for i in range(n):
        x = k.layers.Conv2D(4 + i, 3, strides=2, padding=padding, activation="relu", name=f"{prefix}conv{i}")(x)
    return x


def small_model(size=64, name="small", n=5, padding="same"):
    k = keras()
    k.utils.set_random_seed(3)
    inp = k.Input((size, size, 3))
    return k.Model(inp, conv_net(inp, n, padding=padding), name=name)


def maps_of(run_dir, label):
    """{image file name: maps} of one backbone in a run folder."""
    rel = {im["id"]: im["rel"] for im in json.loads((run_dir / "run.json").read_text())["images"]}
    folder = run_dir / "maps" / safe_name(label)
    return {rel[p.stem].split(".")[0]: mapfiles.load_maps(p) for p in sorted(folder.glob("*.npz"))}


def run_json(out):
    return json.loads(next(out.rglob("run.json")).read_text())


# ---------------------------------------------------------------- model files on the CLI

@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_file_runs_in_compare_with_its_stem_as_label(tmp_path, image_folder, suffix):
    path = tmp_path / f"my_net{suffix}"
    small_model(size=None or 64).save(path)
    out = tmp_path / "res"
    res = run(["compare", str(image_folder), "-b", str(path), "-b", "mobilenet:alpha=0.25", "--weights", "none",
               "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    meta = {b["label"]: b for b in run_json(out)["backbones"]}
    assert set(meta) == {"my_net", "mobilenet:alpha=0.25"}
    w = meta["my_net"]["weights"]
    assert w["kind"] == "model-file" and w["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["my_net"]["preprocess"] == "raw" and meta["my_net"]["stage"] == "c5"
    assert meta["my_net"]["layer"] == "conv4" and meta["my_net"]["stride"] == 32
    md = next(out.rglob("report.md")).read_text()
    assert "preprocessing" in md and "my\\_net: raw" in md


def test_model_file_options_name_layer_preprocess(tmp_path, image_folder):
    path = tmp_path / "net.keras"
    small_model().save(path)
    out = tmp_path / "res"
    res = run(["compare", str(image_folder), "-b", f"{path}:name=mine,layer=c3,preprocess=tf",
               "-b", f"{path}:layer=conv1", "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    meta = {b["label"]: b for b in run_json(out)["backbones"]}
    assert set(meta) == {"mine", "net:layer=conv1"}
    assert (meta["mine"]["layer"], meta["mine"]["stage"], meta["mine"]["preprocess"]) == ("conv2", "c3", "tf")
    assert (meta["net:layer=conv1"]["layer"], meta["net:layer=conv1"]["stage"]) == ("conv1", "c2")


def test_model_file_in_a_yaml_config(tmp_path, image_folder):
    path = tmp_path / "net.keras"
    small_model().save(path)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"images: {image_folder}\nbackbones:\n  - {path}:name=yamlnet,layer=c4\n"
                   f"input_size: 64\nfigures: none\nstability: 'off'\noutput: {tmp_path / 'res'}\n")
    res = run(["run", str(cfg), "-q"])
    assert res.exit_code == 0, res.output
    meta = run_json(tmp_path / "res")["backbones"]
    assert [(m["label"], m["stage"]) for m in meta] == [("yamlnet", "c4")]


def test_model_file_through_the_api_as_path_or_selection(tmp_path):
    path = tmp_path / "apinet.keras"
    small_model(None).save(path)  # dynamic input: fed input_size
    images = [np.random.default_rng(i).integers(0, 255, (40, 50, 3), dtype=np.uint8) for i in range(2)]
    r = bbselect.compare(images, backbones=[path, f"{path}:name=second,layer=c3,top1=50"], input_size=64,
                         output=str(tmp_path / "res"), figures="none", stability="off")
    meta = {m["label"]: m for m in json.loads((r.run_dir / "run.json").read_text())["backbones"]}
    assert (meta["apinet"]["stage"], meta["second"]["stage"], meta["second"]["top1"]["value"]) == ("c5", "c3", 50.0)
    assert meta["apinet"]["map_shape"] == [2, 2]  # 64 / 32


def test_unsafe_model_file_is_refused_naming_the_layer_and_never_runs(tmp_path, image_folder):
    k = keras()
    sentinel = tmp_path / "ran.txt"
    inp = k.Input((64, 64, 3))
    where = str(sentinel)
    x = k.layers.Lambda(lambda t: (open(where, "w").close(), t)[1], name="times_code")(inp)
    model = k.Model(inp, conv_net(x), name="unsafe")
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"unsafe{suffix}"
        model.save(path)
        sentinel.unlink(missing_ok=True)  # building the model above called the lambda once
        res = run(["compare", str(image_folder), "-b", str(path), "-o", str(tmp_path / "res"), *FAST])
        assert res.exit_code == 2, res.output
        assert "times_code" in res.output and "safe_mode" in res.output
        assert not sentinel.exists()
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())


def test_unknown_layer_class_weights_only_file_and_missing_file(tmp_path, image_folder):
    k = keras()

    class Shift(k.layers.Layer):  # not registered: Keras cannot rebuild it without this code
        def call(self, x):
            return x + 1.0

    inp = k.Input((64, 64, 3))
    custom = tmp_path / "custom.keras"
    k.Model(inp, conv_net(Shift(name="my_shift")(inp))).save(custom)
    res = run(["compare", str(image_folder), "-b", str(custom), *FAST])
    assert res.exit_code == 2 and "my_shift" in res.output and "Shift" in res.output, res.output
    wfile = tmp_path / "net.weights.h5"
    small_model().save_weights(wfile)
    res = run(["compare", str(image_folder), "-b", str(wfile), *FAST])
    assert res.exit_code == 2 and "weights only" in res.output and "weights=" in res.output, res.output
    res = run(["compare", str(image_folder), "-b", str(tmp_path / "absent.keras"), *FAST])
    assert res.exit_code == 2 and "absent.keras" in res.output and "no such file" in res.output


# ---------------------------------------------------------------- per-backbone weights

def _weights_file(tmp_path, name, seed, alpha=0.25):
    k = keras()
    k.utils.set_random_seed(seed)
    model = k.applications.MobileNet(weights=None, include_top=False, input_shape=(64, 64, 3), alpha=alpha)
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)
    return path, model


def test_per_backbone_weights_reach_their_backbone_and_key_the_cache(tmp_path, image_folder):
    a, model_a = _weights_file(tmp_path, "a", 1)
    b, _ = _weights_file(tmp_path, "b", 2)
    out = tmp_path / "res"
    res = run(["compare", str(image_folder), "-b", f"mobilenet:alpha=0.25,weights={a}",
               "-b", f"mobilenet:alpha=0.25,weights={b},name=bee", "--weights", "none", "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    run_dir = next(out.iterdir())
    ma, mb = maps_of(run_dir, "mobilenet:alpha=0.25,weights=a"), maps_of(run_dir, "bee")
    scale = np.abs(ma["img0"]["gap"]).max()  # random MobileNet features are tiny (~1e-16): compare relative
    assert scale > 0 and not np.allclose(ma["img0"]["gap"], mb["img0"]["gap"], rtol=1e-2, atol=1e-2 * scale)
    # a's maps are those of the network holding a's weights (a direct forward pass, stride-32 layer)
    from bbselect.inputs import decode as dec

    x = dec.fit_to_input(dec.load_image(image_folder / "img0.png"), 64, "stretch")[0][None].astype(np.float32)
    feats = np.asarray(model_a(registry.get_spec("mobilenet").preprocess(x), training=False))
    np.testing.assert_allclose(ma["img0"]["gap"], feats.mean(axis=(1, 2))[0], rtol=1e-4, atol=1e-4 * scale)
    meta = {m["label"]: m for m in run_json(out)["backbones"]}
    assert meta["bee"]["weights"]["sha256"] == hashlib.sha256(b.read_bytes()).hexdigest()
    # same path, other bytes: the cache must not give a's old maps back
    a.write_bytes(b.read_bytes())
    res = run(["compare", str(image_folder), "-b", f"mobilenet:alpha=0.25,weights={a}", "-o", str(out),
               "--name", "again", *FAST])
    assert res.exit_code == 0, res.output
    again = maps_of(out / "again", "mobilenet:alpha=0.25,weights=a")
    np.testing.assert_allclose(again["img0"]["gap"], mb["img0"]["gap"], rtol=1e-5, atol=1e-5 * scale)


def test_per_backbone_weights_that_do_not_fit_name_both(tmp_path, image_folder):
    a, _ = _weights_file(tmp_path, "v1file", 1)
    res = run(["compare", str(image_folder), "-b", f"mobilenetv2:weights={a}", *FAST])
    assert res.exit_code == 4, res.output
    assert "v1file.weights.h5" in res.output and "mobilenetv2" in res.output and "does not fit" in res.output


# ---------------------------------------------------------------- selection syntax

def test_selection_keys_parse_and_validate(tmp_path):
    path = tmp_path / "net.keras"
    path.write_bytes(b"not read at parse time")
    sel = parse_selection(f"{path}:name=n1,layer=c4,preprocess=caffe,top1=75.1")
    assert (sel.label, sel.layer, sel.preprocess, sel.top1, sel.spec.path) == ("n1", "c4", "caffe", 75.1, str(path))
    assert parse_selection(f"{path}:preprocess=raw").preprocess is None  # a file's default
    assert parse_selection("resnet50:preprocess=resnet101").preprocess is None  # the same preprocess_input
    assert parse_selection("vgg16:preprocess=torch").label == "vgg16:preprocess=torch"
    assert parse_selection("resnet50").top1 is None
    assert parse_selection("resnet50:top1=76").label == "resnet50"  # top1 is not part of the label ...
    # ... nor of what changes maps (the cache key's options)
    assert parse_selection("resnet50:top1=76").key_options() == parse_selection("resnet50").key_options()
    for bad, match in [("resnet50:top1=101", "0 to 100"), ("resnet50:top1=nan", "0 to 100"),
                       ("resnet50:top1=x", "0 to 100"), ("resnet50:preprocess=tff", "did you mean 'tf'"),
                       (f"{path}:alpha=0.5", "a model file has no option 'alpha'"),
                       (f"{path}:weights={path}", "a model file has no option 'weights'"),
                       ("resnet50:weights=imagenet", "--weights"), ("resnet50:name=", "1 to 80")]:
        with pytest.raises(UsageError, match=match):
            parse_selection(bad)


def test_labels_that_share_a_folder_are_refused(tmp_path, image_folder):
    res = run(["compare", str(image_folder), "-b", "mobilenet:alpha=0.25,name=a b", "-b", "mobilenet:name=a/b",
               *FAST])
    assert res.exit_code == 2 and "share a folder name" in res.output, res.output


def test_generic_preprocessings_equal_the_keras_families_that_use_them():
    k = keras()
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    apps = k.applications
    np.testing.assert_allclose(pp.apply("tf", x), apps.mobilenet_v2.preprocess_input(x.copy()), rtol=1e-6)
    np.testing.assert_allclose(pp.apply("caffe", x), apps.vgg16.preprocess_input(x.copy()), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(pp.apply("torch", x), apps.densenet.preprocess_input(x.copy()), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(pp.apply("raw", x), x)


# ---------------------------------------------------------------- any functional model (API)

def test_nested_and_dynamic_models_give_the_flat_fixed_models_maps(tmp_path):
    k = keras()
    flat = small_model(64, "flat")
    base_inp = k.Input((None, None, 3))
    base = k.Model(base_inp, conv_net(base_inp, prefix="b_"), name="base")
    base.set_weights(flat.get_weights())
    inp = k.Input((None, None, 3))
    x = k.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inp)
    nested = k.Model(inp, k.layers.GlobalAveragePooling2D()(base(x, training=False)), name="nested")
    images = [np.random.default_rng(i).integers(0, 255, (50, 70, 3), dtype=np.uint8) for i in range(3)]
    common = dict(output=str(tmp_path), figures="none", stability="off", input_size=64, layer="c4")
    r_flat = bbselect.compare(images, backbones=[flat], preprocess="tf", name="flat", **common)
    r_nest = bbselect.compare(images, backbones=[nested], name="nested", **common)
    r_dyn = bbselect.compare(images, backbones=[base], preprocess="tf", name="dyn", **common)
    want = maps_of(r_flat.run_dir, "flat")
    for run_dir, label, layer in [(r_nest.run_dir, "nested", "base/b_conv3"), (r_dyn.run_dir, "base", "b_conv3")]:
        got = maps_of(run_dir, label)
        assert set(got) == set(want) and len(got) == 3
        for image_id in want:
            for key in ("max", "mean", "sum", "gap"):
                np.testing.assert_allclose(got[image_id][key], want[image_id][key], rtol=1e-5, atol=1e-5)
        meta = json.loads((run_dir / "run.json").read_text())["backbones"][0]
        assert (meta["layer"], meta["stage"]) == (layer, "c4")


def test_layers_inside_a_nested_model_are_tapped_by_path_or_own_name():
    k = keras()
    base_inp = k.Input((None, None, 3))
    base = k.Model(base_inp, conv_net(base_inp, prefix="b_"), name="base")
    inp = k.Input((None, None, 3))
    model = k.Model(inp, base(k.layers.Rescaling(1.0)(inp)))
    graph = stages.trace(model, 64)
    assert stages.find_stages(graph) == {"c2": "base/b_conv1", "c3": "base/b_conv2", "c4": "base/b_conv3",
                                        "c5": "base/b_conv4"}
    assert stages.resolve_layer(graph, "b_conv2")[:3] == ("base/b_conv2", "c3", 8)
    seq = k.Sequential([k.Input((64, 64, 3)), k.layers.Rescaling(1.0), base], name="seq")
    assert stages.resolve_layer(seq, "c5").name == "base/b_conv4"


def test_c5_falls_back_to_the_deepest_stage_of_a_shallower_network(tmp_path, image_folder):
    model = small_model(None, "shallow", n=4, padding="valid")  # deepest stride 16, 'valid' padding
    graph = stages.trace(model, 224)
    # 224 -> 111 -> 55 -> 27 -> 13: strides 2, 4, 8, 16 rounded in log2 (224 / 13 = 17.2 -> 16)
    assert [t.stride for t in graph.taps] == [2, 4, 8, 16]
    choice = stages.resolve_layer(graph, "c5")
    assert (choice.name, choice.stage, choice.stride) == ("conv3", "c4", 16) and "stride 16" in choice.note
    # 96 -> 47 -> 23 -> 11 -> 5 -> 2: strides 2, 4, 8, 16, 64: deeper than 32, so c5 is no fallback
    with pytest.raises(UsageError, match="no layer at stride 32"):
        stages.resolve_layer(stages.trace(small_model(None, n=5, padding="valid"), 96), "c5")
    with pytest.raises(UsageError, match="cannot run at input size 64"):
        stages.trace(small_model(None, n=6, padding="valid"), 64)
    path = tmp_path / "shallow.keras"
    model.save(path)
    out = tmp_path / "res"
    args = ["compare", str(image_folder), "-b", str(path), "-o", str(out), "--input-size", "224", "--figures",
            "none", "--stability", "off", "-q"]
    assert run(args).exit_code == 0
    md = next(out.rglob("report.md")).read_text()
    assert "conv3 (c4, stride 16: no stride-32 layer)" in md.replace("\\_", "_")
    listing = run(["layers", str(path), "--input-size", "224"])
    assert listing.exit_code == 0 and "default layer: c5 = conv3 (no stride-32 layer" in listing.output


def test_models_that_are_not_one_rgb_image_in_are_clear_errors():
    k = keras()
    a, b = k.Input((32, 32, 3)), k.Input((32, 32, 3))
    two = k.Model([a, b], k.layers.Add()([conv_net(a, 1, prefix="a"), conv_net(b, 1, prefix="b")]))
    with pytest.raises(UsageError, match="has 2 inputs"):
        bbselect.compare(backbones=[two])
    vec = k.Input((10,))
    with pytest.raises(UsageError, match=r"one image input of shape \(H, W, 3\)"):
        bbselect.compare(backbones=[k.Model(vec, k.layers.Dense(3)(vec))])
    gray = k.Input((32, 32, 1))
    with pytest.raises(UsageError, match=r"one image input"):
        bbselect.compare(backbones=[k.Model(gray, conv_net(gray, 1))])


def test_a_model_named_with_scope_breaking_characters_runs_to_the_end(tmp_path):
    """Issue 20 item 16: a space, <, " or ( in the model's name raised a raw TensorFlow error mid-run
    and left an incomplete run folder."""
    model = small_model(64, 'my "model" <v2> (best)')
    images = [np.random.default_rng(i).integers(0, 255, (40, 40, 3), dtype=np.uint8) for i in range(3)]
    r = bbselect.compare(images, backbones=[model], output=str(tmp_path), figures="none", stability="off")
    assert (r.run_dir / "report.html").is_file() and (r.run_dir / "scores.json").is_file()
    assert r.ranking[0]["backbone"] == "my_model_v2_best"


def test_api_preprocessing_keys_the_cache_and_is_named_in_the_report(tmp_path):
    """The same model prepared otherwise gives other maps: a second run with another ``preprocess=`` must
    not get the first run's maps from the cache, and the report names what was used (not "your function")."""
    model = small_model(64, "prep")
    images = [np.random.default_rng(i).integers(0, 255, (40, 40, 3), dtype=np.uint8) for i in range(3)]
    common = dict(backbones=[model], output=str(tmp_path), figures="none", stability="off")

    def half(batch):
        return batch / 2.0

    first = bbselect.compare(images, preprocess="raw", name="raw", **common)
    second = bbselect.compare(images, preprocess=half, name="half", **common)
    third = bbselect.compare(images, preprocess="tf", name="tf", **common)
    again = bbselect.compare(images, preprocess="tf", name="again", **common)

    def facts(r):
        meta = json.loads((r.run_dir / "run.json").read_text())
        (b,) = meta["backbones"]
        (t,) = meta["timing"]["backbones"].values()
        return b["preprocess"], t["computed"], t["cached"]

    assert facts(first) == ("raw", 3, 0)
    assert facts(second)[1:] == (3, 0) and "half" in facts(second)[0]
    assert facts(third) == ("tf", 3, 0)
    assert facts(again) == ("tf", 0, 3)  # same model, same preparation: served from the cache
    m_raw, m_half = maps_of(first.run_dir, "prep"), maps_of(second.run_dir, "prep")
    name = sorted(m_raw)[0]
    assert not np.allclose(m_raw[name]["gap"], m_half[name]["gap"])


def test_random_weights_are_flagged_per_backbone_not_by_the_global_setting(tmp_path, image_folder):
    """``--weights none`` with one backbone bringing its own weights file: the run is not "random
    weights" as a whole; only the backbone that really ran random is flagged."""
    a, _ = _weights_file(tmp_path, "a", 1)
    out = tmp_path / "res"
    res = run(["compare", str(image_folder), "-b", f"mobilenet:alpha=0.25,weights={a},name=own",
               "-b", "mobilenet:alpha=0.25,name=rnd", "--weights", "none", "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    scores = json.loads(next(out.rglob("scores.json")).read_text())
    assert scores["run"]["random_weights"] is False
    assert scores["run"]["random_backbones"] == ["rnd"]
    warned = [w for w in scores["warnings"] if "andom weights" in w]
    assert len(warned) == 1 and "rnd" in warned[0] and "own" not in warned[0]
    assert "RANDOM WEIGHTS —" not in (next(out.rglob("report.html")).read_text().split('id="headline"')[1][:400])
