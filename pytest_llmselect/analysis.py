"""From per-case scores and measurements to the report dict (docs/report-schema.md).

Pure: no pytest, no torch, no I/O. Used at session end and again when a saved run is
re-selected with another alpha (``python -m pytest_llmselect report run.json --alpha 10``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from pytest_llmselect.accounting import counts, effective_scores
from pytest_llmselect.confidence import TaskData, cases_to_settle, objective_compare, pick_probability
from pytest_llmselect.cost import DEFAULT_PRICE, PRICE_KEYS, Price, dollars_per_1000_cases
from pytest_llmselect.costmodel import (
    COST_MODELS,
    Estimate,
    alpha_boundaries,
    cost_difference,
    effective_price,
    group_cost,
    mean_interval,
    objective_interval,
)
from pytest_llmselect.errors import SpecError
from pytest_llmselect.selection import Constraints, Point, alpha_ranges, pareto_front, select
from pytest_llmselect.selection import overall as combine_tasks
from pytest_llmselect.stats import estimate, normal_quantile

SCHEMA_VERSION = 1
UNITS = {
    "cost": "USD per 1,000 cases",
    "alpha": "USD per 1,000 cases per unit of loss",
    "latency": "s",
    "memory": "bytes",
    "throughput": "tokens/s",
    "flops": "FLOP (estimate: 2 x parameters x tokens)",
    "energy": "J per 1,000 cases",
}


# How each figure is made, for the report to say (rendered verbatim by every format).
METHODS = {
    "quality_interval": ("0/1 scores: Wilson score interval; other scores: Student t interval of the mean "
                         "(near-nominal coverage at small n, where bootstrap and normal intervals run short: "
                         "Bowyer, Aitchison & Ivanova 2025, 'Don't use the CLT in LLM evals with fewer than a "
                         "few hundred datapoints'); grouped cases: cluster-robust t"),
    "comparison": ("objective cost + alpha x loss of each candidate minus the selected one's, per case; "
                   "0/1 losses: Tango's score test with continuity correction (McNemar's with Edwards' correction at a difference of 0) and the interval it "
                   "implies; other losses: paired t with the cost's own variance added (Welch-Satterthwaite); "
                   "Bonferroni over the comparisons, simultaneous intervals"),
    "cost_interval": ("time cost model: Student t interval of the mean over the timed rounds, after an untimed "
                      "warm-up; tokens and flops cost models: exact. Objective interval: the quality and cost "
                      "intervals' half-widths in quadrature. Costs within noise: Welch t interval of the "
                      "difference holds 0"),
    "pick_probability": ("share of paired bootstrap resamples of the cases (and of the timed rounds, when "
                         "recorded) each candidate wins; clear pick: the selected wins at least the "
                         "confidence level of them and every other candidate is significantly worse"),
}


@dataclass(frozen=True)
class AnalysisSettings:
    alpha: float
    level: float = 0.95
    seed: int = 0
    weights: Mapping[str, float] | None = None
    constraints: Constraints = field(default_factory=Constraints)
    near_tie: float = 0.01
    n_resamples: int = 2000
    errors: str = "worst"  # errored cases: at the metric's worst value, or "exclude"d from estimates
    cost_model: str = "time"

    def __post_init__(self) -> None:
        if self.cost_model not in COST_MODELS:
            raise SpecError(f"cost_model must be one of {', '.join(COST_MODELS)}, got {self.cost_model!r}")


def price_of(candidate: Mapping[str, Any]) -> Price:
    """The candidate's price as a report holds it; no rate at all means the default price.
    Any source other than "default" (a candidates file, a price table) is a quote."""
    p = candidate.get("price") or {}
    rates = {k: p.get(k) for k in ("usd_per_hour", "usd_per_million_input_tokens", "usd_per_million_output_tokens")}
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


def _verdict(cmp: Any) -> str:
    """About the objective ``cost + alpha * loss``, the quantity the selection minimises."""
    if cmp.worse:
        return "significantly worse on the objective"
    if cmp.better:
        return "significantly better on the objective (on the shared cases)"
    need = cases_to_settle(cmp)
    settle = ("practically a tie: more than ten million cases would be needed" if need is None
              else f"about {need} cases would likely settle it")
    return f"not distinguishable on the objective ({settle})"


def _quality_verdict(cmp: Any, higher_is_better: bool) -> str:
    if not (cmp.worse or cmp.better):
        return "not distinguishable"
    return "higher quality" if cmp.worse == higher_is_better else "lower quality"


def _loss_of(score: float, hib: bool) -> float:
    return 1.0 - score if hib else score


def cost_se(row: Mapping[str, Any], level: float) -> float:
    """Standard error of a row's cost: from its interval (``cost_lo``/``cost_hi`` at ``level``,
    taken as a normal interval), else from the spread of the timed rounds
    (``measures.round_seconds``: ``cost * sd / (sqrt(k) * mean)`` of the k rounds), else 0
    (the cost is taken as known)."""
    lo, hi = row.get("cost_lo"), row.get("cost_hi")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo:
        return (float(hi) - float(lo)) / (2.0 * normal_quantile(0.5 + level / 2.0))
    rounds = _rounds(row)
    if rounds and math.fsum(rounds) > 0:
        est = mean_interval(rounds, level)  # the rounds' mean and SD, as the cost interval uses them
        return float(row["cost"]) * est.sd / (math.sqrt(est.n) * est.mean)
    return 0.0


def _rounds(row: Mapping[str, Any]) -> list[float] | None:
    m = row.get("measures") or {}
    rounds = m.get("round_seconds")
    if m.get("cost_model", "time") != "time" or not isinstance(rounds, list) or len(rounds) < 2:
        return None
    return [float(x) for x in rounds]


def _effective_by_candidate(cases: Sequence[Mapping[str, Any]], task: Mapping[str, Any],
                            policy: str) -> dict[str, dict[str, Mapping[str, Any]]]:
    """``{candidate: {case_id: {"score", "group"}}}`` of one task as the estimates use them:
    errored cases at the worst value, or left out (accounting.effective_scores)."""
    return {cname: {cid: {"score": score, "group": group} for cid, (score, group) in rows.items()}
            for cname, rows in effective_scores(cases, task, policy).items() if rows}


def _empty_row(cname: str, tally: Mapping[str, int], m: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate with no case in the estimate (failed to load, not run, all errored and
    excluded): it keeps its row, with its counts and no figures, and is never selected."""
    return {"candidate": cname, "n": 0, "n_errors": tally.get("errored", 0), "n_missing": tally.get("missing", 0),
            "n_scored": tally.get("scored", 0), "n_planned": tally.get("planned", 0), "n_excluded_errors": tally.get("errored", 0), "quality": None, "lo": None,
            "hi": None, "method": None, "loss": None, "cost": None, "objective": None, "measures": dict(m),
            "min_quality_passed": None, "comparison": None}


