"""Every config rule is declared on its setting (config/schema.py, config/rules.py), and a broken one
gives one message, the same core from every source, prefixed by where the value came from: an option
(``--probe detection``), a YAML file and line (``x.yaml:7: key 'probe'``), a ``--set`` or a keyword of
the Python API. Nothing here builds a model: every check runs before any work."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import bbselect
from bbselect.cli import main
from bbselect.config import validate, values
from bbselect.config.schema import CompareConfig
from bbselect.config.starter import starter_text
from bbselect.errors import InputError, UsageError

DETECTION = "detection needs boxes, but boxes is none"  # the cross-field rule declared on `probe`
RANGE = "expected at least 2, got 1"  # probe_max_images' declared range, (2, ...)


def cli_error(args) -> str:
    """The one error line of a CLI run, after checking it exits with the documented code 2."""
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, res.output
    return lines[0].removeprefix("Error: ")


def api_error(**kw) -> str:
    with pytest.raises(UsageError) as info:
        bbselect.compare("no-such-folder", **kw)
    assert info.value.exit_code == 2
    return str(info.value)


def write(tmp_path, text: str, name: str = "x.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_cross_field_rule_reads_the_same_from_every_source(tmp_path):
    cfg = write(tmp_path, "layer: c4\nprobe: detection\nseed: 1\nboxes: none\n")
    got = {
        "cli": cli_error(["compare", "nope", "--probe", "detection", "--boxes", "none"]),
        "yaml": cli_error(["run", str(cfg)]),
        "set": cli_error(["run", str(write(tmp_path, "layer: c4\n", "plain.yaml")), "--set", "probe=detection",
                          "--set", "boxes=none"]),
        "api": api_error(probe="detection", boxes="none"),
    }
    assert got == {
        "cli": f"--probe detection: {DETECTION}",
        "yaml": f"{cfg}:2: key 'probe': {DETECTION} (boxes: {cfg}:4)",  # the other key's line too
        "set": f"--set probe=detection: {DETECTION}",
        "api": f"bbselect.compare(probe='detection'): {DETECTION}",
    }


def test_a_range_rule_reads_the_same_from_every_source(tmp_path):
    cfg = write(tmp_path, "seed: 1\nprobe_max_images: 1\n")
    got = {
        "cli": cli_error(["compare", "nope", "--probe-max-images", "1"]),
        "cli over a file": cli_error(["run", str(write(tmp_path, "seed: 1\n", "plain.yaml")), "--probe-max-images", "1"]),
        "yaml": cli_error(["run", str(cfg)]),
        "set": cli_error(["run", str(tmp_path / "plain.yaml"), "--set", "probe_max_images=1"]),
        "api": api_error(probe_max_images=1),
    }
    assert got == {
        "cli": f"--probe-max-images 1: {RANGE}",
        "cli over a file": f"--probe-max-images 1: {RANGE}",
        "yaml": f"{cfg}:2: key 'probe_max_images': {RANGE}",
        "set": f"--set probe_max_images=1: {RANGE}",
        "api": f"bbselect.compare(probe_max_images=1): {RANGE}",
    }


@pytest.mark.parametrize("text, line, other", [
    ("boxes: none\nsweep:\n  probe:\n    - auto\n    - detection\n", "5: sweep key 'probe'", "(boxes: {p}:1)"),
    ("probe: detection\nname: n\nsweep:\n  boxes:\n    - auto\n    - none\n", "1: key 'probe'", "(boxes: {p}:6)"),
    ("\n\nprobe: detection\nboxes: none\n", "3: key 'probe'", "(boxes: {p}:4)"),
])
def test_the_yaml_message_names_the_line_of_the_offending_key_or_sweep_value(tmp_path, text, line, other):
    """A rule found broken on a whole config (after the file was read) still names the file and the line:
    the key's own, or, for a point of a sweep, the line of that point's value."""
    cfg = write(tmp_path, text)
    assert cli_error(["run", str(cfg)]) == f"{cfg}:{line}: {DETECTION} {other.format(p=cfg)}"


def test_a_rule_over_a_swept_key_names_that_values_line(tmp_path):
    cfg = write(tmp_path, "stability_k: 10\nsweep:\n  stability_max_images:\n    - 0\n    - 40\n    - 12\n")
    assert cli_error(["run", str(cfg)]) == (
        f"{cfg}:6: sweep key 'stability_max_images': expected 0 (every image) or at least 3 × stability_k = 30 "
        f"(stability is not defined on fewer images) (stability_k: {cfg}:1)")


def test_a_gate_in_the_file_is_named_by_its_line(tmp_path):
    cfg = write(tmp_path, "backbones: [resnet50]\ngates:\n  expect_best: vgg16\n")
    assert cli_error(["run", str(cfg)]) == (
        f"{cfg}:3: gate 'expect_best': expected one of the chosen backbones (resnet50), got 'vgg16' "
        f"(backbones: {cfg}:1)")


def test_a_set_rule_against_a_file_value_names_both(tmp_path):
    cfg = write(tmp_path, "boxes: none\n")
    assert cli_error(["run", str(cfg), "--set", "probe=detection"]) == \
        f"--set probe=detection: {DETECTION} (boxes: {cfg}:1)"


# Every rule resolve used to check by hand, now declared: (overrides, key it is declared on, core words).
DECLARED = [
    ({"backbones": ["vgg16", "vgg16"]}, "backbones", "backbone listed twice: vgg16"),
    ({"backbones": ["inceptionv3"], "input_size": 64}, "input_size",
     "expected at least 75 for inceptionv3 (its smallest input), got 64"),
    ({"layer": " "}, "layer", "expected a stage c2..c5 or a Keras layer name"),
    ({"stability": "sometimes"}, "stability", "expected one of auto, on, off, got 'sometimes'"),
    ({"probe": "always"}, "probe", "expected one of auto, detection, cheap, none, got 'always'"),
    ({"stability_max_images": 5}, "stability_max_images", "at least 3 × stability_k = 30"),
    ({"probe_max_images": 1}, "probe_max_images", RANGE),
    ({"probe": "detection", "boxes": "None"}, "probe", DETECTION),
    ({"shards": -1}, "shards", "expected at least 0, got -1"),
    ({"shards": 10_001}, "shards", "expected at most 10,000, got 10,001"),
    ({"shard": "3/2"}, "shard", "expected I/N with 1 <= I <= N"),
    ({"expect_best": "resnet5"}, "expect_best", "got 'resnet5'; did you mean 'resnet50'?"),
    ({"figures": "-1"}, "figures", "expected all | N"),
]


@pytest.mark.parametrize("overrides, key, core", DECLARED)
def test_each_rule_is_declared_on_its_setting_and_named_by_it(tmp_path, overrides, key, core):
    cfg = CompareConfig(images=str(tmp_path), backbones=["resnet50"], weights="none")
    for k, v in overrides.items():
        setattr(cfg, k, v)
    with pytest.raises(UsageError) as info:
        validate.resolve(cfg, check_memory=False)
    message = str(info.value)
    assert message.startswith(values.locate(key, getattr(cfg, key)) + ": ") and core in message, message
    declared = values.DECLARED[key]
    assert declared["rules"] or declared["range"] or declared["choices"] or declared["check"]


def test_world_rules_keep_their_exit_codes_and_name_the_setting(tmp_path):
    with pytest.raises(InputError, match=r"^images .*nope: the folder does not exist$"):
        validate.resolve(CompareConfig(images=str(tmp_path / "nope"), weights="none"), check_memory=False)
    cfg = tmp_path / "x.yaml"
    cfg.write_text(f"images: {tmp_path}\n\nweights: {tmp_path / 'w.h5'}\n")
    res = CliRunner().invoke(main, ["run", str(cfg)])
    assert res.exit_code == 4, res.output
    assert f"{cfg}:3: key 'weights': not 'imagenet', 'none', or an existing weights file" in res.output


def test_the_starter_config_shows_declared_choices_and_ranges():
    text = starter_text()
    assert "# input_size: integer (32 to 4,096, a multiple of 32), default 224\n" in text
    assert "# probe: one of auto | detection | cheap | none, default auto\n" in text
    assert re.search(r"# probe_max_images: integer \(2 to [\d,]+\), default 500\n", text)
    probe = text.split("# probe: ")[1].split("\nprobe:")[0]
    assert "Checked against: boxes." in probe


def test_an_api_value_yaml_cannot_write_is_still_a_clean_usage_error():
    """Messages show values as YAML; a Python object YAML refuses (a Path in a list) is shown as Python
    shows it, not a crash (was a yaml RepresenterError)."""
    from pathlib import Path

    message = api_error(fail_under=[Path("a")])
    assert message.startswith(f"bbselect.compare(fail_under=[{Path('a')!r}]): expected a string or a list")


def test_a_sweep_given_by_set_names_the_point_value(tmp_path):
    plain = write(tmp_path, "seed: 1\n", "plain.yaml")
    assert cli_error(["run", str(plain), "--set", "sweep.probe=[auto, detection]", "--set", "boxes=none"]) == (
        f"--set sweep.probe=[...] (the value detection): {DETECTION} (boxes: --set boxes=none)")
