"""The report's judge and sampling fields: computed by analyze from case records, accepted by
the schema, and a wrong value in them is one DataError line."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pytest_llmselect.analysis import AnalysisSettings, analyze
from pytest_llmselect.errors import DataError
from pytest_llmselect.report.jsonio import to_json
from pytest_llmselect.report.schema import validate_report


def _report() -> dict[str, Any]:
    cases = []
    for cand, skill in (("a", 0.3), ("b", 0.8)):
        for i in range(12):
            samples = [float((i * 7 + s * 3) % 10 < skill * 10) for s in range(5)]
            grade = 1.0 if samples[1] else 0.25
            cases.append({
                "task": "t", "case_id": f"c{i}", "candidate": cand, "score": samples[0],
                "status": "scored", "output": ["x"] * 5, "group": None, "nodeid": f"{cand}{i}",
                "samples": {"scores": samples, "reducer": "pass@5", "threshold": 1.0},
                "judge": {"rubric": {"score": grade, "raw": 1 + 4 * grade, "method": "logprobs",
                                     "judge": "b", "judge_source": "/w/b"}},
                "reference_scores": {"semantic_similarity": 0.2 + 0.6 * samples[1] + 0.01 * i},
            })
    candidates = [{"name": n, "spec": n, "model": n, "source": f"/w/{n}", "status": "evaluated",
                   "price": {"usd_per_hour": 1.0, "source": "default"}} for n in ("a", "b")]
    inputs = {"candidates": candidates, "cases": cases, "missing": [],
              "tasks": [{"name": "t", "metric": "exact_match", "higher_is_better": True, "weight": 1.0,
                         "score_range": [0.0, 1.0],
                         "sampling": {"samples": 5, "temperature": 0.8, "top_p": None, "reducer": "pass@5"}}],
              "measures": {("t", n): {"model_seconds": 1.0, "input_tokens": 10, "output_tokens": 5} for n in "ab"}}
    derived = analyze(inputs, AnalysisSettings(alpha=10.0))
    report = {"schema_version": 1, "complete": True, "missing": [], **derived, "candidates": candidates,
              "cases": cases,
              "evaluation_cost": [{"judge": "b", "source": "/w/b", "method": "logprobs", "loads": 1, "grades": 24,
                                   "errors": 0, "requests": 120, "cache_hits": 0, "model_seconds": 0.5,
                                   "usd": 0.0001, "cost_model": "time"}]}
    return json.loads(to_json(report))


def test_analyze_gives_pass_at_k_agreement_and_self_preference() -> None:
    report = _report()
    validate_report(report, "run.json")
    task = report["tasks"][0]
    row = {r["candidate"]: r for r in task["results"]}["b"]
    assert row["sampling"]["samples"] == 5
    assert 0 <= row["sampling"]["pass@1"]["value"] <= row["sampling"]["pass@5"]["value"] <= 1
    judge = task["judge"]
    assert judge["model"] == "b" and judge["self_preference"] == ["b"] and "self-preference" in judge["warning"]
    refs = {a["reference"]: a for a in judge["agreement"]}
    assert set(refs) == {"exact_match", "semantic_similarity"}
    assert refs["semantic_similarity"]["method"] == "spearman" and refs["semantic_similarity"]["value"] > 0.5
    assert refs["exact_match"]["interval"] == "cluster_bootstrap"  # each case graded for both candidates


@pytest.mark.parametrize(("path", "value", "field"), [
    (("cases", 0, "judge", "rubric", "score"), 1.5, "cases[0].judge.rubric.score"),
    (("cases", 0, "samples", "scores"), "1,0", "cases[0].samples.scores"),
    (("tasks", 0, "judge", "agreement", 0, "value"), 2.0, "tasks[0].judge.agreement[0].value"),
    (("tasks", 0, "results", 0, "sampling", "pass@1"), {"value": -0.1}, "tasks[0].results[0].sampling"),
    (("evaluation_cost", 0, "model_seconds"), -1.0, "evaluation_cost[0].model_seconds"),
])
def test_a_wrong_value_is_one_data_error_naming_the_field(path: tuple, value: Any, field: str) -> None:
    report = copy.deepcopy(_report())
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(DataError, match=rf"run.json: field {__import__('re').escape(field)}"):
        validate_report(report, "run.json")