def _no_estimate_reason(tally: Mapping[str, int], status: Any) -> str:
    if status == "load_failed":
        return "not evaluated: failed to load"
    if tally.get("errored") and not tally.get("scored"):
        return f"every case errored ({tally['errored']}): no output was scored"
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
            excluded[cname] = _no_estimate_reason(tally, cand.get("status"))
            continue
        scores = [r["score"] for r in rows.values()]
        all_binary = all_binary and all(v in (0.0, 1.0) for v in scores)
        groups = [r.get("group") for r in rows.values()]
        est = estimate(scores, groups=groups if any(g is not None for g in groups) else None,
                       level=s.level, seed=s.seed)
        score_range = task.get("score_range")
        if score_range and est.lo is not None and est.hi is not None:  # no interval beyond the possible scores
            est = replace(est, lo=max(est.lo, float(score_range[0])), hi=min(est.hi, float(score_range[1])))
        loss = 1.0 - est.mean if hib else est.mean
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
        results.append({
            "candidate": cname, "n": est.n, "n_errors": tally["errored"], "n_missing": tally["missing"],
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
    eligible = [p for p in points if p.name not in excluded]
    sel = select(eligible, s.alpha, constraints, near_tie=s.near_tie) if eligible else None
    selection = _selection_json(sel) if sel else {
        "selected": None, "objectives": {}, "excluded": {}, "ties": [], "near_ties": []}
    selection["excluded"] = {**excluded, **selection["excluded"]}
    selected = selection["selected"]
    ranges = alpha_ranges([p for p in eligible if p.name not in selection["excluded"]]) if eligible else {}
    confidence = {"pick_probability": None, "clear_pick": None, "runner_up": None, "cases_needed": None}
    if selected is not None:
        # Candidates under min_quality stay in the resampling: a resample may lift them over it.
        live = [r for r in results if r["n"] > 0
                and (r["candidate"] in excluded or r["candidate"] not in selection["excluded"])]
        cmps = _compare(results, by_cand, selected, hib, s)
        confidence = _task_confidence(live, by_cand, cmps, selected, task.get("min_quality"), hib, s)
    selection["cost_within_noise"] = _cost_noise(results, selected, s.level)
    return {
        "name": name, "metric": task.get("metric"), "higher_is_better": hib, "binary": all_binary,
        "n_cases": len({str(c.get("case_id")) for c in cases if c.get("task") == name}),
        "score_range": task.get("score_range"),
        "min_quality": task.get("min_quality"),
        "weight": 1.0 if task.get("weight") is None else task["weight"],
        "budgets": dict(task.get("budgets") or {}), "generation": task.get("generation"),
        "results": results, "selection": selection,
        "pareto": list(pareto_front(points)) if points else [],
        "alpha_ranges": {p.name: _range_json(ranges.get(p.name)) for p in points},
        "alpha_boundaries": alpha_boundaries(ranges, _estimates(results)),
        **confidence,
        **({"demos": dict(task["demos"])} if task.get("demos") else {}),  # the task's demonstration pool
    }


def task_data(rows: Sequence[Mapping[str, Any]], by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]],
              hib: bool, level: float, min_quality: float | None = None) -> TaskData:
    """The resampling inputs of one task: per-case losses over the union of case ids, and
    the task's ``min_quality`` as the largest eligible loss."""
    ids = sorted({cid for r in rows for cid in by_cand[r["candidate"]]})
    losses = {r["candidate"]: [_loss_of(by_cand[r["candidate"]][c]["score"], hib)
                               if c in by_cand[r["candidate"]] else math.nan for c in ids] for r in rows}
    return TaskData(losses=losses, costs={r["candidate"]: r["cost"] for r in rows},
                    cost_se={r["candidate"]: cost_se(r, level) for r in rows},
                    rounds={r["candidate"]: _rounds(r) or [] for r in rows},
                    max_loss=None if min_quality is None else (1.0 - min_quality if hib else min_quality))


