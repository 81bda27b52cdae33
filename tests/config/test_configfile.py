"""YAML config files, --set, precedence, sweeps and dump/load round trips (no models are run)."""

import re
from dataclasses import fields, replace
from pathlib import Path

import pytest
import yaml

from bbselect.config import file as cf
from bbselect.config import sweep_points as sp
from bbselect.config import values as cv
from bbselect.config.schema import FIGURE_CHOICES, CompareConfig
from bbselect.config.validate import resolve
from bbselect.errors import UsageError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SAFE_NAME = re.compile(r"^[A-Za-z0-9+=_-][A-Za-z0-9._+=-]*$")


def write(tmp_path, text, name="x.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def usage_error(tmp_path, text, sets=(), cli=None) -> str:
    path = write(tmp_path, text) if text is not None else None
    with pytest.raises(UsageError) as info:
        cf.build_config(path, list(sets), cli or {})
    return str(info.value)


# ---------------------------------------------------------------- precedence

PRECEDENCE = [
    # (yaml text, --set list, cli dict, key, expected value, expected source)
    (None, [], {}, "batch_size", 8, "default"),
    ("# c\nbatch_size: 4\n", [], {}, "batch_size", 4, "yaml:{p}:2"),
    ("batch_size: 4\n", ["batch_size=2"], {}, "batch_size", 2, "set"),
    ("batch_size: 4\n", ["batch_size=2"], {"batch_size": 16}, "batch_size", 16, "cli"),
    # an explicit CLI value equal to the default still beats the file: explicitness, not "differs from default"
    ("batch_size: 4\n", [], {"batch_size": 8}, "batch_size", 8, "cli"),
    ("batch_size: 4\n", ["batch_size=2", "batch_size=3"], {}, "batch_size", 3, "set"),  # later --set wins
    (None, [], {}, "backbones", ["vgg16", "resnet50", "mobilenetv2"], "default"),
    ("seed: 1\n\nbackbones: [resnet50]\n", [], {}, "backbones", ["resnet50"], "yaml:{p}:3"),
    ("backbones: [resnet50]\n", ["backbones=[vgg16,mobilenetv2]"], {}, "backbones", ["vgg16", "mobilenetv2"], "set"),
    ("backbones: [resnet50]\n", ["backbones=vgg16"], {"backbones": ("densenet121",)}, "backbones",
     ["densenet121"], "cli"),
    (None, [], {}, "name", None, "default"),
    ("name: from-file\n", [], {}, "name", "from-file", "yaml:{p}:1"),
    ("name: from-file\n", ["name="], {}, "name", None, "set"),  # an empty --set value is null
    ("name: from-file\n", ["name=x"], {"name": "typed"}, "name", "typed", "cli"),
]


@pytest.mark.parametrize("text, sets, cli, key, value, source", PRECEDENCE)
def test_precedence(tmp_path, text, sets, cli, key, value, source):
    path = write(tmp_path, text) if text is not None else None
    loaded = cf.build_config(path, sets, cli)
    assert getattr(loaded.base, key) == value
    assert loaded.source[key] == source.format(p=path)
    # keys nobody touched keep the dataclass default and say so
    untouched = "max_pixels"
    assert getattr(loaded.base, untouched) == CompareConfig().max_pixels
    assert loaded.source[untouched] == "default"


def test_source_covers_every_field(tmp_path):
    loaded = cf.build_config(write(tmp_path, "seed: 3\n"), ["layer=c4"], {"input_size": 320})
    assert {k: loaded.source[k] for k in ("seed", "layer", "input_size", "resize")} == {
        "seed": f"yaml:{tmp_path / 'x.yaml'}:1", "layer": "set", "input_size": "cli", "resize": "default"}
    assert set(CompareConfig.keys()) <= set(loaded.source)


def test_set_values_are_parsed_as_yaml_and_checked_like_the_file():
    loaded = cf.build_config(None, ["strict=yes", "figures=5", "name=010", "weights=none",
                                    "images=a=b", "backbones=[mobilenet:alpha=0.25, resnet50]"], {})
    b = loaded.base
    assert (b.strict, b.figures, b.name, b.weights, b.images) == (True, "5", "010", "none", "a=b")
    assert b.backbones == ["mobilenet:alpha=0.25", "resnet50"]


def test_string_fields_keep_scalars_as_written(tmp_path):
    # YAML 1.1 would make these an int (octal 8), a bool and a date; string fields keep the text
    b = cf.build_config(write(tmp_path, "name: 010\nlayer: on\nimages: 2024-01-02\nfigures: 3\n"), [], {}).base
    assert (b.name, b.layer, b.images, b.figures) == ("010", "on", "2024-01-02", "3")


def test_single_backbone_string_is_wrapped(tmp_path):
    b = cf.build_config(write(tmp_path, "backbones: resnet50\n"), [], {}).base
    assert b.backbones == ["resnet50"]


def test_empty_file_means_all_defaults(tmp_path):
    loaded = cf.build_config(write(tmp_path, "# nothing here\n"), [], {})
    assert loaded.base == CompareConfig() and loaded.sweep == {} and loaded.gates == {}


def test_relative_paths_are_kept_as_written(tmp_path):
    """Relative images/output stay relative to the working directory, not to the YAML file."""
    sub = tmp_path / "configs"
    sub.mkdir()
    b = cf.build_config(write(sub, "images: photos\noutput: out/runs\n"), [], {}).base
    assert (b.images, b.output) == ("photos", "out/runs")


# ---------------------------------------------------------------- file errors, with line numbers

FILE_ERRORS = [
    ("name: a\nbackbone: resnet50\n", "{p}:2: unknown key 'backbone'; did you mean 'backbones'?"),
    ("seed: 1\nzzzz: 1\n", "{p}:2: unknown key 'zzzz'"),
    ("seed: 1\n\nbatch_size: eight\n", "{p}:3: key 'batch_size': expected an integer, got 'eight'"),
    ("input_size: true\n", "{p}:1: key 'input_size': expected an integer, got true"),
    ("input_size: 224.0\n", "{p}:1: key 'input_size': expected an integer, got 224.0"),
    ("input_size: '224'\n", "{p}:1: key 'input_size': expected an integer, got '224'"),
    ("strict: 1\n", "{p}:1: key 'strict': expected true or false, got 1"),
    ("images:\n", "{p}:1: key 'images': expected a string, got null"),
    ("images: [a, b]\n", "{p}:1: key 'images': expected a string, got a list"),
    ("backbones: []\n", "{p}:1: key 'backbones': expected at least one backbone, got an empty list"),
    ("backbones: [[resnet50]]\n", "{p}:1: key 'backbones': expected a string, got a list"),
    ("backbones:\n  - resnet50\n  - {a: 1}\n", "{p}:3: key 'backbones': expected a string, got a mapping"),
    ("backbones:\n  - resnet50\n  -\n", "{p}:3: key 'backbones': expected a string, got null"),
    ("backbones: {a: 1}\n", "{p}:1: key 'backbones': expected a string, got a mapping"),
    ("seed: 1\nseed: 2\n", "{p}:2: key 'seed' given twice (first on line 1)"),
    ("resize: box\n", "{p}:1: key 'resize': expected one of stretch, letterbox, got 'box'"),
    ("figures: some\n", "{p}:1: key 'figures': expected {figures}, got 'some'"),
    ("a: 1\nb: 2\n  c: 3\n", "{p}:3: invalid YAML: mapping values are not allowed here"),
    ("seed: 1\n\tname: x\n", "{p}:2: invalid YAML: found character '\\t' that cannot start any token "
                                "(while scanning for the next token)"),
    ("seed: 4\nbackbones: [a, b\nname: x\n",
     "{p}:3: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence on line 2)"),
    ("seed: 1\n---\nseed: 2\n",
     "{p}:2: invalid YAML: expected a single document in the stream, but found another document"),
    ("- a\n- b\n", "{p}:1: the top level must be a mapping of key: value, got a list"),
    ("just text\n", "{p}:1: the top level must be a mapping of key: value, got 'just text'"),
    ("seed: 1\n[a]: 1\n", "{p}:2: expected a key name, got a list"),
    ("name: !!python/name:os.system\n", "{p}:1: key 'name': unsupported tag tag:yaml.org,2002:python/name:os.system"),
    ("sweep: {seed: [1]}\ngrid: {seed: [2]}\n", "{p}:2: use either 'sweep:' or 'grid:', not both"),
    ("sweep:\n  input_sze: [224]\n", "{p}:2: sweep: unknown key 'input_sze'; did you mean 'input_size'?"),
    ("sweep:\n  input_size: 224\n", "{p}:2: sweep key 'input_size': expected a non-empty list of values, got 224"),
    ("sweep:\n  input_size: []\n", "{p}:2: sweep key 'input_size': expected a non-empty list of values, got a list"),
    ("sweep:\n  input_size:\n    - 224\n    - yes\n", "{p}:4: sweep key 'input_size': expected an integer, got true"),
    ("sweep:\n  input_size:\n    - 224\n    - 320\n    - 224\n",
     "{p}:5: sweep key 'input_size': value 224 listed twice (first on line 3)"),
    ("grid: [1, 2]\n", "{p}:1: 'grid' must be a mapping of key: value, got a list"),
    ("gates: [1]\n", "{p}:1: 'gates' must be a mapping of key: value, got a list"),
    ("gates:\n  min_score: true\n",
     "{p}:2: gate 'min_score': expected a number, a string, or a list or mapping of those, got true"),
    ("gates:\n  min_score: [[1]]\n",
     "{p}:2: gate 'min_score': expected a number, a string, or a list or mapping of those, got a list [[1]]"),
    ("gates:\n  fail_under: {separation: null}\n", "{p}:2: gate 'fail_under': expected a number, a string, "
                                                   "or a list or mapping of those, got a mapping {{separation: null}}"),
]


@pytest.mark.parametrize("text, message", FILE_ERRORS)
def test_file_errors_name_file_line_and_key(tmp_path, text, message):
    assert usage_error(tmp_path, text) == message.format(p=tmp_path / "x.yaml", figures=FIGURE_CHOICES)


def test_unknown_backbone_uses_the_registry_suggestion(tmp_path):
    msg = usage_error(tmp_path, "seed: 1\nbackbones: [resnet50, resnet5]\n")
    assert msg.startswith(f"{tmp_path / 'x.yaml'}:2: key 'backbones': unknown backbone 'resnet5'; did you mean resnet50")


def test_bad_yaml_character_names_the_line(tmp_path):
    assert usage_error(tmp_path, "seed: 1\nname: \x07\n") == \
        f"{tmp_path / 'x.yaml'}:2: invalid YAML: character #x0007 is not allowed"


def test_python_tags_are_never_executed(tmp_path):
    target = tmp_path / "created-by-yaml"
    msg = usage_error(tmp_path, f"batch_size: !!python/object/apply:os.mkdir ['{target}']\n")
    assert msg.startswith(f"{tmp_path / 'x.yaml'}:1: key 'batch_size': cannot read value")
    assert not target.exists()


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match=r"config file .*nope\.yaml not found"):
        cf.build_config(tmp_path / "nope.yaml", [], {})


