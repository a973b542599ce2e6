from __future__ import annotations

import math

import pytest

from pytest_llmselect.backends.base import GenerateResult, LoglikelihoodResult
from pytest_llmselect.errors import BackendError, SpecError
from pytest_llmselect.judge.grading import grade_requests, read_grade
from pytest_llmselect.judge.prompts import CORRECTNESS, RUBRIC

FIELDS = {"input": "Summarise: the cat sat.", "output": "A cat sat.", "reference": "The cat sat down."}


def ll(p: float) -> LoglikelihoodResult:
    return LoglikelihoodResult(logprob=math.log(p), num_tokens=1, num_chars=2, is_greedy=False)


def test_logprob_grade_is_the_normalised_expectation() -> None:
    prompt, reqs = grade_requests(RUBRIC, FIELDS, "logprobs")
    assert [r.context for r in reqs] == [prompt] * 5
    g = read_grade(RUBRIC, "logprobs", [ll(p) for p in (0.05, 0.05, 0.1, 0.4, 0.4)])
    assert g.raw == pytest.approx(0.05 + 0.1 + 0.3 + 1.6 + 2.0)
    assert g.score == pytest.approx((g.raw - 1) / 4) and g.error is None


def test_correctness_by_logprobs_is_p_yes() -> None:
    g = read_grade(CORRECTNESS, "logprobs", [ll(0.3), ll(0.1)])
    assert g.score == pytest.approx(0.75)


def test_generated_answers_are_parsed_and_garbage_is_an_error() -> None:
    _, reqs = grade_requests(RUBRIC, FIELDS, "generate")
    assert len(reqs) == 1 and reqs[0].max_new_tokens == 8
    ok = read_grade(RUBRIC, "generate", [GenerateResult(" 4", 10, 1)])
    assert ok.score == 0.75 and ok.answer == " 4"
    bad = read_grade(RUBRIC, "generate", [GenerateResult("the response is fine", 10, 4)])
    assert bad.score is None and bad.error == "judge gave no score 1-5: 'the response is fine'"
    verdict = read_grade(CORRECTNESS, "generate", [GenerateResult(" No.", 10, 2)])
    assert verdict.score == 0.0


def test_a_judge_that_raised_is_an_errored_grade_in_one_line() -> None:
    g = read_grade(RUBRIC, "logprobs", [ll(0.2)] * 4 + [BackendError("server said 500\ntraceback...")])
    assert g.score is None and g.error == "judge failed: server said 500"


def test_unknown_method() -> None:
    with pytest.raises(SpecError, match="judge method must be one of logprobs, generate"):
        grade_requests(RUBRIC, FIELDS, "vote")


def test_judge_metrics_are_declared_and_point_at_the_fixture() -> None:
    from pytest_llmselect.metrics import METRICS

    for name in ("judge_rubric", "judge_correctness"):
        m = METRICS[name]
        assert m.higher_is_better and m.score_range == (0.0, 1.0)
        with pytest.raises(SpecError, match="use the llm_judge fixture"):
            m.fn("output", "reference")
