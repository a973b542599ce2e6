"""The CI gate's decision: is a candidate of this run safe to ship in place of a baseline
run's model? One verdict (PASS, FAIL, INCONCLUSIVE) per (task, candidate) of the current
run, the run's overall verdict, and the one line a gate item shows for each.

Inputs are two report dicts (docs/report-schema.md). The statistical test of each verdict
(non-inferiority within a margin, paired by case) is ``noninferiority``; reading the two
reports side by side, and why cases do not pair up, is ``run_pairing``. Each verdict is at
its own level: with k tasks and candidates, false alarms add up to about k * (1 - level).
docs/ci-gate.md explains the choices for users. Pure: no pytest, no torch, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

from pytest_llmselect.errors import DataError
from pytest_llmselect.noninferiority import GateSettings, _judge
from pytest_llmselect.run_pairing import (
    _candidate_names,
    _cases_by_task,
    _cost,
    _fingerprint,
    _generation,
    _machine_note,
    _tasks,
    _unmatched,
    model_of,
    partial_note,
    resolve_incumbent,
)

__all__ = [
    "VERDICTS", "GateResult", "GateSettings", "GateVerdict", "compare_runs", "partial_note",
    "resolve_incumbent", "verdict_line",
]

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


@dataclass(frozen=True)
class GateVerdict:
    """One (task, candidate) of the current run against the baseline's incumbent.

    ``diff``/``lo``/``hi``: quality(candidate) - quality(incumbent) on the shared cases
    and its interval, each end a one-sided ``level`` bound; ``p_value``: two-sided test
    of *no* difference (McNemar exact / sign-flip), as in the selection report.
    All four are None when nothing could be compared. ``cases_needed``: shared cases in
    total that would settle an INCONCLUSIVE verdict (80% power, observed difference and
    spread assumed); None when the verdict is settled or no number can be given.
    """

    task: str
    candidate: str
    incumbent: str
    n_shared: int
    n_unmatched_baseline: int
    n_unmatched_current: int
    unmatched_reasons: tuple[str, ...]
    diff: float | None
    lo: float | None
    hi: float | None
    p_value: float | None
    cost_ratio: float | None
    verdict: str
    reason: str
    cases_needed: int | None
    higher_is_better: bool = True
    quality: float | None = None            # candidate, on the shared cases
    incumbent_quality: float | None = None  # incumbent (baseline run), on the shared cases
    method: str | None = None


@dataclass(frozen=True)
class GateResult:
    incumbent: str
    settings: GateSettings
    verdicts: tuple[GateVerdict, ...]
    notes: tuple[str, ...] = ()  # run-level mismatches (suite version, machine, tasks only in the baseline)
    baseline: str = "baseline"   # how the baseline is named in messages (path, number or name)
    partial: tuple[str, ...] = ()  # which run is partial (planned cases not run), one line each

    @property
    def verdict(self) -> str:
        """FAIL if any verdict fails, else INCONCLUSIVE if any is, else PASS."""
        kinds = {v.verdict for v in self.verdicts}
        return "FAIL" if "FAIL" in kinds else "INCONCLUSIVE" if "INCONCLUSIVE" in kinds else "PASS"

    @property
    def failed(self) -> bool:
        """Whether the gate should fail the CI job."""
        return self.verdict == "FAIL" or (self.settings.strict and (self.verdict == "INCONCLUSIVE" or bool(self.partial)))

    def find(self, task: str, candidate: str) -> GateVerdict | None:
        return next((v for v in self.verdicts if v.task == task and v.candidate == candidate), None)


def compare_runs(baseline_report: Mapping[str, Any], current_report: Mapping[str, Any], settings: GateSettings,
                 incumbent: str | None = None, *, baseline_label: str = "run") -> GateResult:
    """Compare every candidate of ``current_report`` with the baseline's incumbent (its
    selected candidate, or ``incumbent``), task by task, on the cases both runs share.

    Raises ``SpecError`` for an unknown incumbent and ``DataError`` when the baseline
    selected nothing or no case of this run matches the baseline at all.
    """
    inc = resolve_incumbent(baseline_report, incumbent, baseline_label)
    # A configuration incumbent's result on a task without a demonstration pool is its model's.
    base_cases = _cases_by_task(baseline_report, inc, with_model=True)
    inc_model = model_of(baseline_report, inc)
    base_tasks, cur_tasks = _tasks(baseline_report), _tasks(current_report)
    fp_b, fp_c = _fingerprint(baseline_report), _fingerprint(current_report)
    fp_differs = fp_b is not None and fp_c is not None and fp_b != fp_c
    notes: list[str] = []
    if fp_differs:
        notes.append(f"the suite differs from the baseline's (fingerprint {fp_b} vs {fp_c}): "
                     "compared on the cases both runs share")
    gen_b, gen_c = _generation(baseline_report.get("settings")), _generation(current_report.get("settings"))
    if gen_b is not None and gen_c is not None and gen_b != gen_c:
        notes.append(f"generation settings differ: baseline {gen_b}, this run {gen_c}")
    only_base = sorted(set(base_cases) - set(cur_tasks))
    if only_base:
        notes.append(f"task(s) only in the baseline, not compared: {', '.join(only_base)}")
    _machine_note(baseline_report, current_report, notes)

    verdicts: list[GateVerdict] = []
    for cand in _candidate_names(current_report):
        for task, cur in _cases_by_task(current_report, cand).items():
            verdicts.append(_verdict_for(task, cand, inc, cur, base_cases.get(task), base_tasks.get(task),
                                         cur_tasks.get(task), fp_differs, settings, inc_model))
    cur_ids = {(str(c["task"]), str(c["case_id"])) for c in current_report.get("cases") or []}
    base_ids = {(t, c) for t, cs in base_cases.items() for c in cs}
    if cur_ids and not cur_ids & base_ids:
        raise DataError(
            f"no case of this run matches the baseline {baseline_label} (incumbent {inc}): "
            f"this run has {len(cur_ids)} case(s) of task(s) {', '.join(sorted(cur_tasks)) or 'none'}, "
            f"the baseline {len(base_ids)} of {', '.join(sorted(base_cases)) or 'none'}"
            + ("; the suites differ" if fp_differs else "") + ": nothing to compare"
        )
    if not verdicts:
        raise DataError("this run recorded no case: nothing to compare with the baseline")
    partial = tuple(p for p in (partial_note(baseline_report, f"the baseline {baseline_label}"),
                                partial_note(current_report, "this run")) if p)
    return GateResult(incumbent=inc, settings=settings, verdicts=tuple(verdicts), notes=(*partial, *notes),
                      baseline=baseline_label, partial=partial)


def _verdict_for(task: str, cand: str, inc: str, cur: Mapping[str, float], base: Mapping[str, float] | None,
                 base_task: Mapping[str, Any] | None, cur_task: Mapping[str, Any] | None, fp_differs: bool,
                 s: GateSettings, inc_model: str | None = None) -> GateVerdict:
    hib = bool((cur_task or {}).get("higher_is_better", True))
    common: dict[str, Any] = {"task": task, "candidate": cand, "incumbent": inc, "higher_is_better": hib}

    def not_compared(reason: str, n_base: int) -> GateVerdict:
        return GateVerdict(**common, n_shared=0, n_unmatched_baseline=n_base, n_unmatched_current=len(cur),
                           unmatched_reasons=(reason,), diff=None, lo=None, hi=None, p_value=None,
                           cost_ratio=None, verdict="INCONCLUSIVE", reason=reason, cases_needed=None)

    if base_task is None:
        return not_compared(f"task {task!r} is not in the baseline: nothing to compare with", 0)
    if not base:
        return not_compared(f"the baseline has no case of task {task!r} for {inc}", 0)
    for key in ("metric", "higher_is_better"):
        if key in base_task and cur_task is not None and key in cur_task and base_task[key] != cur_task[key]:
            return not_compared(f"task {task!r} changed its {key} ({base_task[key]!r} in the baseline, "
                                f"{cur_task[key]!r} now): the qualities are not comparable", len(base))
    shared = sorted(set(cur) & set(base))
    reasons = _unmatched(task, set(base), set(cur), fp_differs)
    gb, gc = _generation(base_task), _generation(cur_task)
    if gb is not None and gc is not None and gb != gc:
        reasons.append(f"generation settings of {task!r} differ: baseline {gb}, this run {gc}")
    if not shared:
        v = not_compared(f"no case of task {task!r} is in both runs", len(base))
        return replace(v, unmatched_reasons=tuple(reasons) or v.unmatched_reasons)
    a, b = [cur[c] for c in shared], [base[c] for c in shared]
    cost_c, cost_b = _cost(cur_task, cand), _cost(base_task, inc, inc_model)
    ratio = cost_c / cost_b if cost_c is not None and cost_b else None
    judged = _judge(inc, hib, a, b, ratio, s)
    return GateVerdict(
        **common, n_shared=len(shared), n_unmatched_baseline=len(set(base) - set(cur)),
        n_unmatched_current=len(set(cur) - set(base)), unmatched_reasons=tuple(reasons),
        cost_ratio=ratio, quality=math.fsum(a) / len(a), incumbent_quality=math.fsum(b) / len(b), **judged,
    )


def _fmt(x: float) -> str:
    return f"{x:+.3f}"


def verdict_line(v: GateVerdict, s: GateSettings) -> str:
    """One line for a gate item: verdict, diff [lo, hi], margin, p, cost ratio, cases needed."""
    parts = [f"{v.verdict} {v.task} {v.candidate} vs {v.incumbent}"]
    if v.diff is not None:
        parts.append(f"diff {_fmt(v.diff)} [{_fmt(v.lo or 0.0)}, {_fmt(v.hi or 0.0)}] "
                     f"({s.level:.0%} one-sided bounds, n={v.n_shared})")
        parts.append(f"margin {s.margin:g}")
        parts.append(f"p={v.p_value:.3g} (no difference)")
    parts.append("cost ratio " + (f"{v.cost_ratio:.3g}" if v.cost_ratio is not None else "unknown")
                 + (f" (budget {s.max_cost_ratio:g})" if s.max_cost_ratio is not None else ""))
    if v.cases_needed is not None:
        parts.append(f"~{v.cases_needed} shared cases needed")
    if v.n_unmatched_baseline or v.n_unmatched_current:
        parts.append(f"unmatched: {v.n_unmatched_baseline} baseline / {v.n_unmatched_current} current")
    return "; ".join(parts) + f" -- {v.reason}"