def test_usage_error_exit_code_is_2(tmp_path):
    with pytest.raises(UsageError) as info:
        cf.build_config(write(tmp_path, "seed: x\n"), [], {})
    assert info.value.exit_code == 2


# ---------------------------------------------------------------- --set and cli errors

SET_ERRORS = [
    ("foo", "--set foo: expected KEY=VALUE, e.g. --set batch_size=4"),
    ("=3", "--set =3: expected KEY=VALUE, e.g. --set batch_size=4"),
    ("gates.=3", "--set gates.=3: expected KEY=VALUE, e.g. --set batch_size=4"),
    ("bach_size=4", "--set bach_size=4: unknown key 'bach_size'; did you mean 'batch_size'?"),
    ("batch_size=eight", "--set batch_size=eight: expected an integer, got 'eight'"),
    ("input_size=true", "--set input_size=true: expected an integer, got true"),
    ("images=", "--set images=: expected a string, got null"),
    ("backbones=[a", "--set backbones=[a: invalid YAML: expected ',' or ']', but got '<stream end>' "
                     "(while parsing a flow sequence)"),
    ("sweep.inptu_size=[1]", "--set sweep.inptu_size=[1]: sweep: unknown key 'inptu_size'; did you mean 'input_size'?"),
    ("sweep.layer=c4", "--set sweep.layer=c4: sweep key 'layer': expected a non-empty list of values, got 'c4'"),
    ("gates.x=[[1]]", "--set gates.x=[[1]]: gate 'x': expected a number, a string, or a list or mapping of those, "
                      "got a list [[1]]"),
]


