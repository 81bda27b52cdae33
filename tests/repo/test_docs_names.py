"""No stale names: every ``bbselect.<module>[.<name>]`` and every ``bbselect/<path>.py`` written in the
docs, the README, docstrings and comments (package, benchmarks, studies, tests) exists in the code as it is."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOTTED = re.compile(r"(?<![\w./-])(bbselect(?:\.[A-Za-z_][A-Za-z_0-9]*)+)")
PATH = re.compile(r"(?<![\w./-])(bbselect/[\w/]+\.(?:py|json|yaml))\b")


def texts() -> list[Path]:
    out = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in ("bbselect", "benchmarks", "studies", "tests"):
        out += sorted((ROOT / folder).rglob("*.py"))
    return out


def resolves(dotted: str) -> bool:
    """An importable module, or an attribute chain of the longest importable prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def stale_names(files) -> list[str]:
    bad = set()
    for f in files:
        text = f.read_text(encoding="utf-8")
        for m in DOTTED.finditer(text):
            if not resolves(m.group(1)):
                bad.add(f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name}: {m.group(1)}")
        for m in PATH.finditer(text):
            if not (ROOT / m.group(1)).exists():
                bad.add(f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name}: {m.group(1)}")
    return sorted(bad)


def test_docs_and_docstrings_name_only_modules_that_exist():
    this = Path(__file__).resolve()
    assert stale_names([f for f in texts() if f.resolve() != this]) == []


@pytest.mark.parametrize("stale", ["bbselect.pipeline.compare", "bbselect.labels", "bbselect/scores.py",
                                   "bbselect.scoring.mapscores.no_such_function"])
def test_a_stale_name_is_caught(tmp_path, stale):
    doc = tmp_path / "page.md"
    doc.write_text(f"See `{stale}` and `bbselect.scoring.mapscores.degenerate_reason`.\n")
    assert stale_names([doc]) == [f"page.md: {stale}"]
