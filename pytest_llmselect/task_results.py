"""One task's block of the report: a row per planned candidate (quality estimate and
interval, loss, cost, objective, counts of errored, missing and truncated cases), the
task's selection with its exclusions, Pareto front and alpha ranges, and the comparisons
and pick confidence of ``comparisons``.

Pure: no pytest, no torch, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

from pytest_llmselect.accounting import counts
from pytest_llmselect.analysis_settings import AnalysisSettings
from pytest_llmselect.comparisons import _compare, _cost_noise, _effective_by_candidate, _loss_of
from pytest_llmselect.cost import DEFAULT_PRICE, PRICE_KEYS, Price
from pytest_llmselect.costmodel import Estimate, alpha_boundaries, effective_price, group_cost, objective_interval
from pytest_llmselect.intervals import estimate
from pytest_llmselect.overall_pick import tie_break_text
from pytest_llmselect.pick_confidence import task_confidence
from pytest_llmselect.judge.summary import task_judge_block
from pytest_llmselect.sampling import add_sampling
from pytest_llmselect.selection import Constraints, Point, alpha_ranges, pareto_front, select

__all__ = ["price_of"]


def price_of(candidate: Mapping[str, Any]) -> Price:
    """The candidate's price as a report holds it; no rate at all means the default price.
    Any source other than "default" (a candidates file, a price table) is a quote."""
    p = candidate.get("price") or {}
    rates = {k: p.get(k) for k in ("usd_per_hour", "usd_per_million_input_tokens", "usd_per_million_output_tokens",
                                   "usd_per_pflop")}
    if all(v is None for v in rates.values()):
        return DEFAULT_PRICE
    return Price(**{k: p.get(k) for k in PRICE_KEYS}, source="default" if p.get("source") == "default" else "configured")


def _range_json(r: tuple[float, float] | None) -> list[float | None] | None:
    if r is None:
        return None
    return [r[0], None if math.isinf(r[1]) else r[1]]


def _selection_json(sel: Any) -> dict[str, Any]:
    return {
        "selected": sel.selected,
        "objectives": dict(sel.objectives),
        "excluded": dict(sel.excluded),
        "ties": list(sel.ties),
        "near_ties": list(sel.near_ties),
    }


def _estimates(rows: Sequence[Mapping[str, Any]]) -> list[Estimate]:
    return [Estimate(r["candidate"], r["cost"], r.get("cost_lo"), r.get("cost_hi"), r["loss"],
                     r.get("loss_lo"), r.get("loss_hi")) for r in rows]


def _selection_block(points: Sequence[Point], excluded: Mapping[str, str], alpha: float, constraints: Constraints,
                     near_tie: float, errors: Mapping[str, int] | None = None,
                     order: Sequence[str] | None = None) -> tuple[dict[str, Any], dict[str, tuple[float, float]]]:
    """The selection among ``points`` not in ``excluded`` (which it lists first among its
    exclusions, with their reasons), and the alpha ranges of the candidates it kept. Exact
    ties go to fewer ``errors``, then lower cost, then the candidates' ``order``."""
    eligible = [p for p in points if p.name not in excluded]
    sel = select(eligible, alpha, constraints, near_tie=near_tie, errors=errors, order=order) if eligible else None
    selection = _selection_json(sel) if sel else {
        "selected": None, "objectives": {}, "excluded": {}, "ties": [], "near_ties": []}
    selection["excluded"] = {**excluded, **selection["excluded"]}
    ranges = alpha_ranges([p for p in eligible if p.name not in selection["excluded"]]) if eligible else {}
    return selection, ranges


