"""The CI gate: is a candidate of this run safe to ship in place of a baseline run's model?

Pure: no pytest, no torch, no I/O. Inputs are two report dicts (docs/report-schema.md);
the output is one verdict per (task, candidate) of the current run.

The test is *non-inferiority*, paired by (task, case id). With ``d = quality(candidate) -
quality(incumbent)`` on the cases both runs share and a margin ``m >= 0``:

- PASS when the one-sided ``level`` lower bound of ``d`` is above ``-m`` (not worse by
  more than the margin, with confidence ``level``) and the cost is within budget;
- FAIL when the one-sided upper bound is below ``-m`` (worse by more than the margin,
  with the same confidence) or the cost ratio is over ``max_cost_ratio``;
- INCONCLUSIVE otherwise, with the number of cases that would settle it.

For a metric where lower is better the same is done on ``-d``. The interval of ``d`` is
Tango's score interval for 0/1 scores and ``stats.paired_compare``'s paired bootstrap
otherwise (see ``_bounds`` for why not Newcombe's); FAIL also needs the exact test of no
difference to agree. Each verdict is at its own level: with k tasks and candidates, false
alarms add up to about k * (1 - level). docs/ci-gate.md explains the choices for users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from pytest_llmselect.accounting import effective_scores
from pytest_llmselect.confidence import tango_interval as _tango_interval
from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.stats import cases_needed as _cases_needed
from pytest_llmselect.stats import PairedComparison, normal_quantile, paired_compare, sample_sd

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
_EXAMPLES = 3  # case ids quoted per unmatched-case explanation


@dataclass(frozen=True)
class GateSettings:
    """``margin``: how much worse (in the task's quality units) still counts as not worse.
    ``level``: one-sided confidence of each verdict. ``strict``: INCONCLUSIVE fails too."""

    margin: float = 0.02
    max_cost_ratio: float | None = None
    level: float = 0.95
    strict: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        m = self.margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m < 0:
            raise SpecError(f"--llm-margin must be a finite number >= 0, got {m!r} of type {type(m).__name__}")
        r = self.max_cost_ratio
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float))
                              or not math.isfinite(r) or r <= 0):
            raise SpecError(f"--llm-max-cost-ratio must be a finite number > 0, got {r!r} of type {type(r).__name__}")
        lv = self.level
        if isinstance(lv, bool) or not isinstance(lv, (int, float)) or not 0.5 < lv < 1:
            raise SpecError(f"gate level must be a number strictly between 0.5 and 1, got {lv!r}")


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


# ---- reading the two reports ------------------------------------------------------------


def _cases_by_task(report: Mapping[str, Any], candidate: str) -> dict[str, dict[str, float]]:
    """``{task: {case_id: score}}`` as the run's estimates use them: errored cases at the
    metric's worst value unless that run excluded errors (accounting.effective_scores)."""
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


def _cost(task: Mapping[str, Any] | None, candidate: str) -> float | None:
    for r in (task or {}).get("results") or []:
        if r.get("candidate") == candidate:
            cost = r.get("cost")
            return float(cost) if isinstance(cost, (int, float)) and math.isfinite(cost) else None
    return None


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


# ---- the test -----------------------------------------------------------------------------


def _is_binary(xs: Sequence[float]) -> bool:
    return all(x == 0.0 or x == 1.0 for x in xs)


def _scale(a: Sequence[float], b: Sequence[float]) -> float:
    """The most one case can move the mean by: 1 for scores in [0, 1], else the observed range."""
    pooled = [*a, *b]
    return 1.0 if all(0.0 <= x <= 1.0 for x in pooled) else (max(pooled) - min(pooled)) or 1.0


def _bounds(a: Sequence[float], b: Sequence[float], z: float, cmp: PairedComparison) -> tuple[float, float, str]:
    """The interval of diff = mean(a) - mean(b) whose ends are one-sided ``s.level`` bounds.

    0/1 scores: Tango's score interval, the usual one for paired non-inferiority, rather
    than ``paired_compare``'s Newcombe method 10 (which, before its phi got Newcombe's
    continuity correction, collapsed to [0, 0] for two identical runs). Tango's lower bound
    with no discordant pair is -z^2/(n+z^2), the Wilson bound on how often the two could
    disagree unseen.
    Other scores: ``cmp``, ``paired_compare``'s paired bootstrap at two-sided ``2*level-1``,
    widened when no case differs by the same unseen-disagreement bound (a bootstrap of
    all-zero differences would claim certainty).
    """
    n = len(a)
    if _is_binary(a) and _is_binary(b):
        b10 = sum(1 for x, y in zip(a, b) if x > y)
        c01 = sum(1 for x, y in zip(a, b) if x < y)
        lo, hi = _tango_interval(b10, c01, n, z)
        return lo, hi, "tango_score"
    lo, hi = cmp.lo, cmp.hi
    if all(x == y for x, y in zip(a, b)):
        unseen = _scale(a, b) * z * z / (n + z * z)
        lo, hi = min(lo, -unseen), max(hi, unseen)
    return lo, hi, f"bootstrap ({cmp.method} p)"


_MAX_CASES = 10_000_000


def _needed(a: Sequence[float], b: Sequence[float], oriented: float, hib: bool, s: GateSettings) -> int | None:
    """Shared cases that would settle the verdict with 80% power if the observed proportions
    (binary) or the observed mean and SD of the differences (otherwise) held; None when the
    estimate sits on the margin or more than ten million cases would be needed. With no
    differing case: the n where the unseen-disagreement bound clears the margin,
    z^2 (scale/margin - 1) (133 at margin 0.02, 52 at 0.05)."""
    distance = abs(oriented + s.margin)
    if distance == 0.0:
        return None
    n = len(a)
    # The usual power-adjusted quantile; when no case differed nothing varies under the
    # "observed proportions hold" assumption, so the plain quantile settles it for sure.
    z = normal_quantile(s.level) + (normal_quantile(0.8) if any(x != y for x, y in zip(a, b)) else 0.0)
    to_pass = oriented > -s.margin
    if _is_binary(a) and _is_binary(b):
        b10 = sum(1 for x, y in zip(a, b) if x > y)
        c01 = sum(1 for x, y in zip(a, b) if x < y)

        def settled(m: int) -> bool:
            k = m / n
            lo, hi = _tango_interval(b10 * k, c01 * k, float(m), z)
            worst, best = (lo, hi) if hib else (-hi, -lo)
            if to_pass:
                return worst > -s.margin
            # FAIL also needs the test of no difference (normal form of McNemar's) to agree.
            lost, won = (c01 * k, b10 * k) if hib else (b10 * k, c01 * k)
            return best < -s.margin and lost + won > 0 and (lost - won) / math.sqrt(lost + won) > z

        low, high = n, 2 * n
        while not settled(high):
            low, high = high, high * 2
            if high > _MAX_CASES:
                return None
        while high - low > 1:  # settled(high) holds, settled(low) does not
            mid = (low + high) // 2
            low, high = (low, mid) if settled(mid) else (mid, high)
        return high
    diffs = [x - y for x, y in zip(a, b)]
    mean = math.fsum(diffs) / n
    sd = sample_sd(diffs, mean) if n > 1 else 0.0
    if sd == 0.0:  # no case differed: the unseen-disagreement bound scale*z^2/(m+z^2) must drop below the margin
        rough = z * z * (_scale(a, b) / s.margin - 1.0)
    else:
        ratio = z * sd / distance
        rough = ratio * ratio  # inf, never OverflowError, for a vanishing distance
    if not rough < _MAX_CASES:  # also keeps a vanishing margin from overflowing the integer conversion
        return None
    if sd == 0.0:
        return math.floor(rough) + 1
    # stats.cases_needed is two-sided at alpha: 2*(1-level) makes it one-sided at 1-level.
    return _cases_needed(sd, distance, alpha=2.0 * (1.0 - s.level), power=0.8)


def _judge(inc: str, hib: bool, a: list[float], b: list[float],
           cost_ratio: float | None, s: GateSettings) -> dict[str, Any]:
    n = len(a)
    diff = math.fsum(x - y for x, y in zip(a, b)) / n
    cmp = paired_compare(a, b, level=2.0 * s.level - 1.0, seed=s.seed)
    lo, hi, method = _bounds(a, b, normal_quantile(s.level), cmp)
    p_value = cmp.p_value  # of no difference at all: McNemar exact / sign-flip, as in the selection report
    # "better" orientation: positive means the candidate is better.
    worst, best = (lo, hi) if hib else (-hi, -lo)
    oriented = diff if hib else -diff
    over_budget = s.max_cost_ratio is not None and cost_ratio is not None and cost_ratio > s.max_cost_ratio
    cost_unknown = s.max_cost_ratio is not None and cost_ratio is None
    word = "worse" if hib else "higher (worse)"
    budget = (f"cost ratio {cost_ratio:.3g} over the budget {s.max_cost_ratio:g}" if over_budget else "")
    needed = None
    # FAIL also needs the exact test of no difference to agree, one-sided: the score interval
    # is asymptotic, and with a handful of cases (4 of 4 discordant) it alone would call a
    # difference the exact McNemar test cannot (p = 0.125), which would read as a contradiction.
    exact_worse = oriented < 0 and p_value / 2.0 < 1.0 - s.level
    if best < -s.margin and exact_worse:
        verdict = "FAIL"
        reason = f"significantly {word} than {inc} by more than the margin {s.margin:g}" + (
            f"; and {budget}" if budget else "")
    elif over_budget:
        verdict, reason = "FAIL", budget
    elif worst > -s.margin and not cost_unknown:
        verdict, reason = "PASS", f"not {word} than {inc} by more than the margin {s.margin:g}"
    elif worst > -s.margin:  # quality settled, but the budget could not be checked
        verdict = "INCONCLUSIVE"
        reason = f"not {word} by more than the margin, but the cost ratio is unknown, so the budget is unchecked"
    else:
        verdict = "INCONCLUSIVE"
        needed = _needed(a, b, oriented, hib, s)
        if best < -s.margin:
            reason = (f"{word} than {inc} by more than the margin by the interval, but with {n} shared cases "
                      f"the exact test of no difference cannot confirm it (p={p_value:.3g})")
        else:
            reason = f"cannot tell whether {word} than {inc} by more than the margin {s.margin:g} with {n} shared cases"
    return {"diff": diff, "lo": lo, "hi": hi, "p_value": p_value, "method": method,
            "verdict": verdict, "reason": reason, "cases_needed": needed}


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


def compare_runs(baseline_report: Mapping[str, Any], current_report: Mapping[str, Any], settings: GateSettings,
                 incumbent: str | None = None, *, baseline_label: str = "run") -> GateResult:
    """Compare every candidate of ``current_report`` with the baseline's incumbent (its
    selected candidate, or ``incumbent``), task by task, on the cases both runs share.

    Raises ``SpecError`` for an unknown incumbent and ``DataError`` when the baseline
    selected nothing or no case of this run matches the baseline at all.
    """
    inc = resolve_incumbent(baseline_report, incumbent, baseline_label)
    base_cases = _cases_by_task(baseline_report, inc)
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
                                         cur_tasks.get(task), fp_differs, settings))
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


def _machine_note(baseline: Mapping[str, Any], current: Mapping[str, Any], notes: list[str]) -> None:
    mb, mc = baseline.get("machine"), current.get("machine")
    if not isinstance(mb, Mapping) or not isinstance(mc, Mapping):
        return
    keys = [k for k in ("platform", "cpu_count", "cuda", "torch") if mb.get(k) != mc.get(k)]
    if keys:
        diffs = "; ".join(f"{k} {mb.get(k)!r} vs {mc.get(k)!r}" for k in keys)
        notes.append(f"costs were measured on different machines ({diffs}): the cost ratio mixes them")


def _verdict_for(task: str, cand: str, inc: str, cur: Mapping[str, float], base: Mapping[str, float] | None,
                 base_task: Mapping[str, Any] | None, cur_task: Mapping[str, Any] | None, fp_differs: bool,
                 s: GateSettings) -> GateVerdict:
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
    cost_c, cost_b = _cost(cur_task, cand), _cost(base_task, inc)
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
