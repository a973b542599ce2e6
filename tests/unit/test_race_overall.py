"""A candidate raced out of one task stays in the overall comparison (found live: with six
candidates each was raced out of some task, so the overall line excluded all six and picked
none, while the full run picked zoo:base). A race drops a candidate from a task because it is
worse there; it may still be the best overall, on its task figures from the cases it ran."""

from __future__ import annotations

from pytest_llmselect.accounting import summarize_missing
from pytest_llmselect.analysis import AnalysisSettings, analyze

TASKS = [{"name": name, "metric": "exact_match", "higher_is_better": True, "weight": 1.0, "score_range": [0.0, 1.0]}
         for name in ("arithmetic", "facts")]


def _inputs(acc: dict[tuple[str, str], float], ran: dict[tuple[str, str], int], n: int) -> dict:
    cases, missing = [], []
    for (task, cand), p in acc.items():
        k = ran.get((task, cand), n)
        hits = round(p * k)
        cases += [{"task": task, "case_id": f"c{i}", "candidate": cand, "score": 1.0 if i < hits else 0.0,
                   "status": "scored", "output": None, "group": None} for i in range(k)]
        missing += [(task, cand, f"raced out after {k} cases")] * (n - k)
    names = sorted({c for _, c in acc})
    return {"candidates": [{"name": c, "spec": c, "status": "evaluated"} for c in names], "tasks": TASKS,
            "cases": cases, "measures": {}, "missing": summarize_missing(missing)}


def test_the_overall_best_raced_out_of_one_task_is_still_picked_overall() -> None:
    # "base" wins arithmetic by far and loses facts to "big"; "big" is raced out of arithmetic,
    # "base" out of facts. Overall "base" is best: (0.9 + 0.1) / 2 = 0.5 against (0.1 + 0.6) / 2.
    acc = {("arithmetic", "base"): 0.9, ("arithmetic", "big"): 0.1,
           ("facts", "base"): 0.1, ("facts", "big"): 0.6}
    ran = {("arithmetic", "big"): 32, ("facts", "base"): 32}
    report = analyze(_inputs(acc, ran, 200), AnalysisSettings(alpha=1.0))
    tasks = {t["name"]: t for t in report["tasks"]}
    assert tasks["arithmetic"]["selection"]["selected"] == "base"
    assert tasks["facts"]["selection"]["selected"] == "big"
    assert "big" in tasks["arithmetic"]["selection"]["excluded"]  # per task: raced out, said so
    assert report["overall"]["excluded"] == {}
    assert report["selected"] == "base"
    rows = {r["candidate"]: r for r in report["overall"]["results"]}
    assert abs(rows["base"]["quality"] - (180 / 200 + 3 / 32) / 2) < 1e-9  # facts on the 32 cases it ran


def test_a_candidate_excluded_for_another_reason_stays_out_of_the_overall() -> None:
    acc = {("arithmetic", "base"): 0.9, ("arithmetic", "big"): 0.1, ("facts", "base"): 0.1, ("facts", "big"): 0.6}
    inputs = _inputs(acc, {}, 50)
    inputs["cases"] = [c for c in inputs["cases"] if not (c["task"] == "facts" and c["candidate"] == "base")]
    inputs["missing"] = summarize_missing([("facts", "base", "candidate failed to load")] * 50)
    report = analyze(inputs, AnalysisSettings(alpha=1.0))
    assert "no case ran" in report["overall"]["excluded"]["base"]
    assert report["selected"] is None  # and a partial run picks nobody
