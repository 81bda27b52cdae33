"""The studies' shape (issue 24): packages run as ``python -m studies.<name>``, one job per module, no
``sys.path`` tricks, imports at the top, and rows saved before the rename still read."""

import ast
import json
from pathlib import Path

import pytest

from bbselect.scoring import registry, validated
from studies import saved
from studies.finetune import __main__ as finetune_cli
from studies.finetune import plan as finetune
from studies.finetune import write as finetune_write
from studies.validation import plan as within
from studies.zoo import plan as across

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("validation", "zoo", "finetune")
SHARED = ("__init__.py", "tables.py", "saved.py", "docs.py", "cascade.py")


def study_modules():
    for name in PACKAGES:
        yield from sorted((ROOT / "studies" / name).glob("*.py"))
    for name in SHARED:
        yield ROOT / "studies" / name


@pytest.mark.parametrize("path", list(study_modules()), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_study_modules_are_small_import_at_the_top_and_leave_sys_path_alone(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert "sys.path" not in text
    tree = ast.parse(text)
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            hidden = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not hidden, f"{path.name}: import inside {fn.name}()"
    for node in ast.walk(tree):  # no study reaches for another module's private name
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("studies"):
            assert not [a.name for a in node.names if a.name.startswith("_") and a.name != "__doc__"]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_study_is_plan_measure_analyse_write_and_main(name):
    have = {p.stem for p in (ROOT / "studies" / name).glob("*.py")}
    assert {"plan", "measure", "analyse", "write", "__main__"} <= have


def test_the_studies_test_the_scores_the_registry_says_they_do():
    studied = {s.name for s in registry.specs() if "validation" in s.studied}
    tested = {k.rpartition(".")[2] for k in within.label_scores() + within.box_scores()} - set(within.BASELINES)
    assert tested == studied
    assert set(across.scores()) == {s.name for s in registry.specs() if "zoo" in s.studied}
    assert not set(within.BASELINES) & set(registry.names()) and not set(across.PRIORS) & set(registry.names())


def test_rows_saved_before_the_rename_are_read_under_registry_names(tmp_path):
    old = {"meta": {"command": "python studies/validation_study.py --quick", "seconds": 1.0},
           "rows": [{"dataset": "trashnet", "retrieval": 0.4, "stability": 0.3}],
           "box_rows": [{"dataset": "raccoon", "map_auroc": 0.6, "mass_ratio": 1.2, "pointing": 0.5}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    got = saved.load(str(path))[0]
    assert got["rows"] == [{"dataset": "trashnet", "augmentation_retrieval": 0.4, "stability": 0.3}]
    assert got["box_rows"] == [{"dataset": "raccoon", "box_auroc": 0.6, "mean.mass_ratio": 1.2, "mean.pointing": 0.5}]
    assert got["meta"]["command"] == "python -m studies.validation --quick"
    assert saved.registry_keys(got["rows"][0]) == got["rows"][0]  # rows under registry names pass unchanged


def test_the_fine_tuning_study_names_its_predictors_by_the_registry():
    keys = [k for k, _ in finetune.PREDICTORS]
    assert finetune.PROBE == "det_map50" and {"det_map50", "det_map", "tlogme", "objectness"} <= set(keys)
    assert {k for k in keys if k not in finetune.NOT_SCORES} <= set(registry.names())
    assert not set(finetune.NOT_SCORES) & set(registry.names())
    assert not list((ROOT / "studies").glob("finetune_*.py"))  # the three scripts it replaces are gone


def test_the_fine_tuning_command_line_keeps_its_flags(tmp_path):
    args = finetune_cli.parser().parse_args(
        ["--quick", "--from-cache", "--phases", "frozen,proxy", "--networks", "a,b", "--cache", "c.json",
         "--doc", "d.md", "--validated", "v.json", "--no-doc", "--n-boot", "7", "--shared", str(tmp_path)])
    assert (args.quick, args.from_cache, args.phases, args.networks, args.cache, args.doc, args.validated,
            args.no_doc, args.n_boot) == (True, True, "frozen,proxy", "a,b", "c.json", "d.md", "v.json", True, 7)
    with pytest.raises(SystemExit, match="shared data is missing"):
        finetune_cli.main(["--from-cache", "--shared", str(tmp_path)])


def fake_result() -> dict:
    """What ``studies.finetune.analyse.analyse`` returns, as far as validated.json reads it."""
    tau = {"tau": 0.5, "p": 0.04, "ci": [0.1, 0.9], "n": 8}
    taus = {(pk, t, sc): dict(tau) for pk, _ in finetune.PREDICTORS for t in ("map50", "map")
            for sc in ("all", "pretrained")}
    taus[("proxy_map50", "map50", "all")]["n"] = 0  # a phase not run is left out
    return {"taus": taus, "folds": 3, "n_images": 200, "main": "long", "probe_pick": "a", "probe_pick_in_tie": True,
            "tie": ["a", "b"], "ft_best": "a", "stability": {"tau": tau}, "supported": True, "wall_seconds": 60.0}


def test_the_fine_tuning_study_writes_its_key_under_registry_names_through_validated(tmp_path):
    path = tmp_path / "validated.json"
    path.write_text(json.dumps({"zoo": {"z": 1}, "finetune": {"scores": {"probe_map50": {}}}}))
    finetune_write.write_validated(path, fake_result())
    study = validated.load(path)
    assert study["zoo"] == {"z": 1}  # the other studies' keys are kept
    part = study["finetune"]
    assert list(part["scores"]) == [k for k, _ in finetune.PREDICTORS if k != "proxy_map50"]
    assert validated.finetune_part(study) == part  # written under the names every reader uses
    assert part["generated_by"] == "python -m studies.finetune"
    assert validated.finetune(study)["tau"] == 0.5 and validated.finetune(study)["supported"] is True