@pytest.mark.parametrize("raw, message", SET_ERRORS)
def test_set_errors(raw, message):
    with pytest.raises(UsageError) as info:
        cf.build_config(None, [raw], {})
    assert str(info.value) == message


def test_cli_values_are_type_checked():
    with pytest.raises(UsageError, match=r"^--batch-size 8: expected an integer, got '8'$"):
        cf.build_config(None, [], {"batch_size": "8"})
    with pytest.raises(ValueError, match="quiet"):  # a wiring bug, not a user error
        cf.build_config(None, [], {"quiet": True})


# ---------------------------------------------------------------- sweep overrides from --set / cli

def test_set_replaces_adds_and_removes_sweep_lists(tmp_path):
    path = write(tmp_path, "sweep:\n  layer: [c3, c4, c5]\n  seed: [1, 2]\n")
    assert cf.build_config(path, [], {}).sweep == {"layer": ["c3", "c4", "c5"], "seed": [1, 2]}
    loaded = cf.build_config(path, ["sweep.layer=[c4]", "grid.input_size=[224, 320]", "sweep.seed="], {})
    assert loaded.sweep == {"layer": ["c4"], "input_size": [224, 320]}  # order: file keys, then new ones
    assert loaded.source["sweep.layer"] == "set" and "sweep.seed" not in loaded.source


