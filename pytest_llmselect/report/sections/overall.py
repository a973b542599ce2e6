"""The overall section: its heading, the table across tasks, and the closing ``Selected overall`` line."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .formatting import decimals_for, fixed_interval, num, percent, qual
from .model import Report, Table
from .prices import CostColumn, candidates_by_name, default_footnote


def _by_objective(results: Sequence[Mapping[str, Any]], selected: Any) -> list[Mapping[str, Any]]:
    """The selected first, then by objective (what decides), lowest first; rows without one last."""
    def key(r: Mapping[str, Any]) -> tuple[int, float, str]:
        objective = r.get("objective")
        known = isinstance(objective, (int, float)) and not isinstance(objective, bool) and math.isfinite(objective)
        return (0 if r.get("candidate") == selected else 1 if known else 2,
                float(objective) if known else 0.0, str(r.get("candidate")))
    return sorted(results, key=key)


def overall_table(report: Report) -> Table:
    overall = report.get("overall") or {}
    cands = candidates_by_name(report)
    selected = (overall.get("selection") or {}).get("selected", report.get("selected"))
    results = _by_objective(overall.get("results") or [], selected)
    shares = overall.get("pick_probability") or {}
    basis = overall.get("quality_basis", "")
    # Across metrics of both directions a mean quality means nothing: the column is 1 - loss
    # when the losses are normalised, and absent when they are not.
    show_quality = any(r.get("quality") is not None for r in results)
    label = "1 - loss" if isinstance(basis, str) and basis.startswith("1 - ") else "quality"
    cost = CostColumn.of(results)
    o_dec = decimals_for([r.get(k) for r in results for k in ("objective", "objective_lo", "objective_hi")])
    rows = tuple((str(r.get("candidate")), *((qual(r.get("quality")),) if show_quality else ()),
                  qual(r.get("loss")),
                  cost.cell(r, cands.get(str(r.get("candidate")))),
                  fixed_interval(r.get("objective"), r.get("objective_lo"), r.get("objective_hi"), o_dec),
                  percent(shares.get(r.get("candidate"))))
                 for r in results)
    notes = (f"{label}: {basis}",) if show_quality and label != "quality" else ()
    # A task without a demonstration pool ran once per model (shared_results.py).
    notes += tuple(f"task {task}: {note}" for task, note in (overall.get("shared") or {}).items())
    return Table(title="Overall",
                 headers=("candidate", *((label,) if show_quality else ()), "loss", cost.header, "objective", "wins"),
                 rows=rows, numeric=(False, *((True,) if show_quality else ()), True, True, True, True),
                 highlight=tuple(r.get("candidate") == selected for r in results),
                 footnotes=notes + cost.footnotes() + default_footnote([row[0] for row in rows], report))


def overall_heading(report: Report) -> str:
    weights = (report.get("overall") or {}).get("weights") or (report.get("settings") or {}).get("weights") or {}
    text = ", ".join(f"{k} \u00d7{num(v)}" for k, v in weights.items())
    return "Overall" + (f" (task weights: {text})" if text else "")


def selected_overall(report: Report) -> str:
    selected = report.get("selected")
    if selected is None:
        why = ((report.get("overall") or {}).get("selection") or {}).get("no_pick_reason")
        return f"Selected overall: none ({why or 'every candidate was excluded'})"
    return f"Selected overall: {selected}"


def confident_overall(report: Report) -> bool:
    """Whether the overall pick may be shown as settled: a pick, clear, from a complete run."""
    overall = report.get("overall") or {}
    if report.get("selected") is None or report.get("complete") is False:
        return False
    # A report from before the decision core has no overall verdict to go by: as it was shown.
    return overall.get("clear_pick") is True or "clear_reason" not in overall
