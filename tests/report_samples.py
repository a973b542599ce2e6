"""Report dicts that follow docs/report-schema.md (version 1), for renderer and I/O tests.

Hand-written rather than produced by the plugin so the renderer tests do not depend on
models, stats or selection code, and so every optional branch of the schema is exercised:
a default (assumed) price next to quoted ones, an excluded candidate, a task without
``min_quality`` and without measures, an alpha range that is ``never`` and one that is
unbounded (``math.inf`` in memory, ``null`` in JSON).
"""

from __future__ import annotations

import math
from typing import Any

HOSTILE_NAME = "evil|model <b>&"
HOSTILE_OUTPUT = '<script>alert("x")</script>'


def _price(usd_per_hour: float | None, source: str, inp: float | None = None, out: float | None = None) -> dict[str, Any]:
    return {
        "usd_per_hour": usd_per_hour,
        "usd_per_million_input_tokens": inp,
        "usd_per_million_output_tokens": out,
        "source": source,
    }


def _candidate(name: str, params: int, price: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name, "spec": name, "source": f"/models/{name}", "num_parameters": params,
        "loads": 1, "load_seconds": 0.21, "device": "cpu", "dtype": "float32", "price": price,
    }


def _measures(seconds: float, p50: float, p95: float, tps: float, mem: int, parallel: bool = False) -> dict[str, Any]:
    return {
        "model_seconds": seconds, "cases": 6, "input_tokens": 84, "output_tokens": 36,
        "latency_p50": p50, "latency_p95": p95, "ttft_p50": p50 / 2, "tokens_per_second": tps,
        "peak_memory_bytes": mem, "flops": 3.9e7, "parallel": parallel,
    }


def _comparison(vs: str, diff: float, lo: float, hi: float, p: float, verdict: str) -> dict[str, Any]:
    """The objective comparison (``comparison``) of a row; ``diff`` is a quality difference,
    turned into an objective one at alpha 50."""
    return {
        "vs": vs, "n": 6, "diff": -50 * diff, "lo": -50 * hi, "hi": -50 * lo, "p_value": p,
        "p_adjusted": min(1.0, 2 * p), "adjustment": "bonferroni x2", "method": "tango_score", "mde": 4.0,
        "loss_diff": -diff, "cost_diff": 0.001, "cost_se": 0.0, "cases_needed": None, "verdict": verdict,
    }


def _quality(vs: str, diff: float, lo: float, hi: float, p: float, verdict: str) -> dict[str, Any]:
    return {"vs": vs, "n": 6, "diff": diff, "lo": lo, "hi": hi, "p_value": p, "p_adjusted": min(1.0, 2 * p),
            "adjustment": "bonferroni x2", "method": "paired_t", "mde": 0.08, "verdict": verdict}


