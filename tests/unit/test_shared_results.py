"""A task without a demonstration pool in the overall of --llm-demos configurations: each
configuration counts its model's result there (shared_results.py, through analysis.analyze)."""

from __future__ import annotations

import pytest

from pytest_llmselect.analysis import AnalysisSettings, analyze, inputs_from_report
from pytest_llmselect.shared_results import SHARED_NOTE, share_model_results

MODELS = ("m1", "m2")
CONFIGS = ("first:1", "knn:2")


def candidate(name: str, model: str | None = None, demos: str | None = None) -> dict:
    return {"name": name, "spec": model or name, "model": model or name, "demos": demos,
            "price": {"usd_per_hour": 3.6, "source": "configured"}}


def make_inputs(plain: dict[str, list[float]], pooled: dict[str, list[float]], seconds: dict[tuple[str, str], float],
                *, plain_min_quality: float | None = None) -> dict:
    cands = [c for m in MODELS for c in (candidate(m), *(candidate(f"{m}+{d}", m, d) for d in CONFIGS))]
    cases = [{"task": task, "case_id": f"c{i}", "candidate": n, "score": float(s), "output": "", "group": None}
             for task, rows in (("plain", plain), ("pooled", pooled)) for n, ss in rows.items()
             for i, s in enumerate(ss)]
    tasks = [{"name": "plain", "metric": "exact_match", "higher_is_better": True, "min_quality": plain_min_quality,
              "weight": 1.0},
             {"name": "pooled", "metric": "exact_match", "higher_is_better": True, "min_quality": None, "weight": 1.0,
              "demos": {"pool": "pool.jsonl", "size": 10, "fingerprint": "x", "default": "first:1"}}]
    return {"candidates": cands, "tasks": tasks, "cases": cases,
            "measures": {key: {"model_seconds": s} for key, s in seconds.items()}}


PLAIN = {"m1": [1, 1, 1, 0] * 10, "m2": [1, 0, 0, 0] * 10}
POOLED = {"m1+first:1": [1, 0, 0, 0] * 10, "m1+knn:2": [1, 1, 0, 0] * 10,
          "m2+first:1": [1, 1, 1, 1] * 10, "m2+knn:2": [1, 1, 1, 0] * 10}
SECONDS = {**{("plain", m): s for m, s in (("m1", 40.0), ("m2", 4.0))},
           **{("pooled", c): 8.0 for c in POOLED}}


def test_each_configuration_counts_its_models_result_on_a_task_without_a_pool():
    rep = analyze(make_inputs(PLAIN, POOLED, SECONDS), AnalysisSettings(alpha=10.0))
    tasks = {t["name"]: t for t in rep["tasks"]}
    assert [r["candidate"] for r in tasks["plain"]["results"]] == list(MODELS)  # reported per model
    assert [r["candidate"] for r in tasks["pooled"]["results"]] == list(POOLED)
    overall = rep["overall"]
    rows = {r["candidate"]: r for r in overall["results"]}
    assert sorted(rows) == sorted(POOLED)  # the bare models leave the overall: their configurations stand in
    plain = {r["candidate"]: r for r in tasks["plain"]["results"]}
    pooled = {r["candidate"]: r for r in tasks["pooled"]["results"]}
    for name, row in rows.items():
        model = name.split("+")[0]
        assert row["cost"] == pytest.approx((plain[model]["cost"] + pooled[name]["cost"]) / 2)
        assert row["loss"] == pytest.approx((plain[model]["loss"] + pooled[name]["loss"]) / 2)
    # m2 is weak on plain (loss 0.75) and cheap; m2+first:1 is perfect on pooled: overall loss 0.375.
    assert rep["selected"] == min(rows, key=lambda n: rows[n]["objective"]) == "m2+first:1"
    assert overall["shared"] == {"plain": SHARED_NOTE}
    assert set(overall["pick_probability"]) <= set(POOLED)
    assert overall["excluded"] == {}


