"""CI runs the README's test command word for word, then the suite on the newest dependency versions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_test_command() -> str:
    block = re.search(r"# 2\. install and run the tests.*?\n(.+?)\n", (ROOT / "README.md").read_text())
    return block.group(1).strip()


def test_ci_runs_the_readme_command_word_for_word_and_a_drift_pass():
    script = (ROOT / ".ci" / "run").read_text()
    cmd = _readme_test_command()
    assert cmd.endswith("pytest") and cmd in script.splitlines()
    drift = script[script.index("pass 2"):]
    assert "--upgrade" in drift and "pytest" in drift
    # a failing pass can never be swallowed by an && list: each status is checked by hand
    assert script.count('[ "$status" -eq 0 ] || fail') == 2
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)


def test_ci_fail_helper_keeps_pytests_exit_status(tmp_path):
    """The status check turns pytest's 'no tests collected' (5) into a failing CI run with that status."""
    script = (ROOT / ".ci" / "run").read_text()
    helper = next(line for line in script.splitlines() if line.startswith("fail()"))
    probe = tmp_path / "probe.sh"
    probe.write_text(f"set -euo pipefail\n{helper}\nset +e\n(exit 5)\nstatus=$?\nset -e\n"
                     f'[ "$status" -eq 0 ] || fail "the suite" "$status"\necho passed\n')
    out = subprocess.run(["bash", str(probe)], capture_output=True, text=True)
    assert out.returncode == 5 and "passed" not in out.stdout and "CI FAILED: the suite" in out.stderr
