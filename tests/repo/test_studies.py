"""The studies' shape (issue 24): packages run as ``python -m studies.<name>``, one job per module, no
``sys.path`` tricks, imports at the top, and rows saved before the rename still read."""

import ast
import json
from pathlib import Path

import pytest

from bbselect.scoring import registry
from studies import saved
from studies.validation import plan as within
from studies.zoo import plan as across

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("validation", "zoo")
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
