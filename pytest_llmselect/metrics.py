"""Per-case scoring functions: pure, deterministic, no I/O.

Every metric maps one model output (and its reference) to a float. Binary
metrics return exactly ``1.0`` or ``0.0`` so that ``stats.estimate`` can
recognise 0/1 data and use the Wilson interval.

Text normalisation (``normalize_text``) is deliberately light: it removes
differences of case, surrounding whitespace and *surrounding* punctuation
("Paris." vs "paris"), but keeps inner punctuation ("3.14", "e-mail") and
articles, because stripping those changes the meaning of short answers.
"""

from __future__ import annotations

import math
import numbers
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pytest_llmselect.errors import SpecError

__all__ = [
    "METRICS",
    "Metric",
    "choice_accuracy",
    "contains",
    "exact_match",
    "mentions",
    "normalize_text",
    "semantic_similarity",
    "token_f1",
]


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_punctuation(ch: str) -> bool:
    # Unicode categories P* cover ASCII and CJK punctuation alike ("。", "？").
    return unicodedata.category(ch).startswith("P")


def _strip_edge_punctuation(s: str) -> str:
    start, end = 0, len(s)
    while start < end and (_is_punctuation(s[start]) or s[start].isspace()):
        start += 1
    while end > start and (_is_punctuation(s[end - 1]) or s[end - 1].isspace()):
        end -= 1
    return s[start:end]


def normalize_text(s: str) -> str:
    """Return ``s`` lowercased, with runs of whitespace collapsed to one space
    and whitespace and punctuation removed from both ends.

    Punctuation means any Unicode character of category ``P*``; punctuation
    inside the text is kept. Examples::

        normalize_text("  The  Answer!\\n") == "the answer"
        normalize_text("'3.14'") == "3.14"
    """
    if not isinstance(s, str):
        raise SpecError(f"normalize_text: `s` must be a str, got {_describe(s)}")
    collapsed = " ".join(s.lower().split())
    return _strip_edge_punctuation(collapsed)


def _references(reference: str | Sequence[str], fn: str) -> list[str]:
    if isinstance(reference, str):
        return [reference]
    if not isinstance(reference, Sequence):
        raise SpecError(
            f"{fn}: `reference` must be a str or a sequence of str, got {_describe(reference)}"
        )
    refs = list(reference)
    if not refs:
        raise SpecError(f"{fn}: `reference` must not be an empty sequence, got {_describe(reference)}")
    for r in refs:
        if not isinstance(r, str):
            raise SpecError(f"{fn}: every reference must be a str, got {_describe(r)}")
    return refs


def _check_prediction(prediction: object, fn: str) -> str:
    if not isinstance(prediction, str):
        raise SpecError(f"{fn}: `prediction` must be a str, got {_describe(prediction)}")
    return prediction


def exact_match(
    prediction: str, reference: str | Sequence[str], *, normalize: bool = True
) -> float:
    """1.0 if ``prediction`` equals the reference (or any of several), else 0.0.

    With ``normalize=True`` (the default) both sides go through
    ``normalize_text`` first; with ``normalize=False`` the comparison is exact.
    """
    pred = _check_prediction(prediction, "exact_match")
    refs = _references(reference, "exact_match")
    if normalize:
        pred = normalize_text(pred)
        refs = [normalize_text(r) for r in refs]
    return 1.0 if pred in refs else 0.0


def _tokens(s: str) -> list[str]:
    # Punctuation is stripped from each token's ends so that "cat," == "cat".
    out = []
    for tok in normalize_text(s).split(" "):
        tok = _strip_edge_punctuation(tok)
        if tok:
            out.append(tok)
    return out


def _f1(pred_tokens: list[str], ref_tokens: list[str]) -> float:
    if not pred_tokens and not ref_tokens:
        return 1.0
    if not pred_tokens or not ref_tokens:
        return 0.0
    common = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, reference: str | Sequence[str]) -> float:
    """SQuAD-style bag-of-tokens F1, the maximum over the references.

    Tokens are the whitespace-separated words of the normalised text, each with
    edge punctuation removed; repeated tokens count as often as they occur in
    both. Both sides empty gives 1.0; exactly one side empty gives 0.0.
    """
    pred = _tokens(_check_prediction(prediction, "token_f1"))
    refs = _references(reference, "token_f1")
    return max(_f1(pred, _tokens(r)) for r in refs)


def contains(prediction: str, reference: str | Sequence[str]) -> float:
    """1.0 if the normalised reference (or any of several) occurs as a substring
    of the normalised prediction, else 0.0.

    A reference that is empty after normalisation raises ``SpecError``: every
    prediction would contain it, which silently makes the case a free pass.
    """
    pred = normalize_text(_check_prediction(prediction, "contains"))
    refs = []
    for raw in _references(reference, "contains"):
        ref = normalize_text(raw)
        if not ref:
            raise SpecError(
                f"contains: reference is empty after normalisation, got {_describe(raw)}"
            )
        refs.append(ref)
    return 1.0 if any(ref in pred for ref in refs) else 0.0


