"""`bbselect run`: YAML configs through the CLI, sweeps and their summaries, reproducing a run."""

import csv
import json

from bbselect.common import fmt_interval
from pathlib import Path

import pytest
from click.testing import CliRunner

from bbselect.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
SMALL = ["--weights", "none", "--input-size", "64", "--batch-size", "2", "-q", "--figures", "none"]


def run(args):
    return CliRunner().invoke(main, args)


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_configs_run(tmp_path, image_folder, config):
    res = run(["run", str(config), "--set", f"images={image_folder}", "-o", str(tmp_path / "r"),
               "--set", "backbones=[mobilenet:alpha=0.25]", "--set", "fail_under=[]", *SMALL])
    assert res.exit_code == 0, res.output
    assert any((tmp_path / "r").rglob("scores.json"))


def test_sweep_writes_points_summary_and_index(tmp_path, image_folder):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"name: sw\nimages: {image_folder}\nbackbones: [mobilenetv2, resnet50]\n"
                   "sweep:\n  layer: [c3, c4]\n")
    res = run(["run", str(cfg), "-o", str(tmp_path / "r"), "--format", "json", *SMALL])
    assert res.exit_code == 0, res.output
    parent = tmp_path / "r" / "sw"
    assert sorted(p.name for p in parent.iterdir() if p.is_dir()) == ["c3", "c4"]
    rows = list(csv.DictReader((parent / "summary.csv").open()))
    assert [(r["point"], r["stage"]) for r in rows] == [("c3", "c3")] * 2 + [("c4", "c4")] * 2
    assert {r["backbone"] for r in rows} == {"mobilenetv2", "resnet50"}
    index = (parent / "index.html").read_text()
    assert 'href="c3/report.html"' in index and 'href="c4/report.html"' in index
    # summary.md is the index's table in Markdown: the same texts (it was the CSV at 3 significant figures)
    md = (parent / "summary.md").read_text()
    assert "[c3](c3/report.html)" in md and md.count("\n| ") == 1 + len(rows)
    for r in rows:
        primary = fmt_interval({"mean": float(r["primary"]), "lo": float(r["primary_lo"]), "hi": float(r["primary_hi"])})
        ms = f"{float(r['ms_per_image']):.1f}"
        assert primary in md and primary in index and ms in md and ms in index, (primary, ms)
    assert (parent / "score_vs_cost.png").exists() and (parent / "score_by_layer.png").exists()
    doc = json.loads(res.stdout)
    assert [p["run_dir"] for p in doc["points"]] == [str(parent / "c3"), str(parent / "c4")]
    # a sweep's saved sweep.yaml runs the same sweep again
    res = run(["run", str(parent / "sweep.yaml"), "-o", str(tmp_path / "again"), "-q"])
    assert res.exit_code == 0, res.output
    again = list(csv.DictReader((tmp_path / "again" / "sw" / "summary.csv").open()))
    keep = ["point", "backbone", "layer", "separation", "effective_rank"]
    assert [{k: r[k] for k in keep} for r in again] == [{k: r[k] for k in keep} for r in rows]
    # the second sweep finds every map in the cache: its points still show the speed measured when
    # those maps were made (kept in the cache's backbone facts), never an empty ms/image
    assert all(float(r["ms_per_image"]) > 0 for r in rows + again), [r["ms_per_image"] for r in again]


def test_saved_config_reproduces_the_run(tmp_path, image_folder):
    out = tmp_path / "r"
    assert run(["compare", str(image_folder), "-o", str(out), "--name", "first", "-b", "mobilenetv2",
                *SMALL]).exit_code == 0
    res = run(["run", str(out / "first" / "config.yaml"), "--set", "name=second", "--no-cache"])
    assert res.exit_code == 0, res.output
    a, b = (json.loads((out / n / "scores.json").read_text()) for n in ("first", "second"))
    assert a["backbones"] == b["backbones"] and a["images"] == b["images"]


def test_precedence_cli_over_set_over_yaml(tmp_path, image_folder):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"images: {image_folder}\nbackbones: mobilenetv2\nname: fromyaml\nseed: 1\nbatch_size: 3\n")
    res = run(["run", str(cfg), "-o", str(tmp_path / "r"), "--set", "name=fromset", "--set", "seed=2",
               "--seed", "5", "--weights", "none", "--input-size", "64", "-q", "--figures", "none"])
    assert res.exit_code == 0, res.output
    saved = (tmp_path / "r" / "fromset" / "config.yaml").read_text()
    assert "seed: 5" in saved and "batch_size: 3" in saved  # cli > set > yaml > default
    # run.json carries the whole resolved config too: every key, equal to config.yaml's
    import yaml

    from bbselect.config.schema import CompareConfig

    manifest = json.loads((tmp_path / "r" / "fromset" / "run.json").read_text())
    assert set(manifest["config"]) == set(CompareConfig.keys())
    assert manifest["config"] == yaml.safe_load(saved)


def test_config_errors_are_clean(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("backbones: [resnet50]\nbatchsize: 4\n")
    res = run(["run", str(cfg)])
    assert res.exit_code == 2 and "bad.yaml:2" in res.output and "did you mean 'batch_size'" in res.output
    assert "Traceback" not in res.output
    res = run(["run", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_yaml_gates_fail_the_run(tmp_path, image_folder):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(f"images: {image_folder}\nbackbones: mobilenetv2:layer=c3\ngates:\n  fail_under:\n    separation: 2\n")
    res = run(["run", str(cfg), "-o", str(tmp_path / "r"), "--format", "json", *SMALL])
    assert res.exit_code == 1 and json.loads(res.stdout)["gates"][0]["passed"] is False
