"""The pure step from per-case records to the report's derived part."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.analysis import AnalysisSettings, analyze, inputs_from_report
from pytest_llmselect.engine import Measures, plan_batches
from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest


def make_inputs(scores: dict[str, list[float]], seconds: dict[str, float], *, min_quality=None, task="t"):
    cands = [{"name": n, "spec": n, "price": {"usd_per_hour": 3.6, "source": "configured"}} for n in scores]
    cases = [{"task": task, "case_id": f"c{i}", "candidate": n, "score": s, "output": "", "group": None}
             for n, ss in scores.items() for i, s in enumerate(ss)]
    measures = {(task, n): {"model_seconds": seconds[n]} for n in scores}
    return {"candidates": cands, "tasks": [{"name": task, "metric": "exact_match", "higher_is_better": True,
                                            "min_quality": min_quality, "weight": 1.0}],
            "cases": cases, "measures": measures}


def test_objective_cost_and_selection():
    inputs = make_inputs({"a": [1, 1, 1, 0] * 10, "b": [1, 0, 0, 0] * 10}, {"a": 40.0, "b": 4.0})
    rep = analyze(inputs, AnalysisSettings(alpha=10.0))
    res = {r["candidate"]: r for r in rep["tasks"][0]["results"]}
    # $3.6/hour = $0.001/s; a: 40 s for 40 cases -> $1 per 1,000 cases.
    assert res["a"]["cost"] == pytest.approx(1.0)
    assert res["b"]["cost"] == pytest.approx(0.1)
    assert res["a"]["loss"] == pytest.approx(0.25)
    assert res["a"]["objective"] == pytest.approx(1.0 + 10 * 0.25)
    assert rep["tasks"][0]["selection"]["selected"] == "a"
    assert rep["selected"] == "a"
    # Cheap b wins only when quality is worth little: below (1.0-0.1)/(0.75-0.25) = 1.8.
    lo, hi = rep["tasks"][0]["alpha_ranges"]["b"]
    assert lo == 0 and hi == pytest.approx(1.8)
    assert rep["tasks"][0]["alpha_ranges"]["a"][1] is None  # unbounded above
    assert analyze(inputs, AnalysisSettings(alpha=1.0))["selected"] == "b"
    cmp = res["b"]["comparison"]
    # The comparison is about the objective: b's is 0.1 + 10 * 0.75 = 7.6 against a's 3.5.
    assert cmp["vs"] == "a" and cmp["diff"] == pytest.approx(7.6 - 3.5)
    assert cmp["cost_diff"] == pytest.approx(0.1 - 1.0) and cmp["loss_diff"] == pytest.approx(0.5)
    assert cmp["verdict"] == "significantly worse on the objective"
    assert cmp["lo"] > 0
    quality = res["b"]["quality_comparison"]
    assert quality["diff"] == pytest.approx(-0.5) and quality["verdict"] == "lower quality"
    assert res["a"]["comparison"] is None


def test_min_quality_excludes_before_argmin():
    inputs = make_inputs({"a": [1, 1, 0, 0] * 5, "b": [1, 1, 1, 0] * 5}, {"a": 1.0, "b": 100.0}, min_quality=0.6)
    rep = analyze(inputs, AnalysisSettings(alpha=0.0))
    task = rep["tasks"][0]
    assert task["selection"]["selected"] == "b"
    assert "below min_quality 0.6" in task["selection"]["excluded"]["a"]
    assert task["alpha_ranges"]["a"] is None
    assert rep["overall"]["selection"]["selected"] == "b"
    assert "on task 't'" in rep["overall"]["excluded"]["a"]


def test_underpowered_difference_is_called_indistinguishable():
    inputs = make_inputs({"a": [1, 0, 1, 1, 0], "b": [1, 0, 1, 0, 0]}, {"a": 1.0, "b": 1.0})
    rep = analyze(inputs, AnalysisSettings(alpha=10.0))
    cmp = {r["candidate"]: r["comparison"] for r in rep["tasks"][0]["results"]}["b"]
    assert cmp["verdict"].startswith("not distinguishable on the objective")
    assert "cases would likely settle it" in cmp["verdict"]
    assert cmp["lo"] <= 0 <= cmp["hi"]


def test_reanalysis_from_a_report_round_trips():
    inputs = make_inputs({"a": [1, 1, 1, 0] * 10, "b": [1, 0, 0, 0] * 10}, {"a": 40.0, "b": 4.0})
    rep = analyze(inputs, AnalysisSettings(alpha=10.0))
    full = {**rep, "candidates": inputs["candidates"], "cases": inputs["cases"]}
    again = analyze(inputs_from_report(full), AnalysisSettings(alpha=10.0))
    assert again["tasks"] == rep["tasks"] and again["overall"] == rep["overall"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.lists(st.sampled_from([0.0, 1.0]), min_size=6, max_size=6),
                       st.floats(0.01, 100.0)), min_size=2, max_size=4),
    st.floats(0.0, 1000.0),
)
def test_selected_is_brute_force_argmin(cands, alpha):
    scores = {f"m{i}": s for i, (s, _) in enumerate(cands)}
    seconds = {f"m{i}": t for i, (_, t) in enumerate(cands)}
    rep = analyze(make_inputs(scores, seconds), AnalysisSettings(alpha=alpha))
    objectives = {r["candidate"]: r["objective"] for r in rep["tasks"][0]["results"]}
    best = min(objectives.values())
    assert math.isclose(objectives[rep["selected"]], best, rel_tol=1e-9, abs_tol=1e-12)
    assert rep["selected"] in rep["tasks"][0]["pareto"] or any(
        math.isclose(objectives[p], best, rel_tol=1e-9) for p in rep["tasks"][0]["pareto"])


def test_plan_batches_sorts_dedupes_and_splits_by_kind():
    reqs = [GenerateRequest("a" * n, max_new_tokens=4, stop=("\n",)) for n in (3, 9, 1, 9, 5)]
    reqs += [GenerateRequest("zz", max_new_tokens=8)]
    reqs += [LoglikelihoodRequest("ctx", c) for c in ("x", "yyy")]
    batches = plan_batches(reqs, batch_size=2)
    flat = [r for b in batches for r in b]
    assert len(flat) == len(set(reqs)) == 7
    assert all(len(b) <= 2 for b in batches)
    for b in batches:  # one kind and one generation setting per batch
        assert len({type(r) for r in b}) == 1
        assert len({(r.max_new_tokens, r.stop) for r in b if isinstance(r, GenerateRequest)}) <= 1
    gen4 = [len(r.prompt) for r in flat if isinstance(r, GenerateRequest) and r.max_new_tokens == 4]
    assert gen4 == sorted(gen4, reverse=True)


def test_measures_latency_is_batch_time():
    from pytest_llmselect.backends.base import GenerateResult

    m = Measures()
    m.add_batch(0.5, [GenerateResult("x", 3, 1, 0.1), GenerateResult("y", 4, 2, 0.1)])
    assert m.latencies == [0.5, 0.5] and m.requests == 2 and m.batches == 1
    assert (m.input_tokens, m.output_tokens) == (7, 3)


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_one_task_run_states_one_verdict_for_the_task_and_overall(seed):
    """A one-task run said "NO CLEAR PICK" for the task and "clear pick" overall: the overall
    verdict only asked for the resample share, the task's also for every other candidate being
    significantly worse on the objective. With one task they are the same selection and must
    be the same verdict (about 1 in 5 of these random runs disagreed before)."""
    import random

    from pytest_llmselect.analysis import AnalysisSettings, analyze

    rng = random.Random(seed)
    n = rng.choice([10, 20, 40])
    cases = [{"task": "t", "case_id": f"c{i}", "candidate": c, "score": float(rng.random() < p), "status": "scored",
              "output": None, "group": None}
             for c, p in (("a", rng.random()), ("b", rng.random())) for i in range(n)]
    inputs = {"candidates": [{"name": c, "spec": c, "status": "evaluated"} for c in ("a", "b")],
              "tasks": [{"name": "t", "metric": "exact_match", "higher_is_better": True, "weight": 1.0,
                         "score_range": [0.0, 1.0]}],
              "cases": cases, "missing": [],
              "measures": {("t", c): {"model_seconds": rng.uniform(0.5, 3), "input_tokens": 10, "output_tokens": 2}
                           for c in ("a", "b")}}
    report = analyze(inputs, AnalysisSettings(alpha=rng.choice([0.1, 1.0, 10.0, 100.0])))
    task, overall = report["tasks"][0], report["overall"]
    assert overall["selection"]["selected"] == task["selection"]["selected"]
    assert (overall["clear_pick"], overall["runner_up"]) == (task["clear_pick"], task["runner_up"])


def test_quality_intervals_stay_in_the_declared_range_and_few_agreeing_groups_do_not_collapse_them():
    """Found by a new-user trial: a lower-is-better score in [0, 100] gave 0.750 [-0.224, 1.724]
    (below the range), and with two groups whose means agreed, 0.750 [0.750, 0.750]."""
    from pytest_llmselect.stats import estimate, t_interval

    scores = [0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 2.0, 1.0]  # two groups of four, both of mean 0.75
    groups = ["p0"] * 4 + ["p1"] * 4
    est = estimate(scores, groups=groups)
    lo, hi = t_interval(scores)
    assert est.method == "cluster" and est.lo <= lo < est.mean < hi <= est.hi
    for with_groups in (False, True):
        inputs = make_inputs({"a": scores, "b": [s + 1 for s in scores]}, {"a": 1.0, "b": 1.0})
        inputs["tasks"][0].update(metric="distance", higher_is_better=False, score_range=[0.0, 100.0])
        if with_groups:
            for case, g in zip([c for c in inputs["cases"] if c["candidate"] == "a"], groups):
                case["group"] = g
        row = {r["candidate"]: r for r in analyze(inputs, AnalysisSettings(alpha=1.0))["tasks"][0]["results"]}["a"]
        assert row["lo"] == 0.0 and row["loss_lo"] == 0.0 and row["hi"] > row["quality"] > row["lo"], row
        assert row["objective_lo"] >= row["cost_lo"]  # cost + alpha * (a loss of at least 0)