def _min_quality_settled(row: Mapping[str, Any], min_quality: float | None, hib: bool) -> bool:
    """Whether the whole quality interval lies on the side of ``min_quality`` the row's mean is on."""
    if min_quality is None:
        return True
    above = row["lo"] >= min_quality if hib else row["hi"] <= min_quality
    below = row["hi"] < min_quality if hib else row["lo"] > min_quality
    return above if row["min_quality_passed"] else below


def _task_confidence(live: Sequence[dict[str, Any]], by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]],
                     cmps: Mapping[str, Any], selected: str, min_quality: float | None, hib: bool,
                     s: AnalysisSettings) -> dict[str, Any]:
    """Pick probability of each candidate not excluded by a hard constraint (min_quality is
    applied in every resample). The pick is clear when the selected wins at least ``level``
    of the resamples, passes min_quality beyond doubt, and every other candidate is
    significantly worse on the objective or below min_quality beyond doubt."""
    pick = pick_probability({"task": task_data(live, by_cand, hib, s.level, min_quality)}, s.alpha,
                            candidates=[r["candidate"] for r in live], n_resamples=s.n_resamples, seed=s.seed)
    others = [r for r in live if r["candidate"] != selected]
    open_ = [r for r in others if not (r["candidate"] in cmps and cmps[r["candidate"]].worse)
             and not (r["min_quality_passed"] is False and _min_quality_settled(r, min_quality, hib))]
    sel_row = next(r for r in live if r["candidate"] == selected)
    share = pick.shares.get(selected, 0.0)
    runner_up = max(others, key=lambda r: (pick.shares[r["candidate"]], -r["objective"]), default=None)
    needed: int | None = None
    if open_:
        wants = [cases_to_settle(cmps[r["candidate"]]) if r["candidate"] in cmps else None for r in open_]
        needed = None if None in wants else max(w for w in wants if w is not None)
    clear = not open_ and share >= s.level and _min_quality_settled(sel_row, min_quality, hib)
    return {"pick_probability": pick.shares, "clear_pick": clear,
            "runner_up": None if runner_up is None else runner_up["candidate"], "cases_needed": needed}