def test_explicit_value_ends_the_sweep_of_that_key(tmp_path):
    path = write(tmp_path, "layer: c5\nsweep:\n  layer: [c3, c4]\n  seed: [1, 2]\n")
    assert cf.build_config(path, [], {}).sweep["layer"] == ["c3", "c4"]  # the file's sweep beats its plain value
    by_cli = cf.build_config(path, [], {"layer": "c4"})
    assert by_cli.sweep == {"seed": [1, 2]} and by_cli.base.layer == "c4"
    assert by_cli.notes == [f"--layer replaces the sweep over 'layer' from {path}:3"]
    by_set = cf.build_config(path, ["layer=c3"], {})
    assert by_set.sweep == {"seed": [1, 2]} and by_set.base.layer == "c3"
    by_cli_over_set_sweep = cf.build_config(None, ["sweep.seed=[1,2]"], {"seed": 5})
    assert by_cli_over_set_sweep.sweep == {} and by_cli_over_set_sweep.base.seed == 5
    assert by_cli_over_set_sweep.notes == ["--seed replaces the sweep over 'seed' from --set sweep.seed"]


def test_set_of_a_key_and_of_its_sweep_contradict():
    with pytest.raises(UsageError, match="contradict"):
        cf.build_config(None, ["seed=1", "sweep.seed=[1,2]"], {})


def test_gates_are_stored_and_settable(tmp_path):
    path = write(tmp_path, "gates:\n  min_score: 0.25\n  expect_best: resnet50\n")
    loaded = cf.build_config(path, ["gates.max_skipped=3", "gates.expect_best="], {})
    assert loaded.gates == {"min_score": 0.25, "max_skipped": 3}


# ---------------------------------------------------------------- sweep expansion

def test_expand_is_the_product_in_key_then_value_order():
    base = CompareConfig(seed=7)
    points = sp.expand_sweep(base, {"backbones": ["resnet50", "mobilenetv2"], "input_size": [224, 320, 416]})
    got = [(c.backbones, c.input_size) for _, c in points]
    assert got == [(["resnet50"], 224), (["resnet50"], 320), (["resnet50"], 416),
                   (["mobilenetv2"], 224), (["mobilenetv2"], 320), (["mobilenetv2"], 416)]
    assert [n for n, _ in points] == [
        "resnet50-inputsize224", "resnet50-inputsize320", "resnet50-inputsize416",
        "mobilenetv2-inputsize224", "mobilenetv2-inputsize320", "mobilenetv2-inputsize416"]
    assert all(c.seed == 7 for _, c in points)  # unswept keys come from the base


