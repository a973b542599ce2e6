"""Report renderers: terminal text, GitHub Markdown, self-contained HTML, and JSON I/O.

Renderers only format the report dict described in docs/report-schema.md; they compute
nothing. Importing this package is cheap: matplotlib is imported only when an HTML report
is rendered.
"""

from __future__ import annotations

from .html import render_html
from .jsonio import REPORT_FORMATS, load_report, to_json, write_report
from .markdown import render_markdown
from .terminal import render_terminal

__all__ = [
    "REPORT_FORMATS",
    "load_report",
    "render_html",
    "render_markdown",
    "render_terminal",
    "to_json",
    "write_report",
]
