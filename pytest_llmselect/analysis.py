"""From per-case scores and measurements to the report dict (docs/report-schema.md).

Pure: no pytest, no torch, no I/O. Used at session end and again when a saved run is
re-selected with another alpha (``python -m pytest_llmselect report run.json --alpha 10``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from pytest_llmselect.cost import DEFAULT_PRICE, Price, dollars_per_1000_cases
from pytest_llmselect.selection import Constraints, Point, alpha_ranges, pareto_front, select, weighted_overall
from pytest_llmselect.stats import estimate, holm, paired_compare

SCHEMA_VERSION = 1
UNITS = {
    "cost": "USD per 1,000 cases",
    "alpha": "USD per 1,000 cases per unit of loss",
    "latency": "s",
    "memory": "bytes",
    "throughput": "tokens/s",
    "flops": "FLOP (estimate: 2 x parameters x tokens)",
}


@dataclass(frozen=True)
class AnalysisSettings:
    alpha: float
    level: float = 0.95
    seed: int = 0
    weights: Mapping[str, float] | None = None
    constraints: Constraints = field(default_factory=Constraints)
    near_tie: float = 0.01


def price_of(candidate: Mapping[str, Any]) -> Price:
    p = candidate.get("price") or {}
    if not p:
        return DEFAULT_PRICE
    return Price(
        usd_per_hour=p.get("usd_per_hour"),
        usd_per_million_input_tokens=p.get("usd_per_million_input_tokens"),
        usd_per_million_output_tokens=p.get("usd_per_million_output_tokens"),
        source=p.get("source", "configured"),
    )


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


def _verdict(cmp: Any, p_holm: float, higher_is_better: bool, level: float) -> str:
    worse = cmp.diff < 0 if higher_is_better else cmp.diff > 0
    if p_holm < 1 - level and cmp.diff != 0:
        if worse:
            return "significantly worse than the selected"
        return "significantly better quality than the selected (which wins on cost)"
    return (f"not distinguishable from the selected at this sample size "
            f"(smallest detectable difference {cmp.mde:.3g})")


def _task_block(task: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]],
                measures: Mapping[tuple[str, str], Mapping[str, Any]], s: AnalysisSettings) -> dict[str, Any]:
    name = task["name"]
    hib = bool(task.get("higher_is_better", True))
    by_cand: dict[str, dict[str, Mapping[str, Any]]] = {}
    for c in cases:
        if c["task"] == name:
            by_cand.setdefault(c["candidate"], {})[str(c["case_id"])] = c
    results: list[dict[str, Any]] = []
    points: list[Point] = []
    excluded: dict[str, str] = {}
    all_binary = True
    for cand in candidates:
        cname = cand["name"]
        rows = by_cand.get(cname)
        if not rows:
            continue
        scores = [r["score"] for r in rows.values()]
        all_binary = all_binary and all(v in (0.0, 1.0) for v in scores)
        groups = [r.get("group") for r in rows.values()]
        est = estimate(scores, groups=groups if any(g is not None for g in groups) else None,
                       level=s.level, seed=s.seed)
        loss = 1.0 - est.mean if hib else est.mean
        m = dict(measures.get((name, cname), {}))
        cost = dollars_per_1000_cases(
            n_cases=len(scores), model_seconds=float(m.get("model_seconds", 0.0)),
            input_tokens=int(m.get("input_tokens", 0)), output_tokens=int(m.get("output_tokens", 0)),
            price=price_of(cand),
        )
        min_q = task.get("min_quality")
        passed = None
        if min_q is not None:
            passed = est.mean >= min_q if hib else est.mean <= min_q
            if not passed:
                excluded[cname] = f"quality {est.mean:.4g} {'below' if hib else 'above'} min_quality {min_q:g}"
        results.append({
            "candidate": cname, "n": est.n, "quality": est.mean, "lo": est.lo, "hi": est.hi,
            "method": est.method, "loss": loss, "cost": cost, "objective": s.alpha * loss + cost,
            "measures": m, "min_quality_passed": passed, "comparison": None,
        })
        points.append(Point(name=cname, cost=cost, loss=loss, quality=est.mean,
                            latency_p95=m.get("latency_p95"), peak_memory_bytes=m.get("peak_memory_bytes")))
    eligible = [p for p in points if p.name not in excluded]
    sel = select(eligible, s.alpha, s.constraints, near_tie=s.near_tie) if eligible else None
    selection = _selection_json(sel) if sel else {
        "selected": None, "objectives": {}, "excluded": {}, "ties": [], "near_ties": []}
    selection["excluded"] = {**excluded, **selection["excluded"]}
    selected = selection["selected"]
    ranges = alpha_ranges([p for p in eligible if p.name not in selection["excluded"]]) if eligible else {}
    if selected is not None:
        _compare(results, by_cand, selected, hib, s)
    return {
        "name": name, "metric": task.get("metric"), "higher_is_better": hib, "binary": all_binary,
        "n_cases": len({cid for rows in by_cand.values() for cid in rows}),
        "min_quality": task.get("min_quality"), "weight": task.get("weight", 1.0),
        "budgets": dict(task.get("budgets") or {}), "generation": task.get("generation"),
        "results": results, "selection": selection,
        "pareto": list(pareto_front(points)) if points else [],
        "alpha_ranges": {p.name: _range_json(ranges.get(p.name)) for p in points},
    }


def _compare(results: list[dict[str, Any]], by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]],
             selected: str, hib: bool, s: AnalysisSettings) -> None:
    base = by_cand[selected]
    pending: list[tuple[dict[str, Any], Any]] = []
    for row in results:
        if row["candidate"] == selected:
            continue
        mine = by_cand[row["candidate"]]
        shared = sorted(set(mine) & set(base))
        if len(shared) < 2:
            continue
        cmp = paired_compare([mine[c]["score"] for c in shared], [base[c]["score"] for c in shared],
                             level=s.level, seed=s.seed)
        pending.append((row, cmp))
    adjusted = holm([cmp.p_value for _, cmp in pending]) if pending else []
    for (row, cmp), p_adj in zip(pending, adjusted):
        row["comparison"] = {
            "vs": selected, "n": cmp.n, "diff": cmp.diff, "lo": cmp.lo, "hi": cmp.hi,
            "p_value": cmp.p_value, "p_holm": p_adj, "method": cmp.method, "mde": cmp.mde,
            "verdict": _verdict(cmp, p_adj, hib, s.level),
        }


def analyze(inputs: Mapping[str, Any], settings: AnalysisSettings) -> dict[str, Any]:
    """Build the derived part of the report from ``inputs`` (candidates, tasks, cases, measures)."""
    candidates = list(inputs["candidates"])
    cases = list(inputs["cases"])
    measures = {tuple(k): v for k, v in inputs.get("measures", {}).items()} \
        if isinstance(inputs.get("measures"), Mapping) else {}
    task_blocks = [_task_block(t, cases, candidates, measures, settings) for t in inputs["tasks"]]
    task_blocks = [b for b in task_blocks if b["results"]]
    weights = dict(settings.weights) if settings.weights else {b["name"]: float(b["weight"]) for b in task_blocks}
    per_task = {b["name"]: [Point(name=r["candidate"], cost=r["cost"], loss=r["loss"], quality=r["quality"])
                            for r in b["results"]] for b in task_blocks}
    overall_points = weighted_overall(per_task, weights) if per_task else []
    failed_somewhere = {c: f"{reason} on task {b['name']!r}" for b in task_blocks
                        for c, reason in b["selection"]["excluded"].items()}
    eligible = [p for p in overall_points if p.name not in failed_somewhere]
    sel = select(eligible, settings.alpha, settings.constraints, near_tie=settings.near_tie) if eligible else None
    selection = _selection_json(sel) if sel else {
        "selected": None, "objectives": {}, "excluded": {}, "ties": [], "near_ties": []}
    selection["excluded"] = {**failed_somewhere, **selection["excluded"]}
    ranges = alpha_ranges([p for p in eligible if p.name not in selection["excluded"]]) if eligible else {}
    overall = {
        "weights": weights,
        "results": [{"candidate": p.name, "quality": p.quality, "loss": p.loss, "cost": p.cost,
                     "objective": p.cost + settings.alpha * p.loss} for p in overall_points],
        "excluded": {c: r for c, r in selection["excluded"].items()},
        "selection": selection,
        "pareto": list(pareto_front(overall_points)) if overall_points else [],
        "alpha_ranges": {p.name: _range_json(ranges.get(p.name)) for p in overall_points},
    }
    return {
        "alpha": settings.alpha,
        "settings": {
            "alpha": settings.alpha, "level": settings.level, "seed": settings.seed, "weights": weights,
            "constraints": {k: getattr(settings.constraints, k) for k in
                            ("min_quality", "max_cost", "max_latency_p95", "max_peak_memory")},
        },
        "units": dict(UNITS),
        "tasks": task_blocks,
        "overall": overall,
        "selected": selection["selected"],
    }


def inputs_from_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs a saved report was built from, for re-selection without re-running models."""
    measures = {(t["name"], r["candidate"]): r.get("measures", {}) for t in report["tasks"] for r in t["results"]}
    tasks = [{k: t.get(k) for k in ("name", "metric", "higher_is_better", "min_quality", "weight", "budgets",
                                    "generation")}
             for t in report["tasks"]]
    return {"candidates": report["candidates"], "tasks": tasks, "cases": report["cases"], "measures": measures}
