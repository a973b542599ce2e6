"""The terminal report: every section laid out as plain text, readable at 120 columns.

The tables and notes come from ``sections`` (shared with Markdown and HTML); this module only
lays them out. The names other code imports from here stay importable from here.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

from .sections.accounting import accounting_notes
from .sections.formatting import (
    alpha_range,
    count,
    interval,
    mib,
    names,
    num,
    percent,
    pval,
    qual,
    quantile_cell,
    spread,
)
from .sections.header import COST_MODEL_TEXT, header_notes
from .sections.inert import inert, inert_report
from .sections.legend import LEGEND, legend_notes
from .sections.measures import MEMORY_METHOD_TEXT
from .sections.model import DASH, DEFAULT_PRICE_MARK, DEFAULT_UNITS, INF, Note, Report, Table
from .sections.overall import overall_heading, overall_table, selected_overall
from .sections.per_task import task_heading, task_tables
from .sections.prices import candidates_by_name, is_default_price, price_text
from .sections.selection_notes import pick_note, selection_notes
from .sections.summary import (
    context_notes,
    method_notes,
    objective_note,
    summary_line,
    summary_table,
    summary_warnings,
)

__all__ = [
    "COST_MODEL_TEXT", "DASH", "DEFAULT_PRICE_MARK", "DEFAULT_UNITS", "INF", "LEGEND", "MEMORY_METHOD_TEXT",
    "SELECTED_MARK", "WIDTH", "Note", "Report", "Table", "accounting_notes", "alpha_range", "candidates_by_name",
    "count", "header_notes", "inert", "inert_report", "interval", "is_default_price", "legend_notes", "mib",
    "names", "num", "overall_heading", "overall_table", "percent", "pick_note", "price_text", "pval", "qual",
    "quantile_cell", "render_terminal", "selected_overall", "selection_notes", "spread", "task_heading",
    "task_tables",
]

WIDTH = 120
SELECTED_MARK = "\u2192"  # arrow in a leading column of the terminal tables
_MIN_WRAP = 20


def _render_table(table: Table) -> str:
    from tabulate import tabulate  # here, not at module level: importing the package stays cheap

    mark = [SELECTED_MARK if h else "" for h in table.highlight] or [""] * len(table.rows)
    rows = [(m, *row) for m, row in zip(mark, table.rows)]
    headers = ("", *table.headers)
    aligns = ["left", *("right" if n else "left" for n in table.numeric)]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    shrinkable = [i + 1 for i, n in enumerate(table.numeric) if not n]
    limits: list[int | None] = [None] * len(headers)
    while True:
        text = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                        colalign=aligns, maxcolwidths=limits, missingval=DASH)
        over = max(len(line) for line in text.splitlines()) - (WIDTH - 2)
        # Wrap text columns, the last one (verdict) first, until the table fits; a table of
        # long names that cannot fit stays wide rather than unreadably narrow.
        i = next((j for j in reversed(shrinkable) if widths[j] > _MIN_WRAP), None)
        if over <= 0 or i is None:
            break
        widths[i] = max(_MIN_WRAP, widths[i] - over)
        limits[i] = widths[i]
    lines = [table.title + ":", textwrap.indent(text, "  ")]
    lines += [f"  {f}" for f in table.footnotes]
    return "\n".join(lines)


def _render_notes(notes: Sequence[Note], indent: str = "") -> str:
    out = []
    for note in notes:
        label = f"{'WARNING: ' if note.warning else ''}{note.label}: "
        out.append(textwrap.fill(note.text, width=WIDTH, initial_indent=indent + label,
                                 subsequent_indent=indent + "    ", break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def _rule(title: str, char: str = "=") -> str:
    return f"{char * 3} {title} ".ljust(WIDTH, char)[: max(WIDTH, len(title) + 5)]


def render_terminal(report: Report, verbose: bool = False) -> str:
    """The whole report as plain text, readable at 120 columns: the answer first (picks, how
    sure, the alpha range each holds for, the warnings that change the reading), then the
    tables; method text and the legend only when ``verbose`` (pytest -v), since the Markdown
    and HTML files always hold them. Ends with ``Selected overall: X``."""
    report = inert_report(report)
    parts = [_rule("pytest-llmselect report"), summary_line(report)]
    objective = objective_note(report)
    if objective is not None:
        parts[-1] += "\n" + _render_notes([objective])
    picks = summary_table(report)
    if picks is not None:
        parts.append(_render_table(picks))
    parts.append(_render_notes(summary_warnings(report)))
    details = context_notes(report) + (method_notes(report) if verbose else [])
    if details or report.get("tasks"):
        parts.append(_rule("Details", "-"))
        parts.append(_render_notes(details))
    for task in report.get("tasks") or []:
        parts.append(_rule(task_heading(task), "-"))
        parts.extend(_render_table(t) for t in task_tables(task, report))
        parts.append(_render_notes(selection_notes(task)))
    overall = report.get("overall") or {}
    parts.append(_rule(overall_heading(report), "-"))
    if overall.get("results"):
        parts.append(_render_table(overall_table(report)))
    parts.append(_render_notes(selection_notes(overall, overall.get("excluded"), show_selected=False)))
    if verbose:
        parts.append(_rule("Legend", "-"))
        parts.append(_render_notes(legend_notes(report)))
    else:
        parts.append("(pytest -v adds how each figure is made and a legend; the Markdown and HTML reports "
                     "always have them)")
    parts.append(selected_overall(report))
    return "\n\n".join(p for p in parts if p) + "\n"
