"""The fixtures a suite uses: ``llm`` (the candidate under test) and ``llm_record``."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pytest

from pytest_llmselect.backends.base import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from pytest_llmselect.candidates import Candidate
from pytest_llmselect.errors import SpecError
from pytest_llmselect.run.plan import case_id_for
from pytest_llmselect.run.session import SESSION_KEY, LLMSession

NORMALIZATIONS = ("none", "token", "char")


class LLM:
    """The candidate model for one test case.

    Calls are answered from the batch the plugin ran for the whole (task, candidate)
    group when the task declared ``requests=``; anything else runs on its own.
    """

    def __init__(self, session: LLMSession, item: pytest.Item, candidate: Candidate) -> None:
        self._session = session
        self._item = item
        self.candidate = candidate

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def info(self) -> ModelInfo:
        return self._session.pool.backend_for(self.candidate).info

    def __repr__(self) -> str:
        return f"LLM({self.candidate.name!r})"

    def run(self, request: GenerateRequest | LoglikelihoodRequest) -> GenerateResult | LoglikelihoodResult:
        return self._session.runner.resolve(self._item, [request])[0]

    def run_many(self, requests: Sequence[GenerateRequest | LoglikelihoodRequest]) -> list[Any]:
        return self._session.runner.resolve(self._item, list(requests))

    def generate(self, prompt: str, *, max_new_tokens: int = 32, stop: str | Sequence[str] = ()) -> str:
        """Greedy completion of ``prompt`` (the new text only, cut before the first stop string)."""
        result = self.run(GenerateRequest(prompt, max_new_tokens, tuple([stop] if isinstance(stop, str) else stop)))
        assert isinstance(result, GenerateResult)
        return result.text

    def samples(self, request: GenerateRequest | str, *, max_new_tokens: int = 32,
                stop: str | Sequence[str] = ()) -> list[str]:
        """The texts of this case's samples of ``request`` (a ``GenerateRequest`` or a prompt):
        ``llm_task(samples=N, temperature=, top_p=)`` (or ``--llm-samples`` ...) copies, each
        seeded from ``--llm-seed``, the case id and the sample index, so a sample's text is the
        same on every run, at any batch size and under ``-n``."""
        if isinstance(request, str):
            request = GenerateRequest(request, max_new_tokens, tuple([stop] if isinstance(stop, str) else stop))
        if not isinstance(request, GenerateRequest):
            raise SpecError(f"llm.samples takes a GenerateRequest or a prompt, got {request!r}")
        results = self.run_many(self._session.runner.sampled(self._item, request))
        return [r.text for r in results]

    def loglikelihood(self, context: str, continuation: str) -> LoglikelihoodResult:
        result = self.run(LoglikelihoodRequest(context, continuation))
        assert isinstance(result, LoglikelihoodResult)
        return result

    def choice_logprobs(self, context: str, choices: Sequence[str], *, normalize: str = "none") -> list[float]:
        """Log-probability of each choice as a continuation of ``context``.

        ``normalize``: "none" (summed), "token" (per token) or "char" (per character,
        lm-eval's acc_norm; fair when choices differ in length)."""
        if normalize not in NORMALIZATIONS:
            raise SpecError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        results = self.run_many(choice_requests(context, choices))
        attr = {"none": "logprob", "token": "logprob_per_token", "char": "logprob_per_char"}[normalize]
        return [getattr(r, attr) for r in results]

    def choose(self, context: str, choices: Sequence[str], *, normalize: str = "none") -> int:
        """Index of the most likely choice (first one on ties)."""
        scores = self.choice_logprobs(context, choices, normalize=normalize)
        return max(range(len(scores)), key=lambda i: (scores[i], -i))


def choice_requests(context: str, choices: Sequence[str]) -> list[LoglikelihoodRequest]:
    """The requests a multiple-choice case makes; use it in ``llm_task(requests=...)``."""
    if isinstance(choices, str) or not choices:
        raise SpecError(f"choices must be a non-empty list of strings, got {choices!r}")
    return [LoglikelihoodRequest(context, c) for c in choices]


def _session(config: pytest.Config) -> LLMSession:
    return config.stash[SESSION_KEY]


@pytest.fixture
def llm(request: pytest.FixtureRequest) -> LLM:
    """The candidate model under test (parametrized over ``--llm-candidates``)."""
    cand = getattr(request, "param", None)
    if not isinstance(cand, Candidate):
        # Reached only where collection could not stop the session (an xdist worker): never a
        # skip, or a CI job would pass having evaluated nothing.
        pytest.fail("no LLM candidates: pass --llm-candidates=... or set the ini key llm_candidates",
                    pytrace=False)
    session = _session(request.config)
    load_errors = session.pool.load_errors
    if cand.name in load_errors:  # the first case failed with the error, in one line
        pytest.skip(f"{cand.name} not evaluated: failed to load ({load_errors[cand.name]})")
    session.pool.backend_for(cand, request.node)  # load here, so load time is not charged to the first case
    return LLM(session, request.node, cand)


@pytest.fixture
def llm_record(request: pytest.FixtureRequest, llm: LLM) -> Callable[..., dict[str, Any]]:
    """Record this case's score: ``llm_record(score, output=text, group=passage_id)``; for a
    sampled task ``llm_record(samples=[score of each sample], output=texts)`` (the task's reducer
    makes the case's score); ``reference_scores={"exact_match": ...}`` adds reference metrics the
    report compares a judge with."""
    session = _session(request.config)
    item = request.node

    def record(score: float | None = None, *, output: Any = None, group: Any = None, case_id: str | None = None,
               samples: Sequence[float] | None = None, reference_scores: dict[str, float] | None = None,
               **extra: Any) -> dict[str, Any]:
        cid = case_id if case_id is not None else case_id_for(item, llm.candidate)
        return session.ledger.record(item, score, output=output, case_id=str(cid), group=group, extra=extra or None,
                                     samples=samples, reference_scores=reference_scores)

    return record


@pytest.fixture
def llm_demos(request: pytest.FixtureRequest, llm: LLM) -> Any:
    """This case's few-shot demonstrations (``demos.Shots``: ``.text`` to prepend to the
    prompt, ``.ids``, ``.examples``), chosen by the candidate's configuration from the pool
    the task declared with ``llm_task(demos=DemoPool(...))``; empty for a task without one."""
    return _session(request.config).demos.demos_for(request.node)


class Cost:
    """Measured cost of the current candidate on the current task, so far.

    Attributes (units): ``model_seconds`` (s, mean of the timed rounds), ``round_seconds``,
    ``latency_p50`` / ``latency_p95`` (batch latency, s: the wall time of the batch that
    served a request), ``request_latency_p50`` / ``request_latency_p95`` (s, a sample run
    alone at batch size 1), ``ttft_p50`` (s), ``input_tokens``, ``output_tokens``,
    ``tokens_per_second``, ``peak_memory_bytes`` (the candidate's own, see
    ``memory_method``), ``flops`` (estimate), ``energy_joules`` (None without a counter),
    ``cost_model`` and ``usd_per_1000_cases`` under it. Reading one runs the group's batched
    model work first if it has not run yet, so the figures cover the whole group.
    """

    def __init__(self, session: LLMSession, item: pytest.Item, candidate: Candidate) -> None:
        self._session = session
        self._item = item
        self._candidate = candidate

    def as_dict(self) -> dict[str, Any]:
        group, _ = self._session.runner.ensure_prefetched(self._item)
        return self._session.figures(group.task.name, self._candidate.name)

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        figures = self.as_dict()
        if key not in figures:
            raise AttributeError(f"llm_cost has no figure {key!r}; known: {', '.join(sorted(figures))}")
        return figures[key]


@pytest.fixture
def llm_cost(request: pytest.FixtureRequest, llm: LLM) -> Cost:
    """Measured cost figures of the current (task, candidate) group; see :class:`Cost`."""
    return Cost(_session(request.config), request.node, llm.candidate)


class Judge:
    """The task's judge model grading this case's output (``--llm-judge`` or ``llm_task(judge=...)``).

    Each call returns a grade in [0, 1]; a judge that fails or answers garbage raises
    ``JudgeError``, so the case is errored with that line, never silently scored. When the task
    declares ``judge_fields(case)`` (and ``requests=``), the judge grades the whole group's
    outputs in one batch on first use and each case reads its grade from it."""

    def __init__(self, session: LLMSession, item: pytest.Item) -> None:
        self._session = session
        self._item = item

    def rubric(self, output: str, *, input: str = "", reference: str = "", criteria: str | None = None,
               template: str | None = None) -> float:
        """A 1-5 rubric score (G-Eval: the expectation over the score tokens' probabilities where
        the judge gives log-probabilities), mapped to [0, 1]."""
        fields = {"input": input, "output": output, "reference": reference,
                  **({"criteria": criteria} if criteria is not None else {})}
        return self._session.runner.judge_grade(self._item, "rubric", fields, template)

    def correct(self, output: str, *, reference: str, input: str = "", template: str | None = None) -> float:
        """Does ``output`` match ``reference``? P(yes) from log-probabilities, else the parsed yes/no."""
        fields = {"input": input, "output": output, "reference": reference}
        return self._session.runner.judge_grade(self._item, "correctness", fields, template)


@pytest.fixture
def llm_judge(request: pytest.FixtureRequest, llm: LLM) -> Judge:
    """The judge model for this case; see :class:`Judge`."""
    return Judge(_session(request.config), request.node)