def _trade_offs(points: Sequence[Point], ranges: Mapping[str, tuple[float, float]],
                rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Pareto front of ``points``, each one's alpha range, and the alphas where the pick changes."""
    return {
        "pareto": list(pareto_front(points)) if points else [],
        "alpha_ranges": {p.name: _range_json(ranges.get(p.name)) for p in points},
        "alpha_boundaries": alpha_boundaries(ranges, _estimates(rows)),
    }


def _empty_row(cname: str, tally: Mapping[str, int], m: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate with no case in the estimate (failed to load, not run, all errored and
    excluded): it keeps its row, with its counts and no figures, and is never selected."""
    return {"candidate": cname, "n": 0, "n_errors": tally.get("errored", 0), "n_missing": tally.get("missing", 0),
            "n_scored": tally.get("scored", 0), "n_planned": tally.get("planned", 0), "n_excluded_errors": tally.get("errored", 0), "quality": None, "lo": None,
            "hi": None, "method": None, "loss": None, "cost": None, "objective": None, "measures": dict(m),
            "min_quality_passed": None, "comparison": None}


def _no_estimate_reason(tally: Mapping[str, int], status: Any, errors: Sequence[Any] = ()) -> str:
    if status == "load_failed":
        return "not evaluated: failed to load"
    if tally.get("errored") and not tally.get("scored"):
        causes = {str(e) for e in errors if e}
        # One cause for every case (a capability the candidate lacks): name it beside the exclusion.
        cause = f": {causes.pop()}" if len(causes) == 1 and len(errors) == tally["errored"] else ""
        return f"every case errored ({tally['errored']}): no output was scored{cause}"
    if tally.get("errored"):
        return f"no case in the estimate ({tally['errored']} errored, excluded)"
    return f"not evaluated: no case ran ({tally.get('missing', 0)} not run)"


def _task_block(task: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]],
                measures: Mapping[tuple[str, str], Mapping[str, Any]], s: AnalysisSettings,
                tallies: Mapping[tuple[str, str], Mapping[str, int]] | None = None) -> dict[str, Any]:
    name = task["name"]
    hib = bool(task.get("higher_is_better", True))
    tallies = tallies if tallies is not None else counts(cases, ())
    by_cand = _effective_by_candidate(cases, task, s.errors)
    results: list[dict[str, Any]] = []
    points: list[Point] = []
    excluded: dict[str, str] = {}
    all_binary = True
    for cand in candidates:
        cname = cand["name"]
        tally = tallies.get((name, cname))
        if tally is None:
            continue  # not planned for this task (e.g. a candidate added after this task ran)
        rows = by_cand.get(cname)
        m = dict(measures.get((name, cname)) or {})
        if not rows or not tally.get("scored"):
            # Every case errored: the worst-value policy would give it a quality while no output
            # was scored and no work measured (cost 0), so it could win a tie at the worst
            # quality with the lowest cost. A candidate that produced nothing is not a choice.
            results.append(_empty_row(cname, tally, m))
            errors = [c.get("error") for c in cases if c.get("task") == name and c.get("candidate") == cname
                      and c.get("status") == "errored"]
            excluded[cname] = _no_estimate_reason(tally, cand.get("status"), errors)
            continue
        scores = [r["score"] for r in rows.values()]
        all_binary = all_binary and all(v in (0.0, 1.0) for v in scores)
        groups = [r.get("group") for r in rows.values()]
        est = estimate(scores, groups=groups if any(g is not None for g in groups) else None,
                       level=s.level, seed=s.seed)
        score_range = task.get("score_range")
        if score_range and est.lo is not None and est.hi is not None:  # no interval beyond the possible scores
            est = replace(est, lo=max(est.lo, float(score_range[0])), hi=min(est.hi, float(score_range[1])))
        loss = _loss_of(est.mean, hib)
        if not loss >= 0:  # a custom metric scored outside [0, 1] without declaring its range
            results.append(_empty_row(cname, tally, m))
            excluded[cname] = (f"quality {est.mean:.4g} gives a negative loss: declare the metric's range "
                               "with llm_task(score_range=(low, high))")
            continue
        price = effective_price(price_of(cand), DEFAULT_PRICE, s.cost_model)
        cost, cost_lo, cost_hi, cost_method = group_cost(len(scores), m, price, s.level, s.cost_model)
        loss_lo, loss_hi = ((1.0 - est.hi, 1.0 - est.lo) if hib else (est.lo, est.hi)) \
            if est.lo is not None and est.hi is not None else (None, None)
        objective_lo, objective_hi = objective_interval(cost, cost_lo, cost_hi, loss, loss_lo, loss_hi, s.alpha)
        energy = m.get("energy_joules")
        min_q = task.get("min_quality")
        passed = None
        if min_q is not None:
            passed = est.mean >= min_q if hib else est.mean <= min_q
            if not passed:
                excluded[cname] = f"quality {est.mean:.4g} {'below' if hib else 'above'} min_quality {min_q:g}"
        if tally.get("raced_out"):  # dropped by the race: its figures rest on the cases it ran
            excluded[cname] = f"raced out after {tally['scored'] + tally['errored']} cases"
        results.append({
            "candidate": cname, "n": est.n, "n_errors": tally["errored"], "n_missing": tally["missing"],
            **({"n_raced_out": tally["raced_out"]} if tally.get("raced_out") else {}),
            "n_scored": tally["scored"], "n_planned": tally["planned"],
            "n_excluded_errors": tally["errored"] if s.errors == "exclude" else tally["errored"] - (
                len(scores) - tally["scored"]),
            "quality": est.mean, "lo": est.lo, "hi": est.hi,
            "method": est.method, "loss": loss, "loss_lo": loss_lo, "loss_hi": loss_hi,
            "cost": cost, "cost_lo": cost_lo, "cost_hi": cost_hi, "cost_method": cost_method,
            "objective": s.alpha * loss + cost, "objective_lo": objective_lo, "objective_hi": objective_hi,
            "energy_joules_per_1000_cases": None if energy is None else energy / len(scores) * 1000.0,
            "measures": m, "min_quality_passed": passed, "comparison": None, "cost_comparison": None,
            "quality_comparison": None,
        })
        points.append(Point(name=cname, cost=cost, loss=loss, quality=est.mean,
                            latency_p95=m.get("latency_p95"), peak_memory_bytes=m.get("peak_memory_bytes")))
    for row in results:  # prompts that did not fit the context window: counted, never silent
        mine = [c for c in cases if c.get("task") == name and c.get("candidate") == row["candidate"]
                and isinstance(c.get("truncated_tokens"), int) and c["truncated_tokens"] > 0]
        row["n_truncated"] = len(mine)
        row["truncated_tokens"] = sum(c["truncated_tokens"] for c in mine)
    constraints = s.constraints
    if not hib and constraints.min_quality is not None:
        # For a lower-is-better score the floor on quality is a ceiling on the score, as a
        # task's own min_quality is (select() compares quality >= min_quality).
        ceiling = constraints.min_quality
        for p in points:
            if p.name not in excluded and p.quality is not None and p.quality > ceiling:
                excluded[p.name] = f"quality {p.quality:.4g} above min_quality {ceiling:g}"
        constraints = replace(constraints, min_quality=None)
    selection, ranges = _selection_block(points, excluded, s.alpha, constraints, s.near_tie,
                                         errors={r["candidate"]: r["n_errors"] for r in results},
                                         order=[c["name"] for c in candidates])
    selection["tie_break"] = tie_break_text(selection, results)
    selected = selection["selected"]
    selection["cost_within_noise"] = _cost_noise(results, selected, s.level)
    confidence = {"pick_probability": None, "clear_pick": None, "clear_reason": None, "runner_up": None,
                  "cases_needed": None, "settle": None}
    if selected is not None:
        # Candidates under min_quality stay in: below it beyond doubt, they do not keep the pick open.
        live = [r for r in results if r["n"] > 0
                and (r["candidate"] in excluded or r["candidate"] not in selection["excluded"])]
        _compare(results, by_cand, selected, task, s)
        confidence = task_confidence(results, live, by_cand, selected, task, candidates,
                                     selection["cost_within_noise"], s)
    judge_block = task_judge_block(task, cases, candidates, level=s.level, seed=s.seed)
    add_sampling(results, [c for c in cases if c.get("task") == name], level=s.level)
    return {
        "name": name, "metric": task.get("metric"), "higher_is_better": hib, "binary": all_binary,
        "n_cases": len({str(c.get("case_id")) for c in cases if c.get("task") == name}),
        "score_range": task.get("score_range"),
        "min_quality": task.get("min_quality"),
        "weight": 1.0 if task.get("weight") is None else task["weight"],
        "budgets": dict(task.get("budgets") or {}), "generation": task.get("generation"),
        "results": results, "selection": selection,
        **_trade_offs(points, ranges, results),
        **confidence,
        **({"demos": dict(task["demos"])} if task.get("demos") else {}),  # the task's demonstration pool
        **({"sampling": dict(task["sampling"])} if task.get("sampling") else {}),
        **({"judge": judge_block} if judge_block is not None else {}),
    }
