"""Accounting of planned cases (issue 15): scored + errored + not run adds up to the plan."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.accounting import (
    counts,
    effective_scores,
    one_line,
    score_problem,
    summarize_missing,
    worst_score,
)
from pytest_llmselect.analysis import AnalysisSettings, analyze, inputs_from_report
from pytest_llmselect.report.jsonio import to_json

TASKS = [{"name": "bounded", "metric": "exact_match", "higher_is_better": True, "weight": 1.0,
          "score_range": [0.0, 1.0]},
         {"name": "custom", "metric": "mine", "higher_is_better": False, "weight": 1.0, "score_range": None}]

# Per (task, candidate): how many cases are scored, errored and not run (with a reason).
MIX = st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(0, 4),
                st.sampled_from(["candidate failed to load", "not run", "skipped: no GPU"]))


def build(mixes: dict[tuple[str, str], tuple[int, int, int, str]], draw_score) -> dict:
    cases, missing = [], []
    for (task, cand), (scored, errored, not_run, reason) in mixes.items():
        for i in range(scored):
            cases.append({"task": task, "case_id": f"s{i}", "candidate": cand, "score": draw_score(i),
                          "status": "scored", "output": None, "group": None})
        for i in range(errored):
            cases.append({"task": task, "case_id": f"e{i}", "candidate": cand, "score": None,
                          "status": "errored", "error": "RuntimeError: boom", "output": None, "group": None})
        missing.extend({"task": task, "candidate": cand, "count": 1, "reason": reason} for _ in range(not_run))
    names = sorted({c for _, c in mixes})
    return {"candidates": [{"name": n, "spec": n, "status": "evaluated"} for n in names], "tasks": TASKS,
            "cases": cases, "measures": {}, "missing": summarize_missing(
                (m["task"], m["candidate"], m["reason"]) for m in missing)}


@settings(max_examples=60, deadline=None)
@given(mixes=st.dictionaries(st.tuples(st.sampled_from(["bounded", "custom"]), st.sampled_from(["a", "b", "c"])),
                             MIX, min_size=1, max_size=6),
       policy=st.sampled_from(["worst", "exclude"]))
def test_every_planned_case_is_scored_errored_or_missing(mixes, policy):
    inputs = build(mixes, lambda i: float(i % 2))
    report = analyze(inputs, AnalysisSettings(alpha=5.0, errors=policy))
    report = json.loads(to_json({**report, "cases": inputs["cases"], "missing": inputs["missing"]}))
    rows = {(t["name"], r["candidate"]): r for t in report["tasks"] for r in t["results"]}
    for key, (scored, errored, not_run, _) in mixes.items():
        planned = scored + errored + not_run
        if planned == 0:
            assert key not in rows
            continue
        r = rows[key]
        assert r["n_scored"] + r["n_errors"] + r["n_missing"] == r["n_planned"] == planned
        assert (r["n_scored"], r["n_errors"], r["n_missing"]) == (scored, errored, not_run)
        # The estimate holds the errored cases under "worst" whenever a worst value is known,
        # and only for a candidate that scored at least one case (one that produced nothing
        # is not a choice).
        task_scored = any(mixes[k][0] for k in mixes if k[0] == key[0])
        counted = errored if policy == "worst" and scored and (key[0] == "bounded" or task_scored) else 0
        assert r["n"] == scored + counted
        assert r["n_excluded_errors"] == errored - counted
        if r["n"] == 0:
            assert r["quality"] is None and r["objective"] is None
    # A candidate with no case in the estimate on some task is never selected overall.
    selected = report["selected"]
    if selected is not None:
        assert all(r["n"] > 0 for (_, c), r in rows.items() if c == selected)


def test_errored_cases_count_at_the_worst_value_and_can_be_excluded():
    # The example: A raises on the 10 hard cases, B answers them wrongly (but one).
    mixes = {("bounded", "A"): (10, 10, 0, ""), ("bounded", "B"): (20, 0, 0, "")}
    inputs = build(mixes, lambda i: 1.0)
    for case in inputs["cases"]:
        if case["candidate"] == "B" and int(case["case_id"][1:]) >= 10:
            case["score"] = 1.0 if case["case_id"] == "s10" else 0.0
    inputs["tasks"] = TASKS[:1]
    worst = analyze(inputs, AnalysisSettings(alpha=100.0))
    rows = {r["candidate"]: r for r in worst["tasks"][0]["results"]}
    assert (rows["A"]["n"], rows["A"]["n_errors"], rows["A"]["quality"]) == (20, 10, 0.5)
    assert (rows["B"]["n"], rows["B"]["quality"]) == (20, pytest.approx(0.55))
    assert worst["selected"] == "B"
    excluded = analyze(inputs, AnalysisSettings(alpha=100.0, errors="exclude"))
    rows = {r["candidate"]: r for r in excluded["tasks"][0]["results"]}
    assert (rows["A"]["n"], rows["A"]["n_errors"], rows["A"]["n_excluded_errors"], rows["A"]["quality"]) == (
        10, 10, 10, 1.0)
    assert excluded["settings"]["errors"] == "exclude"


@pytest.mark.parametrize("policy", ["worst", "exclude"])
def test_a_candidate_whose_every_case_errored_is_never_selected(policy):
    """Found with chat requests to a model without a chat template: every case errored, no work
    was measured (cost 0), every candidate tied at the worst quality, and the one that produced
    nothing won on cost. It is excluded, with the reason, under either error policy."""
    mixes = {("bounded", "broken"): (0, 6, 0, ""), ("bounded", "works"): (6, 0, 0, "")}
    inputs = build(mixes, lambda i: 0.0)  # the working candidate answers every case wrongly
    inputs["tasks"] = TASKS[:1]
    inputs["measures"] = {("bounded", "works"): {"model_seconds": 2.0, "input_tokens": 60, "output_tokens": 6}}
    report = analyze(inputs, AnalysisSettings(alpha=1.0, errors=policy))
    task = report["tasks"][0]
    assert task["selection"]["selected"] == "works" and report["selected"] == "works"
    # One cause for all six: the reason names it beside the excluded candidate.
    assert task["selection"]["excluded"]["broken"] == "every case errored (6): no output was scored: RuntimeError: boom"
    row = {r["candidate"]: r for r in task["results"]}["broken"]
    assert (row["n_errors"], row["quality"]) == (6, None)
    # One scored case is enough to be a choice again (it is then judged on its cases).
    mixes[("bounded", "broken")] = (1, 5, 0, "")
    again = analyze(build(mixes, lambda i: 0.0) | {"tasks": TASKS[:1]}, AnalysisSettings(alpha=1.0, errors=policy))
    assert "broken" not in again["tasks"][0]["selection"]["excluded"]


def test_reselection_keeps_the_missing_cases():
    inputs = build({("bounded", "a"): (3, 1, 2, "not run")}, lambda i: 1.0)
    inputs["tasks"] = TASKS[:1]
    report = {**analyze(inputs, AnalysisSettings(alpha=1.0)), "candidates": inputs["candidates"],
              "cases": inputs["cases"], "missing": inputs["missing"]}
    again = inputs_from_report(report)
    assert again["missing"] == [{"task": "bounded", "candidate": "a", "count": 2, "reason": "not run"}]
    row = analyze(again, AnalysisSettings(alpha=1.0))["tasks"][0]["results"][0]
    assert (row["n"], row["n_errors"], row["n_missing"], row["n_planned"]) == (4, 1, 2, 6)


def test_worst_score_from_range_else_observed():
    assert worst_score({"higher_is_better": True, "score_range": [0, 1]}, [0.5]) == 0.0
    assert worst_score({"higher_is_better": False, "score_range": [0, 10]}, [0.5]) == 10.0
    assert worst_score({"higher_is_better": False}, [0.5, 3.0]) == 3.0
    assert worst_score({"higher_is_better": True}, []) is None
    rows = effective_scores([{"task": "t", "candidate": "a", "case_id": "x", "status": "errored", "score": None}],
                            {"name": "t"})
    assert rows == {"a": {}}  # no worst value known: left out, and counted as excluded


@pytest.mark.parametrize(("value", "problem"), [
    (2.0, "score 2.0 for task 't' (metric exact_match) is outside the metric's range [0, 1]"),
    (float("nan"), "score nan for task 't' (metric exact_match) is not finite"),
    (float("-inf"), "score -inf for task 't' (metric exact_match) is not finite"),
    ("1", "score '1' of type str for task 't' (metric exact_match) is not a number"),
    (True, "score True of type bool for task 't' (metric exact_match) is not a number"),
])
def test_score_problems_name_value_task_and_metric(value, problem):
    assert score_problem(value, task="t", metric="exact_match", score_range=(0.0, 1.0)) == problem
    assert score_problem(0.5, task="t", metric="exact_match", score_range=(0.0, 1.0)) is None


def test_counts_and_one_line():
    cases = [{"task": "t", "candidate": "a", "score": 1.0}, {"task": "t", "candidate": "a", "score": None}]
    assert counts(cases, [{"task": "t", "candidate": "a", "count": 3}]) == {
        ("t", "a"): {"scored": 1, "errored": 1, "missing": 3, "raced_out": 0, "planned": 5}}
    raced = [{"task": "t", "candidate": "a", "count": 3, "reason": "raced out after 2 cases"},
             {"task": "t", "candidate": "a", "count": 1, "reason": "interrupted"}]
    assert counts(cases, raced)[("t", "a")] == {"scored": 1, "errored": 1, "missing": 4, "raced_out": 3, "planned": 6}
    assert one_line("\n\nfirst\nsecond") == "first"
    assert len(one_line("x" * 1000)) == 300


def _run(scores: dict[str, list[float | None]], missing=()) -> dict:
    cases = [{"task": "bounded", "case_id": f"c{i}", "candidate": n, "score": s,
              "status": "scored" if s is not None else "errored", "output": None, "group": None}
             for n, ss in scores.items() for i, s in enumerate(ss)]
    inputs = {"candidates": [{"name": n, "spec": n} for n in scores], "tasks": TASKS[:1], "cases": cases,
              "measures": {}, "missing": list(missing)}
    return {**analyze(inputs, AnalysisSettings(alpha=1.0)), "cases": cases, "missing": list(missing),
            "complete": not missing, "candidates": inputs["candidates"]}


def test_gate_states_a_partial_run_and_strict_fails_on_it():
    from pytest_llmselect.gate import GateSettings, compare_runs

    base = _run({"old": [1.0] * 30}, missing=[{"task": "bounded", "candidate": "old", "count": 5,
                                               "reason": "not run: the session stopped early"}])
    # The new model errors on 10 cases: they count at 0, so it is clearly worse, not better.
    cur = _run({"new": [1.0] * 20 + [None] * 10})
    lenient = compare_runs(base, cur, GateSettings(margin=0.02))
    assert lenient.partial == ("the baseline run is a PARTIAL run: 5 planned case(s) not run "
                               "(not run: the session stopped early)",)
    assert lenient.notes[0] == lenient.partial[0]
    assert lenient.find("bounded", "new").quality == pytest.approx(20 / 30)
    assert lenient.verdict == "FAIL"
    same = compare_runs(base, _run({"new": [1.0] * 30}), GateSettings(margin=0.02))
    assert same.verdict != "FAIL" and not same.failed
    assert compare_runs(base, _run({"new": [1.0] * 30}), GateSettings(margin=0.02, strict=True)).failed


def test_overall_row_is_coherent_across_metric_directions():
    """Issue 15 point 11: one higher-is-better and one lower-is-better task."""
    from pytest_llmselect.report import render_terminal

    cases = []
    for name, acc, err in (("a", [1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]), ("b", [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0])):
        cases += [{"task": "acc", "case_id": f"c{i}", "candidate": name, "score": s, "status": "scored"}
                  for i, s in enumerate(acc)]
        cases += [{"task": "err", "case_id": f"c{i}", "candidate": name, "score": s, "status": "scored"}
                  for i, s in enumerate(err)]
    tasks = [{"name": "acc", "metric": "exact_match", "higher_is_better": True, "weight": 1.0},
             {"name": "err", "metric": "error_rate", "higher_is_better": False, "weight": 1.0,
              "score_range": [0.0, 1.0]}]
    inputs = {"candidates": [{"name": "a"}, {"name": "b"}], "tasks": tasks, "cases": cases, "measures": {}}
    report = analyze(inputs, AnalysisSettings(alpha=10.0))
    overall = {r["candidate"]: r for r in report["overall"]["results"]}
    # a: loss (0.25 + 0.25) / 2 = 0.25; b: (0.75 + 0.75) / 2 = 0.75; quality is 1 - loss, not the
    # meaningless mean of an accuracy and an error rate.
    assert overall["a"]["loss"] == pytest.approx(0.25) and overall["a"]["quality"] == pytest.approx(0.75)
    assert overall["b"]["quality"] == pytest.approx(0.25)
    assert report["overall"]["quality_basis"].startswith("1 - weighted loss")
    assert "1 - loss" in render_terminal({**report, "candidates": inputs["candidates"], "cases": cases})
    # Without a known range for the lower-is-better task there is no overall quality at all.
    tasks[1]["score_range"] = None
    report = analyze(inputs, AnalysisSettings(alpha=10.0))
    assert report["overall"]["quality_basis"] is None
    assert all(r["quality"] is None for r in report["overall"]["results"])
    assert report["selected"] == "a"


def test_one_line_can_keep_a_reason_that_comes_on_a_later_line():
    """Found by a new-user trial: a load failure stopped at "Couldn't instantiate the backend
    tokenizer from one of:", the reason (a missing package) on a later line."""
    from pytest_llmselect.accounting import one_line

    message = ("Couldn't instantiate the backend tokenizer from one of: \n(1) a `tokenizers` library "
               "serialization file, \n\n(2) a slow tokenizer instance to convert\nYou need to have "
               "sentencepiece installed to convert a slow tokenizer to a fast one.")
    assert one_line(message) == "Couldn't instantiate the backend tokenizer from one of:"
    joined = one_line(message, 600, join=True)
    assert "\n" not in joined and joined.endswith("You need to have sentencepiece installed to convert a slow "
                                                  "tokenizer to a fast one.")
    assert one_line("a\nb" * 400, 50, join=True).endswith("\u2026") and len(one_line("a\nb" * 400, 50, join=True)) == 50
