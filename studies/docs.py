"""Rewrite the study figures other pages quote (``bbselect.scoring.studytables``) from validated.json:
``python -m studies.validation --docs-only``, and after every study's write step."""

from __future__ import annotations

from pathlib import Path

from bbselect.scoring import studytables, validated

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("docs/evidence.md", "README.md")  # the pages that quote study figures (in generated blocks only)
PACKAGED = ROOT / "bbselect" / "scoring" / "validated.json"


def after_write(out: Path) -> None:
    """After a study wrote ``out``: when it is the packaged file, the pages follow it."""
    if out.resolve() == PACKAGED.resolve():
        for page in rewrite(out):
            print(f"rewrote the study figures of {page}")


def rewrite(study_file: Path | None = None, root: Path = ROOT) -> list[Path]:
    """Re-render every generated block of ``PAGES`` from ``study_file`` (default: the packaged file);
    returns the pages that changed."""
    study = validated.load(study_file)
    changed = []
    for rel in PAGES:
        page = root / rel
        old = page.read_text(encoding="utf-8")
        new = studytables.replace_blocks(old, study)
        if new != old:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed
