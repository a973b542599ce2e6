"""Judge prompt templates (Jinja2) and the requests one grading makes.

A template sees the fields ``input`` (what the candidate was asked), ``output`` (what it
answered), ``reference`` (the expected answer, may be empty) and ``criteria`` (what the
rubric grades). A field the template uses but the grading does not supply is an error
naming it (``StrictUndefined``), not an empty string in the prompt.

The rendered prompt is the whole request, so the response cache keys a grade by the judge's
identity, the template's text and the graded text together: change any and the judge runs again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest
from pytest_llmselect.errors import MissingDependency, SpecError
from pytest_llmselect.judge.rubric import SCORE_HIGH, SCORE_LOW

__all__ = ["CORRECTNESS", "KINDS", "RUBRIC", "JudgeTemplate", "template_for"]

KINDS = ("rubric", "correctness")
DEFAULT_CRITERIA = "How well the response answers the instruction: correct, complete and to the point."

_RUBRIC_SOURCE = """\
You will be given an instruction and a response to it. Rate the response on one metric.

Evaluation criteria:
{{ criteria }}

Evaluation steps:
1. Read the instruction{% if reference %} and the reference answer{% endif %}.
2. Read the response and check it against the criteria.
3. Give a score from 1 (worst) to 5 (best).

Instruction:
{{ input }}
{% if reference %}
Reference answer:
{{ reference }}
{% endif %}
Response:
{{ output }}

Score (1-5):"""

_CORRECTNESS_SOURCE = """\
Question: {{ input }}
Reference answer: {{ reference }}
Candidate answer: {{ output }}
Does the candidate answer mean the same as the reference answer? Answer yes or no.
Answer:"""


def _jinja2() -> Any:
    try:
        import jinja2
    except ImportError:
        raise MissingDependency("judge prompt templates need Jinja2: pip install 'pytest-llmselect[judge]'") from None
    return jinja2


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> Any:
    jinja2 = _jinja2()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"judge template: {exc.message} (line {exc.lineno})") from None


@dataclass(frozen=True)
class JudgeTemplate:
    """A judge prompt: ``kind`` "rubric" (a 1-5 score) or "correctness" (yes/no against the reference)."""

    name: str
    source: str
    kind: str = "rubric"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecError(f"judge template {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise SpecError(f"judge template {self.name!r}: source must be non-empty text, got {self.source!r}")
        _compiled(self.source)

    @property
    def identity(self) -> str:
        return hashlib.sha256(f"{self.kind}\0{self.source}".encode()).hexdigest()[:16]

    def render(self, fields: Mapping[str, Any]) -> str:
        jinja2 = _jinja2()

        values = {"criteria": DEFAULT_CRITERIA, "reference": "", **fields}
        try:
            return _compiled(self.source).render(**values)
        except jinja2.UndefinedError as exc:
            raise SpecError(f"judge template {self.name!r}: {exc.message}; the grading supplies "
                            f"{', '.join(sorted(values))}") from None

    def answers(self) -> tuple[str, ...]:
        """The continuations whose log-probabilities grade a prompt, in score order."""
        if self.kind == "rubric":
            return tuple(f" {s}" for s in range(SCORE_LOW, SCORE_HIGH + 1))
        return (" yes", " no")

    def logprob_requests(self, prompt: str) -> list[LoglikelihoodRequest]:
        return [LoglikelihoodRequest(prompt, a) for a in self.answers()]

    def generate_request(self, prompt: str) -> GenerateRequest:
        return GenerateRequest(prompt, max_new_tokens=8, stop=("\n",))


RUBRIC = JudgeTemplate("rubric", _RUBRIC_SOURCE, "rubric")
CORRECTNESS = JudgeTemplate("correctness", _CORRECTNESS_SOURCE, "correctness")


def template_for(kind: str, source: str | None = None) -> JudgeTemplate:
    """The built-in template of ``kind``, or a custom Jinja2 ``source`` for it."""
    if kind not in KINDS:
        raise SpecError(f"judge kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if source is None:
        return RUBRIC if kind == "rubric" else CORRECTNESS
    return JudgeTemplate(f"custom-{kind}", source, kind)
