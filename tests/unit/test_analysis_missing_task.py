"""A candidate with no scored case on one task (a served model that cannot score a multiple-choice
task, a task whose every case errored) must not break the report: the overall selection leaves it
out with a reason, and so does the overall pick probability."""

from __future__ import annotations

from pytest_llmselect.analysis import AnalysisSettings, analyze


def test_candidate_missing_from_a_task_is_left_out_of_the_overall_pick():
    cands = [{"name": n, "spec": n, "price": {"usd_per_hour": 3.6, "source": "configured"}} for n in ("a", "b")]
    cases = [{"task": "gen", "case_id": f"c{i}", "candidate": n, "score": float((i + k) % 2), "output": "",
              "group": None} for k, n in enumerate(("a", "b")) for i in range(10)]
    cases += [{"task": "mc", "case_id": f"c{i}", "candidate": "a", "score": 1.0, "output": "", "group": None}
              for i in range(10)]
    tasks = [{"name": t, "metric": "exact_match", "higher_is_better": True, "min_quality": None, "weight": 1.0}
             for t in ("gen", "mc")]
    measures = {(t, n): {"model_seconds": 1.0} for t in ("gen", "mc") for n in ("a", "b") if (t, n) != ("mc", "b")}
    report = analyze({"candidates": cands, "tasks": tasks, "cases": cases, "measures": measures},
                     AnalysisSettings(alpha=10.0))
    overall = report["overall"]
    assert overall["selection"]["selected"] == "a"
    assert "missing from task(s) 'mc'" in overall["excluded"]["b"]
    assert set(overall["pick_probability"]) == {"a"}