def _estimates(rows: Sequence[Mapping[str, Any]]) -> list[Estimate]:
    return [Estimate(r["candidate"], r["cost"], r.get("cost_lo"), r.get("cost_hi"), r["loss"],
                     r.get("loss_lo"), r.get("loss_hi")) for r in rows]


def _cost_noise(rows: Sequence[dict[str, Any]], selected: str | None, level: float) -> list[str]:
    """Fill each row's ``cost_comparison`` with the selected; the names whose difference is noise."""
    base = next((r for r in rows if r["candidate"] == selected), None)
    if base is None:
        return []
    noisy = []
    for row in rows:
        if row is base or row.get("cost") is None or base.get("cost") is None:  # no case: no cost
            continue
        diff = cost_difference(
            (row["cost"], row.get("cost_lo"), row.get("cost_hi"), len(row["measures"].get("round_seconds") or [])),
            (base["cost"], base.get("cost_lo"), base.get("cost_hi"), len(base["measures"].get("round_seconds") or [])),
            level)
        if diff is None:
            continue
        row["cost_comparison"] = {"vs": selected, "diff": diff.diff, "lo": diff.lo, "hi": diff.hi,
                                  "within_noise": diff.within_noise, "method": diff.method}
        if diff.within_noise:
            noisy.append(row["candidate"])
    return noisy


def _compare(results: list[dict[str, Any]], by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]],
             selected: str, hib: bool, s: AnalysisSettings) -> dict[str, Any]:
    """Objective comparison (``comparison``) and quality comparison (``quality_comparison``)
    of every other candidate with the selected one, Bonferroni over the m comparisons."""
    base = by_cand[selected]
    base_row = next(r for r in results if r["candidate"] == selected)
    pairs = []
    for row in results:
        if row["candidate"] == selected:
            continue
        mine = by_cand.get(row["candidate"])
        if not mine or not row["n"]:
            continue  # no case in the estimate (or no usable loss): nothing to compare
        shared = sorted(set(mine) & set(base))
        if len(shared) >= 2:
            pairs.append((row, shared))
    m = max(1, len(pairs))
    out = {}
    for row, shared in pairs:
        mine = by_cand[row["candidate"]]
        qa, qb = [mine[c]["score"] for c in shared], [base[c]["score"] for c in shared]
        cmp = objective_compare([_loss_of(x, hib) for x in qa], [_loss_of(x, hib) for x in qb], alpha=s.alpha,
                                cost_a=row["cost"], cost_b=base_row["cost"], cost_se_a=cost_se(row, s.level),
                                cost_se_b=cost_se(base_row, s.level), level=s.level, m=m)
        q = objective_compare(qa, qb, alpha=1.0, level=s.level, m=m)
        out[row["candidate"]] = cmp
        row["comparison"] = {
            "vs": selected, "n": cmp.n, "diff": cmp.diff, "lo": cmp.lo, "hi": cmp.hi,
            "p_value": cmp.p_value, "p_adjusted": cmp.p_adjusted, "adjustment": f"bonferroni x{m}",
            "method": cmp.method, "mde": cmp.mde, "loss_diff": cmp.loss_diff, "cost_diff": cmp.cost_diff,
            "cost_se": cmp.cost_se, "cases_needed": cases_to_settle(cmp), "verdict": _verdict(cmp),
        }
        row["quality_comparison"] = {
            "vs": selected, "n": q.n, "diff": q.diff, "lo": q.lo, "hi": q.hi, "p_value": q.p_value,
            "p_adjusted": q.p_adjusted, "adjustment": f"bonferroni x{m}", "method": q.method, "mde": q.mde,
            "verdict": _quality_verdict(q, hib),
        }
    return out


