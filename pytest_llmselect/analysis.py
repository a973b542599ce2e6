"""From per-case scores and measurements to the report dict (docs/report-schema.md): the
"analyse" stage. ``analyze`` builds each task's block (``task_results``) and the overall
selection across the weighted tasks; ``inputs_from_report`` gives back what a saved report
was built from.

Pure: no pytest, no torch, no I/O. Used at session end and again when a saved run is
re-selected with another alpha (``python -m pytest_llmselect report run.json --alpha 10``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

from pytest_llmselect.accounting import counts
from pytest_llmselect.analysis_settings import METHODS, SCHEMA_VERSION, UNITS, AnalysisSettings
from pytest_llmselect.comparisons import _overall_confidence, cost_se, task_data
from pytest_llmselect.costmodel import objective_interval
from pytest_llmselect.selection import Point
from pytest_llmselect.selection import overall as combine_tasks
from pytest_llmselect.task_results import _selection_block, _task_block, _trade_offs, price_of

__all__ = [
    "METHODS", "ONE_MINUS_LOSS", "QUALITY_MEAN", "SCHEMA_VERSION", "UNITS", "AnalysisSettings", "analyze",
    "cost_se", "inputs_from_report", "price_of", "task_data",
]


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
    selection, ranges = _selection_block(overall_points, failed_somewhere, settings.alpha, settings.constraints,
                                         settings.near_tie)
    overall_rows = [_overall_row(p, task_blocks, weights, settings.alpha) for p in overall_points]
    overall = {
        "weights": weights,
        "quality_basis": basis,
        "results": overall_rows,
        "excluded": {c: r for c, r in selection["excluded"].items()},
        "selection": selection,
        **_trade_offs(overall_points, ranges, overall_rows),
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
                                    "generation", "demos", "score_range", "sampling")}
             for t in report["tasks"]]
    return {"candidates": report["candidates"], "tasks": tasks, "cases": report["cases"], "measures": measures,
            "missing": report.get("missing") or []}