def sample_report(hostile: bool = True) -> dict[str, Any]:
    """Three candidates, two tasks; ``hostile`` names one candidate ``evil|model <b>&`` and
    gives it a ``<script>`` output, to check escaping in every renderer."""
    tiny, small = "zoo:tiny", "zoo:small"
    third = HOSTILE_NAME if hostile else "zoo:wide"
    names = [tiny, small, third]
    add_outputs = {
        tiny: ["46", "13", "99", "7", "120", "55"],
        small: ["46", "12", "98", "7", "120", "54"],
        third: [HOSTILE_OUTPUT if hostile else "4", "1", "9", "7", "12", "5"],
    }
    add_truth = ["46", "12", "98", "7", "120", "54"]
    sum_scores = {tiny: [0.41, 0.38, 0.52, 0.30], small: [0.62, 0.58, 0.71, 0.49], third: [0.11, 0.20, 0.05, 0.09]}
    cases: list[dict[str, Any]] = []
    for name in names:
        for i, (out, truth) in enumerate(zip(add_outputs[name], add_truth)):
            cases.append({
                "task": "addition", "case_id": f"add-{i:04d}", "candidate": name,
                "score": 1.0 if out == truth else 0.0, "output": out, "group": "carry" if i % 2 else None,
                "nodeid": f"suites/test_addition.py::test_addition[{name}-add-{i:04d}]",
            })
    for name in names:
        for i, score in enumerate(sum_scores[name]):
            cases.append({
                "task": "summary", "case_id": f"sum-{i}", "candidate": name, "score": score,
                "output": f"summary {i} by {name}\nsecond line", "group": None,
                "nodeid": f"suites/test_summary.py::test_summary[{name}-sum-{i}]",
            })

    addition = {
        "name": "addition", "metric": "exact_match", "higher_is_better": True, "binary": True,
        "n_cases": 6, "min_quality": 0.5, "weight": 1.0,
        "results": [
            {"candidate": tiny, "n": 6, "quality": 0.5, "lo": 0.19, "hi": 0.81, "method": "wilson",
             "loss": 0.5, "cost": 0.0041, "objective": 25.0041,
             "measures": _measures(0.85, 0.0042, 0.0051, 705.9, 123_456_789),
             "min_quality_passed": True,
             "comparison": _comparison(small, -0.5, -0.9, 0.1, 0.12, "not distinguishable on the objective (about 31 cases would likely settle it)"),
             "quality_comparison": _quality(small, -0.5, -0.9, 0.1, 0.12, "not distinguishable")},
            {"candidate": small, "n": 6, "quality": 1.0, "lo": 0.61, "hi": 1.0, "method": "wilson",
             "loss": 0.0, "cost": 0.0123, "objective": 0.0123,
             "measures": _measures(1.9, 0.0091, 0.0122, 312.4, 301_989_888),
             "min_quality_passed": True, "comparison": None},
            {"candidate": third, "n": 6, "quality": 1 / 6, "lo": 0.03, "hi": 0.56, "method": "wilson",
             "loss": 5 / 6, "cost": 0.0518, "objective": 41.7185,
             "measures": _measures(7.6, 0.031, 0.048, 78.0, 1_207_959_552, parallel=False),
             "min_quality_passed": False,
             "comparison": _comparison(small, -0.833, -1.0, -0.5, 0.03, "significantly worse on the objective"),
             "quality_comparison": _quality(small, -0.833, -1.0, -0.5, 0.03, "lower quality")},
        ],
        "selection": {"selected": small, "objectives": {tiny: 25.0041, small: 0.0123},
                      "excluded": {third: "quality 0.167 below min_quality 0.5"},
                      "ties": [small], "near_ties": [tiny]},
        "pareto": [tiny, small],
        "alpha_ranges": {tiny: [0.0, 0.0164], small: [0.0164, math.inf], third: None},
        "pick_probability": {tiny: 0.38, small: 0.62}, "clear_pick": False, "runner_up": tiny,
        "cases_needed": 31,
    }
    summary = {
        "name": "summary", "metric": "rouge_l", "higher_is_better": True, "binary": False,
        "n_cases": 4, "min_quality": None, "weight": 0.5,
        "results": [
            {"candidate": tiny, "n": 4, "quality": 0.4025, "lo": 0.32, "hi": 0.48, "method": "bootstrap",
             "loss": 0.5975, "cost": 0.0039, "objective": 29.8789, "measures": {},
             "min_quality_passed": None,
             "comparison": _comparison(small, -0.2, -0.26, -0.14, 0.001, "significantly worse on the objective"),
             "quality_comparison": _quality(small, -0.2, -0.26, -0.14, 0.001, "lower quality")},
            {"candidate": small, "n": 4, "quality": 0.60, "lo": 0.51, "hi": 0.69, "method": "bootstrap",
             "loss": 0.40, "cost": 0.0119, "objective": 20.0119, "measures": {},
             "min_quality_passed": None, "comparison": None},
            {"candidate": third, "n": 4, "quality": 0.1125, "lo": 0.05, "hi": 0.18, "method": "bootstrap",
             "loss": 0.8875, "cost": 0.0502, "objective": 44.4252, "measures": {},
             "min_quality_passed": None,
             "comparison": _comparison(small, -0.4875, -0.56, -0.41, 0.0001, "significantly worse on the objective"),
             "quality_comparison": _quality(small, -0.4875, -0.56, -0.41, 0.0001, "lower quality")},
        ],
        "selection": {"selected": small, "objectives": {tiny: 29.8789, small: 20.0119, third: 44.4252},
                      "excluded": {}, "ties": [small], "near_ties": []},
        "pareto": [tiny, small],
        "alpha_ranges": {tiny: [0.0, 0.0406], small: [0.0406, math.inf], third: None},
        "pick_probability": {tiny: 0.0, small: 0.9995, third: 0.0005}, "clear_pick": True, "runner_up": third,
        "cases_needed": None,
    }
    return {
        "schema_version": 1,
        "tool": {"name": "pytest-llmselect", "version": "0.1.0"},
        "created": "2026-11-28T19:30:00+00:00",
        "complete": True,
        "machine": {"platform": "Linux-6.1-x86_64", "python": "3.11.7", "torch": "2.13.0", "cuda": None, "cpu_count": 2},
        "suite": {"fingerprint": "sha256:0f3a9c", "paths": ["suites"]},
        "settings": {
            "alpha": 50.0, "level": 0.95, "seed": 0,
            "weights": {"addition": 1.0, "summary": 0.5},
            "constraints": {"min_quality": None, "max_cost": None, "max_latency_p95": None, "max_peak_memory": None},
        },
        "units": {"cost": "USD per 1,000 cases", "alpha": "USD per 1,000 cases per unit of loss",
                  "latency": "s", "memory": "bytes", "throughput": "tokens/s"},
        "methods": {"quality_interval": "0/1 scores: Wilson score interval",
                    "comparison": "objective difference per case; Tango score test",
                    "pick_probability": "share of paired bootstrap resamples each candidate wins"},
        "candidates": [
            _candidate(tiny, 13_920, _price(1.0, "default")),
            _candidate(small, 52_480, _price(1.0, "default")),
            _candidate(third, 1_204_224, _price(None, "candidates-file", 0.15, 0.60)),
        ],
        "tasks": [addition, summary],
        "overall": {
            "weights": {"addition": 1.0, "summary": 0.5},
            "results": [
                {"candidate": tiny, "quality": 0.4675, "loss": 0.5325, "cost": 0.00403, "objective": 26.6290},
                {"candidate": small, "quality": 0.8667, "loss": 0.1333, "cost": 0.01217, "objective": 6.6789},
                {"candidate": third, "quality": 0.1486, "loss": 0.8514, "cost": 0.05127, "objective": 42.6207},
            ],
            "excluded": {third: "excluded on task addition"},
            "selection": {"selected": small, "objectives": {tiny: 26.6290, small: 6.6789}, "excluded": {},
                          "ties": [small], "near_ties": []},
            "pareto": [tiny, small],
            "alpha_ranges": {tiny: [0.0, 0.0204], small: [0.0204, math.inf], third: None},
            "pick_probability": {tiny: 0.04, small: 0.96}, "clear_pick": True, "runner_up": tiny,
        },
        "selected": small,
        "cases": cases,
    }

