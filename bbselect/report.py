"""The reports for people: ``report.html`` and ``report.md`` of a run summary.

``report_html.render_html`` and ``report_markdown.render_markdown`` write them, from the pieces both
share in ``report_content``; machine-readable outputs are ``machine.py``. ``render.py`` calls the two
renderers through this module.
"""

from .report_html import render_html
from .report_markdown import render_markdown

__all__ = ["render_html", "render_markdown"]
