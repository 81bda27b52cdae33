"""The code base is lint-clean under the rules in pyproject.toml's [tool.ruff] (run as part of the suite,
so CI enforces it). In CI a missing ruff fails; elsewhere it skips."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or (str(Path(sys.executable).with_name("ruff"))
                                   if Path(sys.executable).with_name("ruff").exists() else None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("ruff is not installed (it is in the [test] extra)")
        pytest.skip("ruff is not installed (pip install -e .[test])")
    return [exe]


def test_the_repository_is_lint_clean():
    res = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_lint_rules_catch_what_they_claim_to(tmp_path):
    """The configured rules do fire: an unused import and a mutable default argument are reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f(x=[]):\n    return x\n")
    res = subprocess.run([*_ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                          "--output-format", "concise", str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 1
    assert "F401" in res.stdout and "B006" in res.stdout
