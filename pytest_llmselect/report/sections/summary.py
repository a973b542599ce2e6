"""The answer first: one table of picks (overall and per task), how sure, and the alpha range
where each pick holds, then only the warnings that change how the figures read.

Everything here restates what the sections below it show in full; it adds no figure of its own.
"""

from __future__ import annotations

from typing import Any, Mapping

from .formatting import alpha_range, num, percent
from .header import header_notes
from .model import DASH, Note, Report, Table

# Header lines that explain how a figure was made: in the Markdown and HTML files, and in
# the terminal only with -v (they do not change which candidate is picked).
METHOD_LABELS = frozenset({"Quality intervals", "Comparisons", "Cost intervals", "Pick probability",
                           "Cost model", "Energy", "Timing"})


def metric_label(task: Mapping[str, Any]) -> str:
    """The task's metric and its direction, ``exact_match (higher is better)``; a task
    recorded without a metric name reads ``score``, never ``None``."""
    metric = task.get("metric")
    name = str(metric) if metric not in (None, "", "None") else "score"
    return f"{name} ({'higher' if task.get('higher_is_better', True) else 'lower'} is better)"


def how_sure(block: Mapping[str, Any]) -> str:
    """``clear, 95%`` / ``NOT CLEAR, 55%``: the pick verdict and the selected's pick share."""
    selected = (block.get("selection") or {}).get("selected")
    if selected is None:
        return DASH
    share = (block.get("pick_probability") or {}).get(selected)
    shown = f", {percent(share)}" if share is not None else ""
    if "clear_pick" not in block and "clear_reason" not in block:
        return f"wins{shown}" if shown else DASH  # a report from before the decision core
    return ("clear" if block.get("clear_pick") else "NOT CLEAR") + shown


def _row(name: str, metric: str, block: Mapping[str, Any]) -> tuple[str, ...]:
    sel = block.get("selection") or {}
    selected = sel.get("selected")
    ranges = block.get("alpha_ranges") or {}
    holds = alpha_range(ranges[selected]) if selected in ranges else DASH
    return (name, metric, DASH if selected is None else str(selected), how_sure(block), holds)


def summary_table(report: Report) -> Table | None:
    """One row for the overall pick (when there are several tasks) and one per task."""
    tasks = [t for t in report.get("tasks") or [] if isinstance(t, Mapping)]
    overall = report.get("overall") or {}
    rows: list[tuple[str, ...]] = []
    if overall.get("results") and len(tasks) != 1:
        rows.append(("overall", f"weighted, {len(tasks)} tasks", *_row("", "", overall)[2:]))
    rows += [_row(str(t.get("name", "?")), metric_label(t), t) for t in tasks]
    if not rows:
        return None
    footnotes = []
    for label, block in (("overall", overall), *((str(t.get("name")), t) for t in tasks)):
        reason = (block.get("selection") or {}).get("no_pick_reason")
        if reason and (block.get("selection") or {}).get("selected") is None:
            footnotes.append(f"{label}: no pick ({reason})")
        elif block.get("clear_pick") is False and block.get("clear_reason"):
            footnotes.append(f"{label}: not clear: {block['clear_reason']}")
    return Table(title="Picks", headers=("task", "metric", "pick", "how sure", "selected for alpha in"),
                 rows=tuple(rows), numeric=(False, False, False, False, False),
                 highlight=tuple(r[0] == "overall" for r in rows) if len(rows) > 1 else (),
                 footnotes=tuple(footnotes))


def summary_warnings(report: Report) -> list[Note]:
    """The warnings that change the reading: partial run, subset, candidates not evaluated,
    errors, crashes, assumed prices, a busy machine."""
    notes = [n for n in header_notes(report) if n.warning]
    for task in report.get("tasks") or []:
        excluded = ((task.get("selection") or {}).get("excluded") or {}) if isinstance(task, Mapping) else {}
        for name, why in excluded.items():
            if str(why).startswith("every case errored"):  # one cause for a whole group: named here
                notes.append(Note("Could not run", f"{name} on {task.get('name')}: {why}", warning=True))
    return notes


def objective_note(report: Report) -> Note | None:
    return next((n for n in header_notes(report) if n.label == "Objective"), None)


def context_notes(report: Report) -> list[Note]:
    """The header lines that are neither warnings nor method text (run, quoted prices, constraints)."""
    return [n for n in header_notes(report)
            if not n.warning and n.label not in METHOD_LABELS and n.label != "Objective"]


def method_notes(report: Report) -> list[Note]:
    return [n for n in header_notes(report) if not n.warning and n.label in METHOD_LABELS]


def summary_line(report: Report) -> str:
    """``Selected overall: zoo:base (clear, 100%; alpha = 50)``."""
    from .overall import selected_overall

    text = selected_overall(report)
    overall = report.get("overall") or {}
    if report.get("selected") is None:
        return text
    sure = how_sure(overall)
    alpha = (report.get("settings") or {}).get("alpha", report.get("alpha"))
    extra = [p for p in (sure if sure != DASH else "", f"alpha = {num(alpha)}" if alpha is not None else "") if p]
    return f"{text} ({'; '.join(extra)})" if extra else text