def _overall_confidence(blocks: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]],
                        weights: Mapping[str, float], selection: Mapping[str, Any],
                        s: AnalysisSettings) -> dict[str, Any]:
    """Pick probability over the weighted tasks, each task's cases resampled on their own.
    Clear when the selected candidate wins at least ``level`` of the resamples. With one
    weighted task the overall selection is that task's, and so is the verdict (its stricter
    rule: every other candidate significantly worse on the objective), so the two never
    disagree."""
    selected = selection["selected"]
    active = [b for b in blocks if weights.get(b["name"], 0.0) > 0]
    if len(active) == 1 and active[0]["selection"]["selected"] == selected and selected is not None:
        only = active[0]
        return {"pick_probability": only.get("pick_probability"), "clear_pick": only.get("clear_pick"),
                "runner_up": only.get("runner_up")}
    # As the overall selection: only candidates with cases in the estimate of every weighted task
    # take part (one missing from a task, e.g. a served model that cannot score it, or one that
    # failed to load, is excluded with a reason there).
    present = [{r["candidate"] for r in b["results"] if r["n"] > 0} for b in active]
    names = sorted(set.intersection(*present) - set(selection["excluded"])) if present else []
    if selected is None or not names:
        return {"pick_probability": None, "clear_pick": None, "runner_up": None}
    data = {}
    for b in active:
        rows = [r for r in b["results"] if r["candidate"] in names and r["n"] > 0]
        data[b["name"]] = task_data(rows, _effective_by_candidate(cases, b, s.errors), b["higher_is_better"],
                                    s.level, b.get("min_quality"))
    pick = pick_probability(data, s.alpha, candidates=names, weights={b["name"]: weights[b["name"]] for b in active},
                            n_resamples=s.n_resamples, seed=s.seed)
    others = [c for c in names if c != selected]
    runner_up = max(others, key=lambda c: (pick.shares[c], c), default=None)
    return {"pick_probability": pick.shares, "clear_pick": pick.shares.get(selected, 0.0) >= s.level,
            "runner_up": runner_up}


QUALITY_MEAN = "weighted mean of the task qualities"
ONE_MINUS_LOSS = "1 - weighted loss (the tasks' metrics point in different directions)"


def _unit_range(block: Mapping[str, Any]) -> bool:
    from pytest_llmselect.metrics import METRICS

    rng = block.get("score_range")
    if rng is None and block.get("metric") in METRICS:
        rng = METRICS[block["metric"]].score_range
    return rng is not None and list(rng) == [0.0, 1.0]


def _overall_quality_basis(blocks: Sequence[Mapping[str, Any]], weights: Mapping[str, float]) -> str | None:
    """What the overall quality means: the weighted mean of the task qualities when every
    weighted task is higher-is-better; else ``1 - weighted loss`` when every task's scores lie
    in [0, 1] (so each loss is a normalised shortfall); else nothing (no overall quality)."""
    active = [b for b in blocks if weights.get(b["name"], 0) > 0]
    if all(b["higher_is_better"] for b in active):
        return QUALITY_MEAN
    if all(_unit_range(b) for b in active):
        return ONE_MINUS_LOSS
    return None


