"""The per-task section: its heading, the results table and the paired comparisons with the selected."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .fewshot import demos_table
from .judging import sampling_table
from .formatting import decimals_for, fixed, fixed_interval, interval, num, percent, pval
from .measures import measures_table
from .model import DASH, Report, Table
from .prices import CostColumn, candidates_by_name, default_footnote
from .summary import metric_label


def metric_name(task: Mapping[str, Any]) -> str:
    """The name a table's quality column carries: the metric's own (``abs_error``)."""
    metric = task.get("metric")
    return str(metric) if metric not in (None, "", "None") else "score"


def quality_decimals(values: Sequence[Any]) -> int:
    """Scores in [0, 10) keep three decimals (accuracies line up as before); larger ones
    (errors, counts) get the column's own notation."""
    finite = [abs(float(v)) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
              and v == v and abs(v) != float("inf")]
    return 3 if all(v < 10 for v in finite) else decimals_for(values)


def task_heading(task: Mapping[str, Any]) -> str:
    parts = [f"metric {metric_label(task)}", f"{fixed(task.get('n_cases'), 0)} cases",
             f"weight {num(task.get('weight'))}"]
    if task.get("min_quality") is not None:
        parts.append(f"min_quality {num(task['min_quality'])}")
    return f"Task {task.get('name', '?')}: " + ", ".join(parts)


# Short verdict words for the results table; the long reason goes to a footnote.
_SHORT = (("significantly worse", "worse"), ("significantly better", "better"),
          ("not distinguishable", "unclear"))


def _verdicts(results: Sequence[Mapping[str, Any]], selected: Any,
              excluded: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """One short word per row (``selected``, ``worse``, ``unclear``, ``excluded``) and the
    footnotes that give each word's full reason, one per distinct reason."""
    words, reasons = [], {}  # type: ignore[var-annotated]
    for r in results:
        name = r.get("candidate")
        long = str((r.get("comparison") or {}).get("verdict") or "")
        word = "selected" if name == selected else next((w for k, w in _SHORT if long.startswith(k)), long or DASH)
        if name in excluded:
            reasons.setdefault(("excluded", str(excluded[name])), []).append(str(name))
            word = "excluded" + ("" if name == selected or not long else f", {word}")
        if name != selected and long and word.split(", ")[-1] != long:
            reasons.setdefault((word.split(", ")[-1], long), []).append(str(name))
        words.append(word)
    notes = []
    for (word, long), who in reasons.items():
        same_word = [k for k in reasons if k[0] == word]
        named = len(same_word) > 1 or word == "excluded"  # an exclusion always names whom it excludes
        notes.append(f"{word} ({', '.join(who)}): {long}" if named else f"{word}: {long}")
    return words, notes


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
    cost = CostColumn.of(results)
    q_dec = quality_decimals([r.get(k) for r in results for k in ("quality", "lo", "hi")])
    o_dec = decimals_for([r.get(k) for r in results for k in ("objective", "objective_lo", "objective_hi")])
    verdicts, verdict_notes = _verdicts(results, selected, excluded)
    rows = tuple(
        (str(r.get("candidate")), fixed(r.get("n"), 0), *((fixed(r.get("n_errors", 0), 0),) if show_errors else ()),
         *((fixed(r.get("n_missing"), 0),) if show_missing else ()),
         fixed_interval(r.get("quality"), r.get("lo"), r.get("hi"), q_dec),
         cost.cell(r, cands.get(str(r.get("candidate")))),
         fixed_interval(r.get("objective"), r.get("objective_lo"), r.get("objective_hi"), o_dec),
         percent(shares.get(r.get("candidate"))),
         pass_text.get(r.get("min_quality_passed"), str(r.get("min_quality_passed"))),
         verdict)
        for r, verdict in zip(results, verdicts))
    missing_col: tuple[str, ...] = ("not run",) if show_missing else ()
    show_min = task.get("min_quality") is not None or any(r.get("min_quality_passed") is not None for r in results)
    headers = ("candidate", "n", *(("errors",) if show_errors else ()), *missing_col,
               f"{metric_name(task)} [{ci}]", cost.header, "objective", "wins", "min quality", "verdict")
    numeric = (False, True, *((True,) if show_errors else ()), *((True,) if show_missing else ()),
               True, True, True, True, False, False)
    if not show_min:  # no minimum set: a column of dashes says nothing
        drop = len(headers) - 2
        headers = headers[:drop] + headers[drop + 1:]
        numeric = numeric[:drop] + numeric[drop + 1:]
        rows = tuple(row[:drop] + row[drop + 1:] for row in rows)
    tables = [Table(
        title=f"Results (cost and objective with their {ci} where they vary)",
        headers=headers, rows=rows, numeric=numeric,
        highlight=tuple(r.get("candidate") == selected for r in results),
        footnotes=(*verdict_notes, *cost.footnotes(), *default_footnote([row[0] for row in rows], report)))]

    joint = demos_table(results, cands, selected, ci)
    if joint is not None:
        tables.append(joint)

    compared = [r for r in results if r.get("comparison") or r.get("quality_comparison")]
    if compared:
        name = metric_name(task)
        objective_cmp = [r.get("comparison") or {} for r in compared]
        quality_cmp = [r.get("quality_comparison") or {} for r in compared]
        d_dec = decimals_for([c.get(k) for c in objective_cmp for k in ("diff", "lo", "hi")], digits=3)
        m_dec = decimals_for([c.get("mde") for c in objective_cmp], digits=3)
        hib = bool(task.get("higher_is_better", True))
        tables.append(Table(
            title=f"Paired comparison with the selected ({selected}): objective (decides) and {name}",
            headers=("candidate", f"\u0394 objective [{ci}]", "p adj", "MDE", f"\u0394 {name} [{ci}]", "p adj",
                     name),
            rows=tuple((str(r["candidate"]), *_objective_cells(o, d_dec, m_dec), *_quality_cells(q, hib))
                       for r, o, q in zip(compared, objective_cmp, quality_cmp)),
            numeric=(False, True, True, True, True, True, False),
            footnotes=_comparison_footnotes(compared)))

    measures = measures_table(results, cands)
    if measures is not None:
        tables.append(measures)
    sampled = sampling_table(task)
    if sampled is not None:
        tables.append(sampled)
    return tables


def _objective_cells(cmp: Mapping[str, Any], decimals: int, mde_decimals: int) -> tuple[str, ...]:
    if not cmp:
        return (DASH, DASH, DASH)
    return (fixed_interval(cmp.get("diff"), cmp.get("lo"), cmp.get("hi"), decimals),
            pval(cmp.get("p_adjusted", cmp.get("p_holm"))), fixed(cmp.get("mde"), mde_decimals))


# The quality verdict is about quality; the column says which way the metric itself moved,
# so a larger error reads "higher", not "lower quality".
_METRIC_MOVED = {(True, "higher quality"): "higher", (True, "lower quality"): "lower",
                 (False, "higher quality"): "lower", (False, "lower quality"): "higher"}


def _quality_cells(cmp: Mapping[str, Any], higher_is_better: bool) -> tuple[str, ...]:
    if not cmp:
        return (DASH, DASH, DASH)
    verdict = str(cmp.get("verdict") or DASH)
    return (interval(cmp.get("diff"), cmp.get("lo"), cmp.get("hi"), signed=True),
            pval(cmp.get("p_adjusted", cmp.get("p_holm"))), _METRIC_MOVED.get((higher_is_better, verdict), verdict))


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
