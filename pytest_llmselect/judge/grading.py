"""One grading: the judge requests for a list of graded outputs, and their results read as grades.

Pure: builds request values and reads result values; running them is the model pool's job, so
judge requests are batched and cached like any candidate's.

Two ways to read a judge (``method``):

- ``"logprobs"``: one log-likelihood request per possible answer (" 1" .. " 5", or " yes" /
  " no") after the rendered prompt; the grade is the expectation over the renormalised
  probabilities (G-Eval). A local judge always can.
- ``"generate"``: one short greedy generation, parsed; for a judge that gives no prompt
  log-probabilities (most served APIs).

Grades are normalised to [0, 1] (a rubric's 1-5 maps to (s - 1) / 4) so that a judged task's
loss ``1 - quality`` is a shortfall like any other metric's; the raw value is kept too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmselect.backends.base import GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult
from pytest_llmselect.errors import JudgeError, SpecError
from pytest_llmselect.judge.prompts import JudgeTemplate
from pytest_llmselect.judge.rubric import (
    SCORE_LOW,
    expected_score,
    normalise_score,
    parse_score,
    parse_verdict,
)

__all__ = ["METHODS", "Grade", "grade_requests", "read_grade"]

METHODS = ("logprobs", "generate")


@dataclass(frozen=True)
class Grade:
    """``score`` in [0, 1] (None when the judge's answer could not be read: ``error`` says why);
    ``raw``: the 1-5 rubric score or P(yes); ``answer``: the judge's text when it generated."""

    score: float | None
    raw: float | None
    method: str
    error: str | None = None
    answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "raw": self.raw, "method": self.method, "error": self.error,
                "answer": self.answer}


def grade_requests(template: JudgeTemplate, fields: Mapping[str, Any], method: str,
                   ) -> tuple[str, list[GenerateRequest | LoglikelihoodRequest]]:
    """The rendered prompt and the requests that grade one output."""
    if method not in METHODS:
        raise SpecError(f"judge method must be one of {', '.join(METHODS)}, got {method!r}")
    prompt = template.render(fields)
    if method == "logprobs":
        return prompt, list(template.logprob_requests(prompt))
    return prompt, [template.generate_request(prompt)]


def read_grade(template: JudgeTemplate, method: str, results: Sequence[object]) -> Grade:
    """The grade from one output's judge results (in ``grade_requests`` order); a result that is
    an exception (the judge failed on that request) or an unreadable answer gives an errored grade."""
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        first = (str(failed).strip().splitlines() or [type(failed).__name__])[0]
        return Grade(None, None, method, error=f"judge failed: {first}")
    try:
        if method == "logprobs":
            lps = []
            for r in results:
                if not isinstance(r, LoglikelihoodResult):
                    raise JudgeError(f"judge returned {type(r).__name__}, expected a log-likelihood")
                lps.append(r.logprob)
            if template.kind == "rubric":
                raw = expected_score({SCORE_LOW + i: lp for i, lp in enumerate(lps)})
                return Grade(normalise_score(raw), raw, method)
            raw = expected_score({1: lps[0], 0: lps[1]})
            return Grade(raw, raw, method)
        (r,) = results
        if not isinstance(r, GenerateResult):
            raise JudgeError(f"judge returned {type(r).__name__}, expected generated text")
        if template.kind == "rubric":
            raw = parse_score(r.text)
            return Grade(normalise_score(raw), raw, method, answer=r.text)
        raw = parse_verdict(r.text)
        return Grade(raw, raw, method, answer=r.text)
    except JudgeError as exc:
        return Grade(None, None, method, error=str(exc), answer=getattr(results[0], "text", None) if results else None)
