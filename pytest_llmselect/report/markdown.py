"""GitHub-flavoured Markdown report, small enough for a CI job summary.

Same tables and notes as the terminal report (built by ``sections``); per-case outputs are
left to the HTML report because a job summary is limited in size. Every string from the
report is escaped: names and outputs come from users and models, and a ``|`` would break a
table row while ``<`` could inject markup into the summary page.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

from .sections.header import header_notes
from .sections.inert import inert, inert_report
from .sections.legend import legend_notes
from .sections.model import Note, Report, Table
from .sections.overall import overall_heading, overall_table, selected_overall
from .sections.per_task import task_heading, task_tables
from .sections.selection_notes import selection_notes
from .sections.summary import summary_line, summary_table

# Characters with a meaning in GFM inline syntax or in table rows (`$` opens GitHub math).
# Backslash goes first so the escapes added for the others are not themselves doubled.
_MD_SPECIAL = "\\`*_[]|~$"
_WARN = "\u26a0\ufe0f "  # warning sign emoji: assumed prices and incomplete runs must stand out


def md_escape(value: Any) -> str:
    text = inert(str(value))  # control, bidi and surrogate characters shown as escapes
    for ch in _MD_SPECIAL:
        text = text.replace(ch, "\\" + ch)
    text = html.escape(text, quote=False)
    # A line break would end the table row (or the list item) early.
    return " ".join(text.splitlines())


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def md_table(table: Table) -> str:
    header = _row([md_escape(h) for h in table.headers])
    rule = _row(["---:" if n else ":---" for n in table.numeric])
    highlight = table.highlight or (False,) * len(table.rows)
    rows = []
    for row, hi in zip(table.rows, highlight):
        cells = [md_escape(c) for c in row]
        if hi:
            cells[0] = f"**{cells[0]}**"
        rows.append(_row(cells))
    lines = [f"**{md_escape(table.title)}**", "", header, rule, *rows]
    if table.footnotes:
        lines += ["", *(f"<sub>{md_escape(f)}</sub>" for f in table.footnotes)]
    return "\n".join(lines)


def _notes(notes: Sequence[Note]) -> str:
    return "\n".join(
        f"- {_WARN if n.warning else ''}**{md_escape(n.label)}:** {md_escape(n.text)}" for n in notes)


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown; the overall selection comes first and last."""
    report = inert_report(report)
    picks = summary_table(report)
    parts = ["## pytest-llmselect report", f"**{md_escape(summary_line(report))}**",
             md_table(picks) if picks is not None else "", _notes(header_notes(report))]
    for task in report.get("tasks") or []:
        parts.append(f"### {md_escape(task_heading(task))}")
        parts.extend(md_table(t) for t in task_tables(task, report))
        parts.append(_notes(selection_notes(task)))
    overall = report.get("overall") or {}
    parts.append(f"### {md_escape(overall_heading(report))}")
    if overall.get("results"):
        parts.append(md_table(overall_table(report)))
    parts.append(_notes(selection_notes(overall, overall.get("excluded"), show_selected=False)))
    parts.append("### Legend")
    parts.append(_notes(legend_notes(report)))
    parts.append(f"**{md_escape(selected_overall(report))}**")
    return "\n\n".join(p for p in parts if p) + "\n"