def _has_run(tokens: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(tokens[i:i + n] == run for i in range(len(tokens) - n + 1))


def mentions(prediction: str, reference: str | Sequence[str], *, reject: Sequence[str] = ()) -> float:
    """1.0 if the prediction mentions a reference (or any of several) as whole words and
    mentions none of ``reject``, else 0.0: a free-form answer scored robustly to its phrasing.

    Words are those of ``token_f1`` (normalised, edge punctuation removed), so
    "The capital is Paris." mentions "paris" but "Parisian" does not, and "18" does not
    mention "8". A multi-word reference must appear as consecutive words. ``reject`` lists
    answers that make the output wrong even beside a right one ("No, yes..." for a yes/no
    question). A reference or rejected answer without words raises ``SpecError``.
    """
    pred = _tokens(_check_prediction(prediction, "mentions"))
    wanted, unwanted = [], []
    for raw in _references(reference, "mentions"):
        wanted.append(_tokens(raw))
        if not wanted[-1]:
            raise SpecError(f"mentions: reference has no words after normalisation, got {_describe(raw)}")
    if isinstance(reject, str):
        reject = [reject]
    for raw in reject:
        if not isinstance(raw, str) or not _tokens(raw):
            raise SpecError(f"mentions: every rejected answer must be a str with words, got {_describe(raw)}")
        unwanted.append(_tokens(raw))
    if any(_has_run(pred, run) for run in unwanted):
        return 0.0
    return 1.0 if any(_has_run(pred, run) for run in wanted) else 0.0


def choice_accuracy(logprobs: Iterable[float], answer: int) -> float:
    """1.0 if the highest log-probability is at index ``answer``, else 0.0.

    ``logprobs`` is any iterable of real numbers (a list, a numpy array), one
    score per choice, in choice order.

    Ties are broken to the first (lowest) index, so a model that gives every
    choice the same score is credited only when the answer is choice 0; that
    is deterministic rather than generous. ``-inf`` is allowed (an impossible
    choice); NaN is an error.
    """
    if isinstance(logprobs, (str, bytes, Mapping)) or not isinstance(logprobs, Iterable):
        raise SpecError(
            f"choice_accuracy: `logprobs` must be a sequence of floats, got {_describe(logprobs)}"
        )
    scores = list(logprobs)
    if not scores:
        raise SpecError(f"choice_accuracy: `logprobs` must not be empty, got {_describe(logprobs)}")
    for x in scores:
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or math.isnan(x):
            raise SpecError(
                f"choice_accuracy: every log-probability must be a non-NaN number, got {_describe(x)}"
            )
    if (
        isinstance(answer, bool)
        or not isinstance(answer, numbers.Integral)
        or not 0 <= answer < len(scores)
    ):
        raise SpecError(
            f"choice_accuracy: `answer` must be an int in [0, {len(scores)}), got {_describe(answer)}"
        )
    best = 0
    for i, x in enumerate(scores):
        if x > scores[best]:
            best = i
    return 1.0 if best == answer else 0.0


def semantic_similarity(output: str, reference: str | Sequence[str]) -> float:
    """Cosine in [-1, 1] of the all-MiniLM-L6-v2 sentence embeddings of ``output`` and the
    reference (the best of several); see ``pytest_llmselect.semantic``, which runs the model:
    imported here only when called, so this module stays free of torch."""
    from pytest_llmselect.semantic import semantic_similarity as run

    return run(output, reference)


def _graded_by_judge(name: str) -> Callable[..., float]:
    def grade(*args: object, **kwargs: object) -> float:
        raise SpecError(f"{name} is graded by a judge model: use the llm_judge fixture "
                        f"(llm_judge.{'rubric' if name == 'judge_rubric' else 'correct'}(output, ...))")

    grade.__name__ = name
    return grade


@dataclass(frozen=True)
class Metric:
    """A named scoring function and how to read its values.

    ``binary``: the function only ever returns 0.0 or 1.0.
    ``higher_is_better``: selection uses ``loss = 1 - quality`` when true.
    ``score_range``: the (low, high) every score lies in; a recorded score outside it
    fails its case, and an errored case counts at the worst end.
    """

    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    binary: bool
    description: str
    score_range: tuple[float, float] = (0.0, 1.0)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "exact_match",
            exact_match,
            higher_is_better=True,
            binary=True,
            description="1 if the normalised prediction equals a normalised reference",
        ),
        Metric(
            "token_f1",
            token_f1,
            higher_is_better=True,
            binary=False,
            description="SQuAD-style bag-of-tokens F1, best over references",
        ),
        Metric(
            "contains",
            contains,
            higher_is_better=True,
            binary=True,
            description="1 if a normalised reference is a substring of the normalised prediction",
        ),
        Metric(
            "mentions",
            mentions,
            higher_is_better=True,
            binary=True,
            description="1 if a reference appears as whole words in the prediction and no rejected answer does",
        ),
        Metric(
            "choice_accuracy",
            choice_accuracy,
            higher_is_better=True,
            binary=True,
            description="1 if the highest-scoring choice is the answer (ties: first index)",
        ),
        Metric(
            "semantic_similarity",
            semantic_similarity,
            higher_is_better=True,
            binary=False,
            description="cosine of all-MiniLM-L6-v2 sentence embeddings, best over references",
            score_range=(-1.0, 1.0),
        ),
        Metric(
            "judge_rubric",
            _graded_by_judge("judge_rubric"),
            higher_is_better=True,
            binary=False,
            description="a judge model's 1-5 rubric score mapped to [0, 1] (G-Eval expectation where it "
                        "gives log-probabilities)",
        ),
        Metric(
            "judge_correctness",
            _graded_by_judge("judge_correctness"),
            higher_is_better=True,
            binary=False,
            description="a judge model's verdict that the output matches the reference: P(yes), or 1/0 parsed",
        ),
    )
}
