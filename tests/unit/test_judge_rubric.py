from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import JudgeError, SpecError
from pytest_llmselect.judge.prompts import CORRECTNESS, RUBRIC, JudgeTemplate, template_for
from pytest_llmselect.judge.rubric import (
    expected_score,
    normalise_score,
    parse_score,
    parse_verdict,
    verdict_probability,
)


class TestExpectedScore:
    def test_is_the_expectation_over_renormalised_probabilities(self) -> None:
        # P(3) = P(4) = 0.2 in the judge, nothing else: renormalised 0.5 each, expectation 3.5.
        lp = {1: -math.inf, 2: -math.inf, 3: math.log(0.2), 4: math.log(0.2), 5: -math.inf}
        assert expected_score(lp) == pytest.approx(3.5)
        assert expected_score({1: math.log(0.1), 5: math.log(0.3)}) == pytest.approx(0.25 * 1 + 0.75 * 5)

    @given(st.lists(st.floats(-50, 0), min_size=5, max_size=5))
    def test_lies_between_the_scores(self, lps: list[float]) -> None:
        v = expected_score(dict(zip(range(1, 6), lps)))
        assert 1.0 - 1e-9 <= v <= 5.0 + 1e-9

    def test_survives_very_small_logprobs(self) -> None:
        assert expected_score({1: -2000.0, 2: -2000.0}) == pytest.approx(1.5)

    @pytest.mark.parametrize("lps", [{}, {1: float("nan")}, {1: 0.5}, {1: -math.inf, 2: -math.inf}])
    def test_rejects_what_is_no_distribution(self, lps: dict[int, float]) -> None:
        with pytest.raises(JudgeError, match="expected_score"):
            expected_score(lps)

    def test_verdict_probability(self) -> None:
        assert verdict_probability(math.log(0.6), math.log(0.2)) == pytest.approx(0.75)


class TestParse:
    @pytest.mark.parametrize(("text", "score"), [("4", 4.0), (" Score: 3/5", 3.0), ("**5**", 5.0),
                                                 ("2.5", 2.5), ("1\nbecause", 1.0)])
    def test_reads_the_first_number(self, text: str, score: float) -> None:
        assert parse_score(text) == score

    @pytest.mark.parametrize("text", ["", "excellent", "gpt4 says", "7", "0", "-"])
    def test_garbage_is_an_error_not_a_score(self, text: str) -> None:
        with pytest.raises(JudgeError, match="judge gave"):
            parse_score(text)

    @given(st.text(max_size=40))
    def test_never_anything_but_a_score_in_range_or_judge_error(self, text: str) -> None:
        try:
            v = parse_score(text)
        except JudgeError as exc:
            assert "\n" not in str(exc)
        else:
            assert 1.0 <= v <= 5.0

    @pytest.mark.parametrize(("text", "v"), [(" Yes.", 1.0), ("no, it differs", 0.0), ("Correct", 1.0),
                                             ("incorrect", 0.0)])
    def test_verdicts(self, text: str, v: float) -> None:
        assert parse_verdict(text) == v

    @given(st.text(max_size=40))
    def test_verdict_or_judge_error(self, text: str) -> None:
        try:
            assert parse_verdict(text) in (0.0, 1.0)
        except JudgeError:
            pass

    def test_garbage_verdict(self) -> None:
        with pytest.raises(JudgeError, match="no yes/no verdict: 'maybe so'"):
            parse_verdict("maybe so")

    def test_normalise(self) -> None:
        assert [normalise_score(s) for s in (1, 3, 5)] == [0.0, 0.5, 1.0]


class TestTemplates:
    def test_rubric_prompt_holds_the_graded_text_and_ends_at_the_score(self) -> None:
        prompt = RUBRIC.render({"input": "Summarise X", "output": "X is Y", "reference": "X means Y"})
        assert "Summarise X" in prompt and "X is Y" in prompt and "Reference answer:\nX means Y" in prompt
        assert prompt.endswith("Score (1-5):")
        assert "Reference answer" not in RUBRIC.render({"input": "q", "output": "a"})
        assert [r.continuation for r in RUBRIC.logprob_requests(prompt)] == [" 1", " 2", " 3", " 4", " 5"]
        assert [r.continuation for r in CORRECTNESS.logprob_requests("p")] == [" yes", " no"]

    def test_missing_field_names_it(self) -> None:
        with pytest.raises(SpecError, match="'output' is undefined"):
            RUBRIC.render({"input": "q"})

    def test_identity_changes_with_the_text(self) -> None:
        assert template_for("rubric") is RUBRIC
        custom = template_for("rubric", "Rate {{ output }} 1-5:")
        assert custom.identity != RUBRIC.identity
        assert custom.render({"output": "hi"}) == "Rate hi 1-5:"

    def test_bad_template(self) -> None:
        with pytest.raises(SpecError, match="judge template"):
            JudgeTemplate("x", "{% if %}", "rubric")
        with pytest.raises(SpecError, match="kind must be one of rubric, correctness"):
            template_for("pairwise")
