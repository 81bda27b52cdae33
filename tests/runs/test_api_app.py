"""The Python API covers every command (issue 24): run (configs and sweeps), report, merge, load and
resume, each on the same application as the CLI, with the same results and errors."""

import json

import pytest
from click.testing import CliRunner
from conftest import make_images

import bbselect
from conftest import refuse_model_builds
from bbselect.cli import main
from bbselect.errors import InputError, UsageError

SMALL = dict(backbones=["mobilenet:alpha=0.25,layer=c3"], weights="none", input_size=64, batch_size=2,
             figures="none", stability="off")




def _small_config(tmp_path, extra: str = ""):
    """Four synthetic images and a YAML config running one small random-init backbone on them."""
    imgs = tmp_path / "imgs"
    make_images(imgs, n=4)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"images: {imgs}\nbackbones: ['mobilenet:alpha=0.25,layer=c3']\nweights: none\n"
                   f"input_size: 64\nfigures: none\nstability: 'off'\n{extra}")
    return cfg


def _values(result):
    return [(r["backbone"], r["value"]) for r in result.ranking]


def test_run_a_config_and_a_sweep(tmp_path):
    cfg = _small_config(tmp_path, f"output: {tmp_path / 'out'}\nname: one\n")
    one = bbselect.run(cfg)
    assert isinstance(one, bbselect.Result) and one.run_dir.name == "one"
    # keywords override --set, which overrides the file (the CLI's precedence)
    two = bbselect.run(cfg, sets=["name=fromset", "input_size=96"], name="fromkw")
    assert two.run_dir.name == "fromkw"
    assert json.loads((two.run_dir / "run.json").read_text())["run"]["input_size"] == 96
    sweep_cfg = tmp_path / "s.yaml"
    sweep_cfg.write_text(cfg.read_text().replace("name: one", "name: sw") + "sweep:\n  layer: [c3, c4]\n")
    sw = bbselect.run(sweep_cfg)
    assert isinstance(sw, bbselect.Sweep) and len(sw) == 2 and (sw.run_dir / "index.html").is_file()
    assert {r.run_dir.parent for r in sw} == {sw.run_dir} and sw.exit_code == 0
    with pytest.raises(UsageError, match="unknown option 'layr'.*layer"):
        bbselect.run(cfg, layr="c4")


def test_load_and_report_reopen_a_run_without_a_model(tmp_path, image_folder, monkeypatch):
    first = bbselect.compare(image_folder, output=str(tmp_path), name="r", **SMALL)
    refuse_model_builds(monkeypatch)
    loaded = bbselect.load(first.run_dir)
    assert _values(loaded) == _values(first) and loaded.headline == first.headline
    again = bbselect.report(first.run_dir, figures=1)
    assert [b for b, _ in _values(again)] == \
        [b for b, _ in _values(first)]
    assert len(list((first.run_dir / "figures").glob("*.png"))) >= 1
    with pytest.raises(InputError, match="not a bbselect run folder"):
        bbselect.load(tmp_path)


def test_merge_through_the_api_equals_the_unsharded_run(tmp_path):
    imgs = tmp_path / "imgs"
    make_images(imgs, n=6)
    whole = bbselect.compare(imgs, output=str(tmp_path / "w"), name="whole", **SMALL)
    for i in (1, 2):
        bbselect.compare(imgs, output=str(tmp_path / "s"), name="big", shard=f"{i}/2", **SMALL)
    merged = bbselect.merge(tmp_path / "s" / "big", output=tmp_path / "m", name="merged")
    assert merged.summary["run"]["n_images"] == whole.summary["run"]["n_images"] == 6
    (b, v), = _values(merged)
    (wb, wv), = _values(whole)
    assert b == wb and v == pytest.approx(wv, rel=1e-9)


def test_resume_through_the_api(tmp_path, image_folder):
    first = bbselect.compare(image_folder, output=str(tmp_path), name="r", **SMALL)
    with pytest.raises(UsageError, match="give nothing else"):
        bbselect.compare(image_folder, resume=first.run_dir)
    resumed = bbselect.compare(resume=first.run_dir)
    assert resumed.run_dir == first.run_dir and [b for b, _ in _values(resumed)] == [b for b, _ in _values(first)]
    timing = json.loads((first.run_dir / "run.json").read_text())["timing"]["backbones"]
    assert all(t["computed"] == 0 for t in timing.values())  # everything was kept, nothing recomputed


def test_the_cli_and_the_api_run_the_same_config_to_the_same_scores(tmp_path):
    cfg = _small_config(tmp_path)
    res = CliRunner().invoke(main, ["run", str(cfg), "-o", str(tmp_path / "cli"), "--name", "x", "-q"])
    assert res.exit_code == 0, res.output
    got = bbselect.run(cfg, output=str(tmp_path / "api"), name="x")
    cli = json.loads((tmp_path / "cli" / "x" / "scores.json").read_text())
    assert [b["label"] for b in cli["backbones"]] == [r["backbone"] for r in got.ranking]
    assert cli["backbones"][0]["separation"]["mean"] == pytest.approx(got.summary["backbones"][0]["separation"]["mean"],
                                                                        rel=1e-9)
