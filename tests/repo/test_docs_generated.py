"""Docs tables that are generated from the code stay equal to it: the exit codes (bbselect/errors.py)."""

import re
from pathlib import Path

from bbselect import errors

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
