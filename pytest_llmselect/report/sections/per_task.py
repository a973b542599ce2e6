"""The per-task section: its heading, the results table and the paired comparisons with the selected."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .fewshot import demos_table
from .judging import sampling_table
from .formatting import bracketed, interval, num, percent, pval, spread
from .measures import measures_table
from .model import DASH, Report, Table
from .prices import candidates_by_name, cost_cell, default_footnote


def task_heading(task: Mapping[str, Any]) -> str:
    direction = "higher" if task.get("higher_is_better", True) else "lower"
    parts = [f"metric {task.get('metric', '?')} ({direction} is better)", f"{num(task.get('n_cases'))} cases",
             f"weight {num(task.get('weight'))}"]
    if task.get("min_quality") is not None:
        parts.append(f"min_quality {num(task['min_quality'])}")
    return f"Task {task.get('name', '?')}: " + ", ".join(parts)


def _verdict(result: Mapping[str, Any], selected: Any, excluded: Mapping[str, Any]) -> str:
    name = result.get("candidate")
    comparison = result.get("comparison") or {}
    verdict = "selected" if name == selected else str(comparison.get("verdict") or DASH)
    return f"EXCLUDED; {verdict}" if name in excluded else verdict


def task_tables(task: Mapping[str, Any], report: Report) -> list[Table]:
    """Results, comparisons with the selected, measures (the last two only when present)."""
    cands = candidates_by_name(report)
    sel = task.get("selection") or {}
    selected = sel.get("selected")
    excluded = sel.get("excluded") or {}
    level = (report.get("settings") or {}).get("level")
    ci = f"{num(level * 100, 3)}% CI" if isinstance(level, (int, float)) else "CI"
    results = list(task.get("results") or [])
    if not results:
        return []  # selection_notes says so; an empty table would only add noise
    pass_text = {True: "pass", False: "FAIL", None: DASH}
    shares = task.get("pick_probability") or {}
    # Errors and cases not run get their columns when a row has some (the header notes count
    # them for the whole run); a clean run keeps the table within 120 columns.
    show_errors = any(r.get("n_errors") for r in results)
    show_missing = any(r.get("n_missing") for r in results)
    rows = tuple(
        (str(r.get("candidate")), num(r.get("n")), *((num(r.get("n_errors", 0)),) if show_errors else ()),
         *((num(r.get("n_missing")),) if show_missing else ()),
         interval(r.get("quality"), r.get("lo"), r.get("hi")),
         cost_cell(r.get("cost"), cands.get(str(r.get("candidate"))), r.get("cost_lo"), r.get("cost_hi")),
         spread(r.get("objective"), r.get("objective_lo"), r.get("objective_hi")),
         percent(shares.get(r.get("candidate"))),
         pass_text.get(r.get("min_quality_passed"), str(r.get("min_quality_passed"))),
         _verdict(r, selected, excluded))
        for r in results)
    missing_col: tuple[str, ...] = ("not run",) if show_missing else ()
    tables = [Table(
        title=f"Results (cost and objective with their {ci} where they vary)",
        headers=("candidate", "n", *(("errors",) if show_errors else ()), *missing_col, f"quality [{ci}]",
                 "cost $/1k", "objective", "wins", "min quality", "verdict"),
        rows=rows, numeric=(False, True, *((True,) if show_errors else ()), *((True,) if show_missing else ()),
                            True, True, True, True, False, False),
        highlight=tuple(r.get("candidate") == selected for r in results),
        footnotes=default_footnote([row[0] for row in rows], report))]

    joint = demos_table(results, cands, selected, ci)
    if joint is not None:
        tables.append(joint)

    compared = [r for r in results if r.get("comparison") or r.get("quality_comparison")]
    if compared:
        tables.append(Table(
            title=f"Paired comparison with the selected ({selected}): objective (decides) and quality",
            headers=("candidate", f"\u0394 objective [{ci}]", "p adj", "MDE", f"\u0394 quality [{ci}]", "p adj",
                     "quality"),
            rows=tuple((str(r["candidate"]), *_comparison_cells(r.get("comparison") or {}, False),
                        *_comparison_cells(r.get("quality_comparison") or {}, True)) for r in compared),
            numeric=(False, True, True, True, True, True, False),
            footnotes=_comparison_footnotes(compared)))

    measures = measures_table(results, cands)
    if measures is not None:
        tables.append(measures)
    sampled = sampling_table(task)
    if sampled is not None:
        tables.append(sampled)
    return tables


def _comparison_cells(cmp: Mapping[str, Any], quality: bool) -> tuple[str, ...]:
    if not cmp:
        return (DASH, DASH, DASH)
    p = pval(cmp.get("p_adjusted", cmp.get("p_holm")))
    if quality:
        return (interval(cmp.get("diff"), cmp.get("lo"), cmp.get("hi"), signed=True), p,
                str(cmp.get("verdict") or DASH))
    return (bracketed(cmp.get("diff"), cmp.get("lo"), cmp.get("hi")), p, num(cmp.get("mde"), 3))


def _comparison_footnotes(compared: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    adjustments = sorted({str(c.get("adjustment")) for r in compared
                          for c in (r.get("comparison") or {}, r.get("quality_comparison") or {}) if c.get("adjustment")})
    notes = ["\u0394 objective > 0: the candidate costs more per 1,000 cases, quality included; "
             "each interval is the one its test implies"]
    tests = {kind: sorted({str((r.get(key) or {}).get("method")) for r in compared if r.get(key)})
             for kind, key in (("objective", "comparison"), ("quality", "quality_comparison"))}
    notes.append("tests: " + "; ".join(f"{kind} {', '.join(ms)}" for kind, ms in tests.items() if ms))
    if adjustments:
        notes.append(f"p adjusted and intervals simultaneous over the comparisons ({', '.join(adjustments)})")
    return tuple(notes)