def analyze(inputs: Mapping[str, Any], settings: AnalysisSettings) -> dict[str, Any]:
    """Build the derived part of the report from ``inputs`` (candidates, tasks, cases, measures)."""
    candidates = list(inputs["candidates"])
    cases = list(inputs["cases"])
    measures = {tuple(k): v for k, v in inputs.get("measures", {}).items()} \
        if isinstance(inputs.get("measures"), Mapping) else {}
    missing = list(inputs.get("missing") or [])
    tallies = counts(cases, missing)
    task_blocks = [_task_block(t, cases, candidates, measures, settings, tallies) for t in inputs["tasks"]]
    task_blocks = [b for b in task_blocks if b["results"]]
    weights = dict(settings.weights) if settings.weights else {b["name"]: float(b["weight"]) for b in task_blocks}
    per_task = {b["name"]: [Point(name=r["candidate"], cost=r["cost"], loss=r["loss"], quality=r["quality"])
                            for r in b["results"] if r["n"] > 0] for b in task_blocks}
    combined = combine_tasks(per_task, weights) if per_task else None
    basis = _overall_quality_basis(task_blocks, weights)
    overall_points = [replace(p, quality=p.quality if basis == QUALITY_MEAN else
                              (1.0 - p.loss) if basis == ONE_MINUS_LOSS else None)
                      for p in (combined.points if combined else [])]
    failed_somewhere = {c: f"{reason} on task {b['name']!r}" for b in task_blocks
                        for c, reason in b["selection"]["excluded"].items()}
    # A candidate with no scored case on some task is not in the overall comparison; say why.
    failed_somewhere.update({c: r for c, r in (combined.excluded if combined else {}).items()
                             if c not in failed_somewhere})
    for c in candidates:  # never evaluated anywhere: still named, with the reason
        if c.get("status") == "load_failed" and c["name"] not in failed_somewhere:
            failed_somewhere[c["name"]] = f"not evaluated: failed to load ({c.get('load_error')})"
    eligible = [p for p in overall_points if p.name not in failed_somewhere]
    sel = select(eligible, settings.alpha, settings.constraints, near_tie=settings.near_tie) if eligible else None
    selection = _selection_json(sel) if sel else {
        "selected": None, "objectives": {}, "excluded": {}, "ties": [], "near_ties": []}
    selection["excluded"] = {**failed_somewhere, **selection["excluded"]}
    ranges = alpha_ranges([p for p in eligible if p.name not in selection["excluded"]]) if eligible else {}
    overall_rows = [_overall_row(p, task_blocks, weights, settings.alpha) for p in overall_points]
    overall = {
        "weights": weights,
        "quality_basis": basis,
        "results": overall_rows,
        "excluded": {c: r for c, r in selection["excluded"].items()},
        "selection": selection,
        "pareto": list(pareto_front(overall_points)) if overall_points else [],
        "alpha_ranges": {p.name: _range_json(ranges.get(p.name)) for p in overall_points},
        "alpha_boundaries": alpha_boundaries(ranges, _estimates(overall_rows)),
        **_overall_confidence(task_blocks, cases, weights, selection, settings),
    }
    return {
        "alpha": settings.alpha,
        "settings": {
            "alpha": settings.alpha, "level": settings.level, "seed": settings.seed, "weights": weights,
            "errors": settings.errors,
            "cost_model": settings.cost_model,
            "constraints": {k: getattr(settings.constraints, k) for k in
                            ("min_quality", "max_cost", "max_latency_p95", "max_peak_memory")},
        },
        "units": dict(UNITS),
        "methods": dict(METHODS),
        "tasks": task_blocks,
        "overall": overall,
        "selected": selection["selected"],
    }


def _overall_row(p: Point, blocks: Sequence[Mapping[str, Any]], weights: Mapping[str, float],
                 alpha: float) -> dict[str, Any]:
    """An overall row; cost and loss intervals from the tasks' half-widths, weighted as the
    means are and added in quadrature (tasks measured independently)."""
    total = math.fsum(weights.get(b["name"], 0.0) for b in blocks) or 1.0
    parts = {"cost": [[], []], "loss": [[], []]}
    exact = True
    for b in blocks:
        w = weights.get(b["name"], 0.0) / total
        row = next((r for r in b["results"] if r["candidate"] == p.name), None)
        if row is None or w == 0:
            continue
        for key in ("cost", "loss"):
            lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
            if lo is None or hi is None:
                exact = exact and key == "loss"
                lo = hi = row[key]
            parts[key][0].append(w * (row[key] - lo))
            parts[key][1].append(w * (hi - row[key]))
    below = {k: math.sqrt(math.fsum(x * x for x in v[0])) for k, v in parts.items()}
    above = {k: math.sqrt(math.fsum(x * x for x in v[1])) for k, v in parts.items()}
    cost_lo = p.cost - below["cost"] if exact else None
    cost_hi = p.cost + above["cost"] if exact else None
    loss_lo, loss_hi = max(0.0, p.loss - below["loss"]), p.loss + above["loss"]
    objective_lo, objective_hi = objective_interval(p.cost, cost_lo, cost_hi, p.loss, loss_lo, loss_hi, alpha)
    return {"candidate": p.name, "quality": p.quality, "loss": p.loss, "loss_lo": loss_lo, "loss_hi": loss_hi,
            "cost": p.cost, "cost_lo": cost_lo, "cost_hi": cost_hi,
            "objective": p.cost + alpha * p.loss, "objective_lo": objective_lo, "objective_hi": objective_hi}


def inputs_from_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs a saved report was built from, for re-selection without re-running models."""
    measures = {(t["name"], r["candidate"]): r.get("measures", {}) for t in report["tasks"] for r in t["results"]}
    tasks = [{k: t.get(k) for k in ("name", "metric", "higher_is_better", "min_quality", "weight", "budgets",
                                    "generation", "demos", "score_range")}
             for t in report["tasks"]]
    return {"candidates": report["candidates"], "tasks": tasks, "cases": report["cases"], "measures": measures,
            "missing": report.get("missing") or []}
