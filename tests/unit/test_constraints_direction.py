"""``--llm-constraints=min_quality=Q`` follows the task's direction, as a task's own
``min_quality`` does: for a metric where lower is better, it is an upper limit."""

from __future__ import annotations

from pytest_llmselect.analysis import AnalysisSettings, analyze
from pytest_llmselect.selection import Constraints


def inputs(hib: bool) -> dict:
    scores = {"low": [0.1, 0.2, 0.1, 0.2], "high": [0.7, 0.8, 0.7, 0.8]}
    cands = [{"name": n, "spec": n, "price": {"usd_per_hour": 3.6, "source": "configured"}} for n in scores]
    cases = [{"task": "t", "case_id": f"c{i}", "candidate": n, "score": s, "output": "", "group": None}
             for n, ss in scores.items() for i, s in enumerate(ss)]
    return {"candidates": cands, "cases": cases,
            "tasks": [{"name": "t", "metric": "m", "higher_is_better": hib, "min_quality": None, "weight": 1.0}],
            "measures": {("t", n): {"model_seconds": 1.0} for n in scores}}


def run(hib: bool) -> dict:
    return analyze(inputs(hib), AnalysisSettings(alpha=1.0, constraints=Constraints(min_quality=0.5)))["tasks"][0]


def test_min_quality_constraint_is_a_lower_limit_when_higher_is_better():
    task = run(True)
    assert set(task["selection"]["excluded"]) == {"low"} and task["selection"]["selected"] == "high"


def test_min_quality_constraint_is_an_upper_limit_when_lower_is_better():
    # A loss of 0.15 meets "quality at least 0.5" on a lower-is-better metric; 0.75 does not.
    task = run(False)
    assert set(task["selection"]["excluded"]) == {"high"}, task["selection"]["excluded"]
    assert task["selection"]["selected"] == "low"
    assert "above min_quality 0.5" in task["selection"]["excluded"]["high"]