def test_file_key_order_decides_the_product_order(tmp_path):
    path = write(tmp_path, "sweep:\n  input_size: [224, 320]\n  layer: [c4, c5]\n")
    got = [(c.input_size, c.layer) for _, c in cf.build_config(path, [], {}).points()]
    assert got == [(224, "c4"), (224, "c5"), (320, "c4"), (320, "c5")]


def test_empty_sweep_is_the_base_alone():
    base = CompareConfig(name="solo")
    assert sp.expand_sweep(base, {}) == [(sp.BASE_POINT, base)]


def test_points_do_not_share_lists_with_the_base():
    base = CompareConfig()
    (_, a), (_, b) = sp.expand_sweep(base, {"seed": [1, 2]})
    a.backbones.append("xception")
    assert b.backbones == base.backbones == CompareConfig().backbones


def test_backbone_sweep_values_may_be_one_name_or_a_list():
    points = sp.expand_sweep(CompareConfig(), {"backbones": [["resnet50", "vgg16"], "mobilenet:alpha=0.25"]})
    assert [(n, c.backbones) for n, c in points] == [
        ("resnet50+vgg16", ["resnet50", "vgg16"]), ("mobilenet_alpha=0.25", ["mobilenet:alpha=0.25"])]


def test_names_are_safe_unique_and_short():
    points = sp.expand_sweep(CompareConfig(), {
        "layer": ["../a:b", "a_b", "x" * 80, "x" * 80 + "y"],  # a:b and a_b clash once made safe
        "overlay": [True, False],
    })
    names = [n for n, _ in points]
    assert len(set(names)) == len(names) == 8
    assert all(SAFE_NAME.match(n) and len(n) <= 64 and ".." not in n for n in names), names
    assert names[:4] == ["a_b-overlay", "a_b-nooverlay", "a_b-overlay-2", "a_b-nooverlay-2"]
    assert names[4][:8] == "xxxxxxxx" and names[4] != names[6]  # cut + hash keeps the two long values apart


def test_identical_points_are_refused():
    # "resnet50" and ["resnet50"] are the same backbones list once expanded
    with pytest.raises(UsageError, match="'resnet50' and 'resnet50' are the same run"):
        sp.expand_sweep(CompareConfig(), {"backbones": ["resnet50", ["resnet50"]]})


def test_sweep_cap():
    assert len(sp.expand_sweep(CompareConfig(), {"seed": list(range(16)), "batch_size": list(range(1, 17))})) == 256
    with pytest.raises(UsageError, match=r"the sweep has 272 points \(17 seed x 16 batch_size\); at most 256 .*split"):
        sp.expand_sweep(CompareConfig(), {"seed": list(range(17)), "batch_size": list(range(1, 17))})


def test_expand_checks_keys_and_values():
    with pytest.raises(UsageError, match=r"^sweep: unknown key 'inputsize'; did you mean 'input_size'\?$"):
        sp.expand_sweep(CompareConfig(), {"inputsize": [224]})
    with pytest.raises(UsageError, match="sweep key 'seed': expected a non-empty list"):
        sp.expand_sweep(CompareConfig(), {"seed": []})
    with pytest.raises(UsageError, match="sweep key 'seed': expected an integer, got true"):
        sp.expand_sweep(CompareConfig(), {"seed": [1, True]})


# ---------------------------------------------------------------- dump / load round trip

ODD = [
    CompareConfig(),
    CompareConfig(name="null", figures="5", layer="yes", images="~/my photos: #1", output="010",
                  backbones=["mobilenet:alpha=0.25", "resnet50:layer=c4"], strict=True, overlay=True,
                  seed=3, max_pixels=12345, input_size=512, resize="letterbox", weights="none"),
    CompareConfig(name="", backbones=["vgg16"], figures="none", images="a\nb", layer="'quoted'"),
]


