"""The report's decisions end to end through ``analyze`` and the renderers (issue 20): groups,
partial runs, ties, the overall scale, one candidate, the banner."""

from __future__ import annotations

import pytest

from pytest_llmselect.analysis import AnalysisSettings, analyze
from pytest_llmselect.report.html import render_html
from pytest_llmselect.report.terminal import render_terminal


def _inputs(tasks: dict[str, dict], cost: dict[str, float], *, missing=(), errored=()) -> dict:
    """``tasks``: name -> {"scores": {candidate: [...]}, "groups": [...] | None, "metric", "range", "hib"}."""
    names = list(cost)
    cands = [{"name": c, "spec": c, "price": {"usd_per_hour": 3.6, "source": "configured"}} for c in names]
    cases, measures, task_list = [], {}, []
    for t, spec in tasks.items():
        groups = spec.get("groups")
        for c, ss in spec["scores"].items():
            for i, s in enumerate(ss):
                case = {"task": t, "case_id": f"c{i}", "candidate": c, "score": s,
                        "group": None if groups is None else groups[i], "status": "scored"}
                if (t, c, i) in errored:
                    case.update(score=None, status="errored", error="boom")
                cases.append(case)
            measures[(t, c)] = {"model_seconds": cost[c] * len(ss)}
        task_list.append({"name": t, "metric": spec.get("metric", "exact_match"), "weight": 1.0,
                          "higher_is_better": spec.get("hib", True), "score_range": spec.get("range")})
    return {"candidates": cands, "cases": cases, "tasks": task_list, "measures": measures,
            "missing": [{"task": t, "candidate": c, "count": n, "reason": "interrupted"} for t, c, n in missing]}


def test_groups_of_identical_cases_do_not_make_a_clear_pick() -> None:
    a = [1.0] * 15 + [0.0] * 5
    b = [0.0] * 20
    plain = analyze(_inputs({"t": {"scores": {"a": a, "b": b}}}, {"a": 1.0, "b": 1.0}), AnalysisSettings(alpha=10.0))
    grouped = analyze(_inputs({"t": {"scores": {"a": a, "b": b}, "groups": [i // 5 for i in range(20)]}},
                              {"a": 1.0, "b": 1.0}), AnalysisSettings(alpha=10.0))
    assert plain["tasks"][0]["clear_pick"] is True
    task = grouped["tasks"][0]
    cmp = next(r for r in task["results"] if r["candidate"] == "b")["comparison"]
    assert cmp["method"] == "clustered_score" and cmp["verdict"].startswith("not distinguishable")
    assert task["clear_pick"] is False and task["pick_probability"]["a"] <= 0.95


def test_a_partial_run_has_no_overall_pick_and_no_green_banner() -> None:
    tasks = {"t1": {"scores": {"a": [1.0] * 30, "b": [0.0] * 20}}, "t2": {"scores": {"a": [1.0] * 30, "b": [0.0] * 30}}}
    report = analyze(_inputs(tasks, {"a": 1.0, "b": 1.0}, missing=[("t1", "b", 10)]), AnalysisSettings(alpha=10.0))
    assert report["selected"] is None
    assert report["overall"]["selection"]["no_pick_reason"] == "no overall pick: partial run, 10 cases of b not run"
    assert report["tasks"][0]["clear_pick"] is False
    assert report["tasks"][0]["clear_reason"].startswith("partial run")
    report["complete"] = False
    text = render_terminal(report)
    assert "Selected overall: none (no overall pick: partial run, 10 cases of b not run)" in text
    html = render_html(report)
    assert 'class="unsure"' in html and 'class="selected"' not in html


def test_a_complete_clear_pick_keeps_the_green_banner() -> None:
    tasks = {"t1": {"scores": {"a": [1.0] * 30, "b": [0.0] * 30}}, "t2": {"scores": {"a": [1.0] * 30, "b": [0.0] * 30}}}
    report = analyze(_inputs(tasks, {"a": 1.0, "b": 1.0}), AnalysisSettings(alpha=10.0))
    assert report["selected"] == "a" and report["overall"]["clear_pick"] is True
    assert 'class="selected"' in render_html(report)


def test_an_exact_tie_goes_to_the_candidate_with_fewer_errored_cases() -> None:
    # "a" errors on a case both miss anyway (worst value 0 either way): same objective as "b".
    scores = {"a": [1.0, 0.0] * 10, "b": [1.0, 0.0] * 10}
    report = analyze(_inputs({"t": {"scores": scores}}, {"a": 1.0, "b": 1.0}, errored={("t", "a", 1)}),
                     AnalysisSettings(alpha=10.0))
    sel = report["tasks"][0]["selection"]
    assert sel["selected"] == "b" and sel["ties"] == ["b", "a"]
    assert sel["tie_break"] == "exact tie on the objective between b, a; broken by fewer errored cases"
    assert report["tasks"][0]["clear_pick"] is False
    assert report["tasks"][0]["pick_probability"]["b"] == pytest.approx(0.5, abs=0.05)


def test_the_overall_weighs_each_task_on_its_range_and_leaves_out_an_unknown_one() -> None:
    # Accuracy: "good" 0.8, "bad" 0.5 on two tasks; absolute error on 0-200: good 60, bad 30.
    # Raw units: bad's 30-unit edge outweighs; on [0, 1]: (0.3 + 0.3 - 0.15) / 3 favours good.
    acc = {"scores": {"good": [1.0] * 8 + [0.0] * 2, "bad": [1.0] * 5 + [0.0] * 5}}
    err = {"scores": {"good": [60.0] * 10, "bad": [30.0] * 10}, "metric": None, "range": [0, 200], "hib": False}
    unknown = {"scores": {"good": [0.5] * 10, "bad": [0.9] * 10}, "metric": None}
    report = analyze(_inputs({"acc1": acc, "acc2": acc, "err": err, "odd": unknown}, {"good": 1.0, "bad": 1.0}),
                     AnalysisSettings(alpha=1.0))
    assert report["selected"] == "good"
    assert list(report["overall"]["left_out"]) == ["odd"]
    rows = {r["candidate"]: r for r in report["overall"]["results"]}
    assert rows["good"]["loss"] == pytest.approx((0.2 + 0.2 + 0.3) / 3)
    assert "Left out" in render_terminal(report)


def test_one_evaluated_candidate_is_never_a_clear_pick() -> None:
    report = analyze(_inputs({"t": {"scores": {"a": [1.0] * 30}}}, {"a": 1.0}), AnalysisSettings(alpha=1.0))
    assert report["tasks"][0]["clear_pick"] is False
    assert "only one candidate" in report["tasks"][0]["clear_reason"]
    assert "NO CLEAR PICK (only one candidate was evaluated" in render_terminal(report)
