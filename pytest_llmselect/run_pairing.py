"""Reading a baseline run's report and the current run's side by side for the gate: each
run's per-task case scores and costs, its candidates, the incumbent to compare with, and
the notes and reasons when the two runs do not pair up case for case (cases, suites,
generation settings, machines, partial runs).

Pure: the reports are dicts (docs/report-schema.md); no pytest, no torch, no I/O.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from pytest_llmselect.accounting import effective_scores
from pytest_llmselect.errors import DataError, SpecError

__all__ = ["model_of", "partial_note", "resolve_incumbent"]

_EXAMPLES = 3  # case ids quoted per unmatched-case explanation


def model_of(report: Mapping[str, Any], candidate: str) -> str | None:
    """The model a demonstration configuration (``zoo:tiny+knn:4``) runs on, from the report's
    candidates; None for a model (or a report from before configurations)."""
    for c in report.get("candidates") or []:
        if isinstance(c, Mapping) and c.get("name") == candidate and c.get("demos") \
                and c.get("model") and c.get("model") != candidate:
            return str(c["model"])
    return None


def _cases_by_task(report: Mapping[str, Any], candidate: str, *, with_model: bool = False) -> dict[str, dict[str, float]]:
    """``{task: {case_id: score}}`` as the run's estimates use them: errored cases at the
    metric's worst value unless that run excluded errors (accounting.effective_scores).
    ``with_model``: a configuration takes its model's cases on the tasks it did not run (a
    task without a demonstration pool runs once per model, shared_results.py)."""
    model = model_of(report, candidate) if with_model else None
    if model is not None:
        return {**_cases_by_task(report, model), **_cases_by_task(report, candidate)}
    policy = str((report.get("settings") or {}).get("errors", "worst"))
    cases = report.get("cases") or []
    tasks = {str(c["task"]): {"name": c["task"]} for c in cases}
    tasks.update({str(t["name"]): t for t in report.get("tasks") or []})
    out: dict[str, dict[str, float]] = {}
    for name, task in tasks.items():
        rows = effective_scores(cases, task, policy).get(candidate)
        if rows:
            out[name] = {cid: score for cid, (score, _) in rows.items()}
    return out


def partial_note(report: Mapping[str, Any], label: str) -> str | None:
    """One line saying that ``report`` is a partial run, or None when it is complete."""
    if report.get("complete") is not False:
        return None
    missing = [m for m in report.get("missing") or [] if isinstance(m, Mapping)]
    total = sum(m["count"] for m in missing if isinstance(m.get("count"), int))
    reasons = sorted({str(m.get("reason")) for m in missing})
    return (f"{label} is a PARTIAL run: {total} planned case(s) not run"
            + (f" ({'; '.join(reasons)})" if reasons else ""))


def _tasks(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(t["name"]): t for t in report.get("tasks") or []}


def _cost(task: Mapping[str, Any] | None, candidate: str, model: str | None = None) -> float | None:
    """The candidate's cost on ``task``, else (a configuration on a task without a pool) its ``model``'s."""
    rows = {r.get("candidate"): r for r in (task or {}).get("results") or []}
    row = rows.get(candidate) or (rows.get(model) if model is not None else None)
    if row is None:
        return None
    cost = row.get("cost")
    return float(cost) if isinstance(cost, (int, float)) and math.isfinite(cost) else None


def _candidate_names(report: Mapping[str, Any]) -> list[str]:
    names = [str(c["name"]) for c in report.get("candidates") or [] if isinstance(c, Mapping) and "name" in c]
    seen = dict.fromkeys(names + [str(c["candidate"]) for c in report.get("cases") or []])
    return list(seen)


def _fingerprint(report: Mapping[str, Any]) -> str | None:
    suite = report.get("suite")
    return suite.get("fingerprint") if isinstance(suite, Mapping) else None


def _generation(block: Mapping[str, Any] | None) -> Any:
    # Only compared when both runs recorded them: older reports have no such field.
    return (block or {}).get("generation")


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in sorted(ids)[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def _unmatched(task: str, base: set[str], cur: set[str], fp_differs: bool) -> list[str]:
    only_base, only_cur = base - cur, cur - base
    reasons: list[str] = []
    if only_base and not only_cur:
        why = "this run covers a subset of the baseline's cases (a filtered or cut-down suite)"
    elif only_cur and not only_base:
        why = "cases were added since the baseline"
    else:
        why = "the suite changed" if fp_differs else "the runs selected different cases"
    if only_base:
        reasons.append(f"{len(only_base)} baseline case(s) of {task!r} not in this run "
                       f"({_examples(sorted(only_base))}): {why}")
    if only_cur:
        reasons.append(f"{len(only_cur)} case(s) of {task!r} in this run not in the baseline "
                       f"({_examples(sorted(only_cur))}): {why}")
    return reasons


def _machine_note(baseline: Mapping[str, Any], current: Mapping[str, Any], notes: list[str]) -> None:
    mb, mc = baseline.get("machine"), current.get("machine")
    if not isinstance(mb, Mapping) or not isinstance(mc, Mapping):
        return
    keys = [k for k in ("platform", "cpu_count", "cuda", "torch") if mb.get(k) != mc.get(k)]
    if keys:
        diffs = "; ".join(f"{k} {mb.get(k)!r} vs {mc.get(k)!r}" for k in keys)
        notes.append(f"costs were measured on different machines ({diffs}): the cost ratio mixes them")


def resolve_incumbent(baseline: Mapping[str, Any], incumbent: str | None, label: str = "run") -> str:
    """The baseline candidate to compare with: ``incumbent`` if given (it must be one of the
    baseline's candidates), else the baseline's overall selection, else its only candidate."""
    names = _candidate_names(baseline)
    if incumbent is not None:
        if incumbent not in names:
            raise SpecError(f"--llm-incumbent {incumbent!r} is not a candidate of the baseline {label} "
                            f"(it has: {', '.join(names) or 'none'})")
        return incumbent
    selected = baseline.get("selected")
    if not selected and len(names) == 1:
        return names[0]  # unambiguous even when the baseline excluded it (e.g. under a min_quality)
    if not selected:
        raise DataError(f"the baseline {label} selected no candidate (every one was excluded); "
                        f"name the model to compare with: --llm-incumbent=NAME (one of: {', '.join(names)})")
    return str(selected)
