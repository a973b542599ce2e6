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

from pytest_llmselect.accounting import counts, is_raced_out
from pytest_llmselect.analysis_settings import METHODS, SCHEMA_VERSION, UNITS, AnalysisSettings
from pytest_llmselect.comparisons import cost_se, task_data
from pytest_llmselect.costmodel import objective_interval
from pytest_llmselect.overall_pick import partial_reason, tie_break_text, unit_row_loss
from pytest_llmselect.pick_confidence import overall_confidence, overall_scale
from pytest_llmselect.selection import Point
from pytest_llmselect.selection import overall as combine_tasks
from pytest_llmselect.shared_results import share_model_results
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
    # A task without a demonstration pool ran once per model: in the overall each configuration
    # of the model counts that result (shared_results.py).
    view = share_model_results(task_blocks, cases, candidates)
    ranges_of, left_out = overall_scale(view.blocks, view.cases, weights, settings.errors)
    # Several weighted tasks: each task's loss on the [0, 1] scale of its score range, never raw units.
    unit = sum(1 for b in task_blocks if weights.get(b["name"], 0.0) > 0) > 1
    in_overall = [b for b in view.blocks if b["name"] not in left_out]
    per_task = {b["name"]: [Point(name=r["candidate"], cost=r["cost"], quality=r["quality"],
                                  loss=unit_row_loss(r, b, ranges_of[b["name"]]) if unit and ranges_of.get(b["name"])
                                  else r["loss"])
                            for r in b["results"] if r["n"] > 0] for b in in_overall}
    overall_weights = {b["name"]: weights.get(b["name"], 0.0) for b in in_overall}
    combined = combine_tasks(per_task, overall_weights) if per_task and sum(overall_weights.values()) > 0 else None
    basis = _overall_quality_basis(task_blocks, weights)
    overall_points = [replace(p, quality=p.quality if basis == QUALITY_MEAN else
                              (1.0 - p.loss) if basis == ONE_MINUS_LOSS else None)
                      for p in (combined.points if combined else [])]
    # A candidate raced out of a task was worse there, not unusable: the overall counts it on the
    # cases it ran (the race's case order is a random sample), so it may still be the best overall.
    failed_somewhere = {c: f"{reason} on task {b['name']!r}" for b in view.blocks
                        for c, reason in b["selection"]["excluded"].items() if not is_raced_out(reason)}
    # A candidate with no scored case on some task is not in the overall comparison; say why.
    failed_somewhere.update({c: r for c, r in (combined.excluded if combined else {}).items()
                             if c not in failed_somewhere})
    for c in candidates:  # never evaluated anywhere: still named, with the reason
        if c.get("status") == "load_failed" and c["name"] not in failed_somewhere and c["name"] not in view.replaced:
            failed_somewhere[c["name"]] = f"not evaluated: failed to load ({c.get('load_error')})"
    partial = partial_reason([b for b in in_overall if overall_weights.get(b["name"], 0.0) > 0], candidates)
    if partial:  # a partial run never picks the survivors
        failed_somewhere.update({p.name: "no overall pick: partial run" for p in overall_points
                                 if p.name not in failed_somewhere})
    errors = {c["name"]: sum(int(r.get("n_errors") or 0) for b in in_overall for r in b["results"]
                             if r["candidate"] == c["name"]) for c in candidates}
    selection, ranges = _selection_block(overall_points, failed_somewhere, settings.alpha, settings.constraints,
                                         settings.near_tie, errors=errors, order=[c["name"] for c in candidates])
    selection["tie_break"] = tie_break_text(selection, [{"candidate": p.name, "n_errors": errors.get(p.name, 0),
                                                         "cost": p.cost} for p in overall_points])
    selection["no_pick_reason"] = f"no overall pick: partial run, {partial}" if partial else None
    scale = {b["name"]: (ranges_of.get(b["name"]) if unit else None) for b in in_overall}
    overall_rows = [_overall_row(p, in_overall, overall_weights, settings.alpha, scale) for p in overall_points]
    overall = {
        "weights": weights,
        "left_out": left_out,
        "scale": ("each task's loss on the [0, 1] scale of its score range" if unit else "the task's own loss"),
        "quality_basis": basis,
        "results": overall_rows,
        "excluded": {c: r for c, r in selection["excluded"].items()},
        "selection": selection,
        **_trade_offs(overall_points, ranges, overall_rows),
        **overall_confidence(in_overall, view.cases, overall_weights, selection, candidates, settings),
        **({"shared": dict(view.shared)} if view.shared else {}),
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
                 alpha: float, scale: Mapping[str, tuple[float, float] | None] | None = None) -> dict[str, Any]:
    """An overall row; cost and loss intervals from the tasks' half-widths, weighted as the
    means are and added in quadrature (tasks measured independently); a task's loss
    half-widths divided by its range's width where ``scale`` gives one (the [0, 1] scale)."""
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
            rng = (scale or {}).get(b["name"]) if key == "loss" else None
            width = (rng[1] - rng[0]) if rng else 1.0
            parts[key][0].append(w * (row[key] - lo) / width)
            parts[key][1].append(w * (hi - row[key]) / width)
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
