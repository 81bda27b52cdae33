"""Docs tables that are generated from the code stay equal to it: the exit codes (bbselect/errors.py) and
the study figures docs/evidence.md and README.md quote (bbselect/scoring/validated.json)."""

import re
from pathlib import Path

import copy

import pytest

from bbselect import errors
from bbselect.scoring import studytables, validated
from studies import docs

ROOT = Path(__file__).resolve().parents[2]


def test_the_exit_code_table_in_docs_is_the_one_in_errors_py():
    page = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- exit-codes:begin[^>]*-->\n(.*?)<!-- exit-codes:end -->", page, re.S)
    assert m, "docs/ci.md lost its generated exit-code block"
    assert m.group(1) == errors.exit_codes_markdown()


def test_every_error_class_uses_a_documented_code_and_help_shows_them():
    documented = {code for code, _, _ in errors.EXIT_CODES}
    classes = {c.exit_code for c in errors.BBSelectError.__subclasses__()} | {errors.INTERNAL_ERROR}
    assert classes <= documented
    from click.testing import CliRunner

    from bbselect.cli import main

    shown = " ".join(CliRunner().invoke(main, ["--help"]).output.split())  # what a user reads
    for code, short, _ in errors.EXIT_CODES:
        assert f"{code} {' '.join(short.split())}" in shown


@pytest.mark.parametrize("page", docs.PAGES)
def test_the_study_figures_a_page_quotes_are_the_ones_in_validated_json(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    found = studytables.blocks(text)
    assert found, f"{page} lost its generated study-figure blocks"
    study = validated.load()
    for name, body in found.items():
        assert body == studytables.render(name, study), (
            f"{page}: block {name} differs from validated.json; run python -m studies.validation --docs-only")
    assert studytables.replace_blocks(text, study) == text


def test_every_study_table_is_on_a_page_and_the_check_would_see_a_changed_figure():
    on_pages = set()
    for page in docs.PAGES:
        on_pages |= set(studytables.blocks((ROOT / page).read_text(encoding="utf-8")))
    assert on_pages == set(studytables.BLOCKS)
    study = validated.load()
    changed = copy.deepcopy(study)
    changed["labels"]["scores"]["stability"]["tau"]["trashnet"] = 0.123
    assert "0.12 (" in studytables.render("study-labels", changed)
    assert studytables.render("study-labels", changed) != studytables.render("study-labels", study)


def test_the_gate_metric_table_in_docs_is_the_registrys():
    from bbselect.scoring import registry

    page = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- gate-metrics:begin[^>]*-->\n(.*?)<!-- gate-metrics:end -->", page, re.S)
    assert m, "docs/ci.md lost its generated gate-metric block"
    assert m.group(1) == registry.gate_metrics_markdown()
    for metric in registry.gate_metrics():  # the table lists exactly what --fail-under accepts
        assert f"`{metric}`" in m.group(1)