@pytest.mark.parametrize("cfg", ODD)
def test_dump_config_round_trips(tmp_path, cfg):
    path = write(tmp_path, cf.dump_config(cfg))
    loaded = cf.build_config(path, [], {})
    assert loaded.base == cfg
    assert all(s.startswith("yaml:") for k, s in loaded.source.items())  # every field is written out


def test_dump_config_round_trips_sweep_and_gates(tmp_path):
    sweep = {"backbones": ["resnet50", ["vgg16", "mobilenetv2"]], "input_size": [224, 320]}
    gates = {"min_score": 0.3, "expect_best": "resnet50"}
    loaded = cf.build_config(write(tmp_path, cf.dump_config(ODD[1], sweep, gates)), [], {})
    assert loaded.base == ODD[1]
    assert loaded.sweep == {"backbones": [["resnet50"], ["vgg16", "mobilenetv2"]], "input_size": [224, 320]}
    assert loaded.gates == gates


@pytest.mark.parametrize("cfg", ODD)
def test_a_run_folders_config_yaml_reads_back(tmp_path, cfg):
    """pipeline.py saves ``yaml.safe_dump(cfg.to_dict())``; `bbselect run` of that file repeats the run."""
    path = write(tmp_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False), "config.yaml")
    assert cf.build_config(path, [], {}).base == cfg


# ---------------------------------------------------------------- the configs/ folder

def test_every_field_has_a_supported_type():
    assert set(cv.KINDS) == {f.name for f in fields(CompareConfig)}
    with pytest.raises(TypeError):
        cv._kind_of(dict[str, int])


def test_default_yaml_is_every_field_at_its_default():
    path = CONFIGS / "default.yaml"
    loaded = cf.build_config(path, [], {})
    assert loaded.base == CompareConfig()
    assert loaded.sweep == {} and loaded.gates == {}
    assert all(loaded.source[f.name].startswith("yaml:") for f in fields(CompareConfig))  # set in the file
    text = path.read_text()
    for f in fields(CompareConfig):  # and documented just above its line
        assert re.search(rf"^# {f.name}: .*, default .*\n(#   .*\n)+{f.name}: ", text, re.M), f.name


def test_default_yaml_is_generated_from_the_schema_and_current():
    """configs/default.yaml is the schema's own text (config/starter.py): a setting added, removed or
    re-documented in schema.py without regenerating the file fails here."""
    from bbselect.config.starter import starter_text

    assert (CONFIGS / "default.yaml").read_text(encoding="utf-8") == starter_text(), (
        "regenerate: python -c \"from bbselect.config.starter import starter_text; "
        "open('configs/default.yaml', 'w').write(starter_text())\"")
    for f in fields(CompareConfig):  # each meaning is the schema's own words
        meaning = f.metadata.get("doc") or f.metadata["help"]
        assert meaning.split()[0] in starter_text().split(f"# {f.name}: ")[1], f.name


EXAMPLES = sorted(p.name for p in CONFIGS.glob("*.yaml"))


def test_examples_exist():
    assert {"default.yaml", "detector-512.yaml", "quick-ci.yaml"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_configs_load_expand_and_resolve(tmp_path, name):
    text = (CONFIGS / name).read_text()
    assert text.startswith("#"), "each example opens with a comment explaining it"
    loaded = cf.build_config(CONFIGS / name, [], {})
    points = loaded.points()
    assert 1 <= len(points) <= sp.MAX_POINTS
    for _, cfg in points:  # every point passes compare's own checks (images pointed at an existing folder)
        resolve(replace(cfg, images=str(tmp_path)))


def test_detector_example_sweeps_layers_of_two_backbones():
    points = cf.build_config(CONFIGS / "detector-512.yaml", [], {}).points()
    assert [n for n, _ in points] == ["c3", "c4", "c5"]
    assert all(c.backbones == ["resnet50", "mobilenetv2"] and c.input_size == 512 and c.resize == "letterbox"
               for _, c in points)


def test_quick_ci_example_is_tiny_and_has_gates():
    loaded = cf.build_config(CONFIGS / "quick-ci.yaml", [], {})
    assert loaded.base.backbones == ["mobilenet:alpha=0.25"]
    assert (loaded.base.input_size, loaded.base.figures) == (96, "none")
    assert loaded.gates and len(loaded.points()) == 1
