"""Reading a judge's answer: a G-Eval-style rubric score and a yes/no correctness verdict.

Pure: no pytest, no torch, no I/O.

Where the judge gives log-probabilities, the rubric score is G-Eval's (Liu et al. 2023,
"G-Eval: NLG Evaluation using GPT-4 with Better Human Alignment", section 2.3): the
expectation of the score over the probabilities the judge puts on the score tokens,
renormalised over those tokens, so a judge torn between 3 and 4 gives 3.5 rather than
whichever it happened to print. The correctness verdict is likewise P(yes) / (P(yes) + P(no)).
Otherwise the judge's generated text is parsed; an answer that holds no score in range is a
:class:`JudgeError`, never a silent score.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping

from pytest_llmselect.errors import JudgeError

__all__ = [
    "SCORE_HIGH", "SCORE_LOW", "expected_score", "normalise_score", "parse_score", "parse_verdict",
    "verdict_probability",
]

SCORE_LOW, SCORE_HIGH = 1, 5

# A number not glued to a word ("gpt4" is no score); "4/5" and "**4**" read as 4.
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w])")
_YES = ("yes", "correct", "true", "match", "matches")
_NO = ("no", "incorrect", "false", "wrong", "mismatch")
_WORD = re.compile(r"[a-z]+")


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def expected_score(logprobs: Mapping[int, float]) -> float:
    """The expectation of the score under the judge's probabilities of the score tokens
    (``{score: log-probability}``), renormalised over those scores."""
    if not isinstance(logprobs, Mapping) or not logprobs:
        raise JudgeError(f"expected_score: needs {{score: log-probability}}, got {logprobs!r}")
    items = []
    for score, lp in logprobs.items():
        if isinstance(lp, bool) or not isinstance(lp, numbers.Real) or math.isnan(lp) or lp > 1e-9:
            raise JudgeError(f"expected_score: log-probability of {score!r} must be a number <= 0, got {lp!r}")
        items.append((float(score), float(lp)))
    top = max(lp for _, lp in items)
    if top == -math.inf:
        raise JudgeError("expected_score: the judge gives every score probability 0")
    weights = [(s, math.exp(lp - top)) for s, lp in items]
    total = math.fsum(w for _, w in weights)
    return math.fsum(s * w for s, w in weights) / total


def verdict_probability(logprob_yes: float, logprob_no: float) -> float:
    """P(yes) / (P(yes) + P(no)) from the two answers' log-probabilities."""
    return expected_score({1: logprob_yes, 0: logprob_no})


def parse_score(text: str, low: int = SCORE_LOW, high: int = SCORE_HIGH) -> float:
    """The first number in the judge's answer, which must lie in [low, high]."""
    if not isinstance(text, str):
        raise JudgeError(f"judge answer must be text, got {text!r} of type {type(text).__name__}")
    match = _NUMBER.search(text)
    if match is None:
        raise JudgeError(f"judge gave no score {low}-{high}: {_short(text)}")
    value = float(match.group(1))
    if not low <= value <= high:
        raise JudgeError(f"judge gave a score outside {low}-{high}: {_short(text)}")
    return value


def parse_verdict(text: str) -> float:
    """1.0 for a yes ("yes", "correct", ...), 0.0 for a no, read from the answer's first word."""
    if not isinstance(text, str):
        raise JudgeError(f"judge answer must be text, got {text!r} of type {type(text).__name__}")
    match = _WORD.search(text.lower())
    word = match.group(0) if match else ""
    if word in _YES:
        return 1.0
    if word in _NO:
        return 0.0
    raise JudgeError(f"judge gave no yes/no verdict: {_short(text)}")


def normalise_score(score: float, low: int = SCORE_LOW, high: int = SCORE_HIGH) -> float:
    """A rubric score mapped onto [0, 1], so that ``loss = 1 - quality`` is the shortfall."""
    return (float(score) - low) / (high - low)
