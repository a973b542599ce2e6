from __future__ import annotations

import pytest

from pytest_llmselect.judge.agreement import agreement
from pytest_llmselect.judge.summary import judge_summary
from pytest_llmselect.sampling import pass_at_k, sampling_summary


def case(cid: str, cand: str, grade: float, em: float, sim: float | None = None) -> dict:
    rec = {"task": "t", "case_id": cid, "candidate": cand, "score": em, "status": "scored",
           "judge": {"correctness": {"score": grade, "raw": grade, "method": "generate"}}}
    if sim is not None:
        rec["reference_scores"] = {"semantic_similarity": sim}
    return rec


def test_agreement_with_the_task_metric_and_the_extra_reference_scores() -> None:
    grades = [1, 1, 0, 0, 1, 0, 1, 1, 0, 1]
    ems = [1, 0, 0, 0, 1, 0, 1, 1, 1, 1]
    sims = [0.9, 0.5, 0.2, 0.1, 0.8, 0.3, 0.7, 0.95, 0.6, 0.85]
    cases = [case(f"c{i}", "zoo:tiny", float(g), float(e), s) for i, (g, e, s) in enumerate(zip(grades, ems, sims))]
    block = judge_summary(cases, judge="zoo:base", metric="exact_match",
                          candidates=[{"name": "zoo:tiny", "model": "zoo:tiny"}])
    assert block["kinds"] == ["correctness"] and block["graded"] == 10
    by_ref = {r["reference"]: r for r in block["agreement"]}
    assert by_ref["exact_match"]["method"] == "cohen_kappa"
    assert by_ref["exact_match"]["value"] == pytest.approx(agreement([float(g) for g in grades],
                                                                     [float(e) for e in ems]).value)
    assert by_ref["semantic_similarity"]["method"] == "spearman"
    assert block["self_preference"] == [] and block["warning"] is None


def test_a_judge_that_is_also_a_candidate_is_warned_of() -> None:
    cases = [case("c1", "zoo:base", 1.0, 1.0), case("c2", "zoo:base", 0.0, 1.0)]
    cands = [{"name": "zoo:base", "model": "zoo:base"}, {"name": "zoo:base+knn:4", "model": "zoo:base"},
             {"name": "zoo:tiny", "model": "zoo:tiny", "source": "/m/tiny"}, {"name": "./tiny", "source": "/m/t2"}]
    block = judge_summary(cases, judge="zoo:base", metric="exact_match", candidates=cands)
    assert block["self_preference"] == ["zoo:base", "zoo:base+knn:4"]
    same_weights = judge_summary(cases, judge="./my-judge", judge_source="/m/t2", metric="exact_match", candidates=cands)
    assert same_weights["self_preference"] == ["./tiny"]
    assert "self-preference" in block["warning"]


def test_no_graded_case_no_block() -> None:
    assert judge_summary([{"case_id": "a", "score": 1.0}], judge="j", metric="exact_match") is None


def test_sampling_summary_gives_pass_at_1_and_k_over_cases() -> None:
    cases = [{"samples": {"scores": s, "reducer": "pass@5"}} for s in
             ([1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 1], [0, 0, 1, 0, 0, 0])]
    out = sampling_summary(cases)
    assert out["samples"] == 6 and set(out) >= {"pass@1", "pass@5", "pass@6"}
    expect5 = (pass_at_k(6, 1, 5) + 0 + 1 + pass_at_k(6, 1, 5)) / 4
    assert out["pass@5"]["value"] == pytest.approx(expect5)
    assert out["pass@1"]["value"] == pytest.approx((1 / 6 + 0 + 5 / 6 + 1 / 6) / 4)
    assert out["pass@1"]["lo"] <= out["pass@1"]["value"] <= out["pass@1"]["hi"]
    assert sampling_summary([{"score": 1.0}]) is None