def test_a_models_exclusion_on_a_task_without_a_pool_excludes_its_configurations():
    rep = analyze(make_inputs(PLAIN, POOLED, SECONDS, plain_min_quality=0.5), AnalysisSettings(alpha=10.0))
    excluded = rep["overall"]["excluded"]
    assert set(excluded) == {"m2+first:1", "m2+knn:2"}
    assert all("below min_quality 0.5 on task 'plain'" in why for why in excluded.values())
    assert rep["selected"] == "m1+knn:2"


def test_a_saved_report_reselects_the_same_way():
    inputs = make_inputs(PLAIN, POOLED, SECONDS)
    rep = analyze(inputs, AnalysisSettings(alpha=10.0))
    again = analyze(inputs_from_report({**rep, "candidates": inputs["candidates"], "cases": inputs["cases"]}),
                    AnalysisSettings(alpha=10.0))
    assert again["overall"] == rep["overall"]


def test_without_configurations_of_their_own_nothing_is_shared():
    inputs = make_inputs(PLAIN, {"m1": [1, 0] * 10, "m2": [0, 1] * 10}, {("plain", "m1"): 1.0, ("plain", "m2"): 1.0,
                                                                        ("pooled", "m1"): 1.0, ("pooled", "m2"): 1.0})
    rep = analyze(inputs, AnalysisSettings(alpha=10.0))
    assert sorted(r["candidate"] for r in rep["overall"]["results"]) == list(MODELS)
    assert "shared" not in rep["overall"]
    view = share_model_results(rep["tasks"], inputs["cases"], inputs["candidates"])
    assert view.shared == {} and view.replaced == frozenset() and view.cases == inputs["cases"]


def test_shared_cases_pair_configurations_of_one_model():
    inputs = make_inputs(PLAIN, POOLED, SECONDS)
    rep = analyze(inputs, AnalysisSettings(alpha=10.0))
    view = share_model_results(rep["tasks"], inputs["cases"], inputs["candidates"])
    plain = [c for c in view.cases if c["task"] == "plain"]
    # Every configuration has its model's 40 plain scores, in its own name; the bare models none.
    assert sorted({c["candidate"] for c in plain}) == sorted(POOLED)
    for name in POOLED:
        mine = [c["score"] for c in plain if c["candidate"] == name]
        assert mine == [float(s) for s in PLAIN[name.split("+")[0]]]
    assert view.replaced == frozenset(MODELS)


def as_report(inputs: dict) -> dict:
    derived = analyze(inputs, AnalysisSettings(alpha=10.0))
    return {**derived, "candidates": inputs["candidates"], "cases": inputs["cases"],
            "suite": {"fingerprint": "v1"}, "machine": {"platform": "linux", "cpu_count": 2}}


def test_the_gate_compares_a_task_without_a_pool_with_the_incumbents_model():
    from pytest_llmselect.gate import GateSettings, compare_runs

    baseline = as_report(make_inputs(PLAIN, POOLED, SECONDS))
    assert baseline["selected"] == "m2+first:1"
    current = as_report(make_inputs({"m1": PLAIN["m1"], "m2": PLAIN["m1"]}, POOLED, SECONDS))
    result = compare_runs(baseline, current, GateSettings(margin=0.05))
    # The incumbent configuration's result on "plain" is its model's: m2's 40 cases.
    plain = {v.candidate: v for v in result.verdicts if v.task == "plain"}
    assert set(plain) == set(MODELS)  # each model once: the configurations ran nothing there
    assert all(v.n_shared == 40 and v.incumbent == "m2+first:1" for v in plain.values())
    assert plain["m2"].quality == pytest.approx(0.75) and plain["m2"].incumbent_quality == pytest.approx(0.25)
    assert plain["m2"].verdict == "PASS"
    assert plain["m2"].cost_ratio == pytest.approx(1.0)  # the same seconds as the incumbent's model
    assert {(v.task, v.candidate) for v in result.verdicts if v.task == "pooled"} == {("pooled", c) for c in POOLED}
