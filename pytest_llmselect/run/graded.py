"""The session's side of repeated sampling and judges: which requests a sampled case makes,
a group's outputs graded by the judge in one batch, and what a case's record adds.

The run's parts (``run/runner.py``, ``run/records.py``) call these with what they know
(settings, the task, the case id, the judges); this module imports none of them. The pure parts are ``sampling`` and ``judge``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from pytest_llmselect.backends.base import GenerateRequest, GenerateResult
from pytest_llmselect.errors import LLMSelectError, SpecError
from pytest_llmselect.sampling import SamplingPlan, parse_reducer, reduce_samples
from pytest_llmselect.tasks import TaskSpec, call_with_params

__all__ = ["case_extras", "expand_requests", "judge_grade", "sampled_requests", "sampling_plan"]

DEFAULT_TEMPERATURE = 1.0


def sampling_plan(settings: Any, task: TaskSpec) -> SamplingPlan | None:
    """The task's sampling (its llm_task arguments, else the session's options); None: greedy."""
    samples = task.samples if task.samples is not None else settings.samples
    if samples is None:
        return None
    temperature = task.temperature if task.temperature is not None else settings.temperature
    top_p = task.top_p if task.top_p is not None else settings.top_p
    return SamplingPlan(samples, DEFAULT_TEMPERATURE if temperature is None else temperature,
                        1.0 if top_p is None else top_p, settings.seed)


def expand_requests(settings: Any, task: TaskSpec, case_id: str, requests: Sequence[Any]) -> list[Any]:
    """A sampled task's announced requests: each generate request as its seeded samples. Only a
    task that declares ``llm_task(samples=N)`` is batched this way: with ``--llm-samples`` alone a
    task's cases may well run greedy, and sampling them all up front would be wasted work."""
    plan = sampling_plan(settings, task) if task.samples is not None else None
    if plan is None:
        return list(requests)
    return [r for req in requests for r in plan.expand(req, case_id)]


def sampled_requests(settings: Any, task: TaskSpec, case_id: str, request: GenerateRequest
                     ) -> list[GenerateRequest]:
    plan = sampling_plan(settings, task)
    if plan is None:
        raise SpecError(f"task {task.name!r}: llm.samples needs llm_task(samples=N) or --llm-samples=N")
    return plan.expand(request, case_id)  # type: ignore[return-value]


def _group_fields(settings: Any, group: Any, case_id_of: Callable[[pytest.Item], str]) -> list[dict[str, Any]]:
    """Every fetched case of the group: its judge fields with each of its generated outputs."""
    task: TaskSpec = group.task
    out: list[dict[str, Any]] = []
    for it in group.items:
        if it.nodeid not in group.fetched:
            continue
        params = dict(getattr(it, "callspec").params)
        try:
            fields = call_with_params(task.judge_fields, params)  # type: ignore[arg-type]
            made = call_with_params(task.requests, params)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the case's own call reports it, in its own test
            continue
        if not isinstance(fields, Mapping):
            raise SpecError(f"task {task.name!r}: judge_fields must return a dict (input, reference, ...), "
                            f"got {fields!r}")
        made = made if isinstance(made, (list, tuple)) else [made]
        for req in expand_requests(settings, task, case_id_of(it), made):
            res = group.cache.get(req)
            if isinstance(res, GenerateResult):
                out.append({**fields, "output": res.text})
    return out


def judge_grade(runner: Any, judges: Any, item: pytest.Item, task: TaskSpec, kind: str, fields: Mapping[str, Any],
                template_source: str | None, case_id_of: Callable[[pytest.Item], str]) -> float:
    """One case's grade by the task's judge, in [0, 1]; the group's grades run as one batch first
    when the task declares ``judge_fields``. Raises ``JudgeError`` (one line) for no grade."""
    for name, value in fields.items():
        if not isinstance(value, str):
            raise SpecError(f"llm_judge: {name} must be a str, got {value!r} of type {type(value).__name__}")
    template = judges.template(kind, template_source)
    if task.judge_fields is not None and task.requests is not None:
        group, _ = runner.ensure_prefetched(item)  # the candidate's outputs of the whole group
        key = (task.name, group.candidate.name, kind)
        if key not in judges.batched:
            judges.prefetch(task, group.candidate.name, kind, _group_fields(runner.settings, group, case_id_of),
                            template)
    grade = judges.grade(task, item.nodeid, kind, dict(fields), template)
    assert grade.score is not None
    return grade.score


def case_extras(settings: Any, judges: Any, item: pytest.Item, task: TaskSpec, case_id: str, score: float | None,
                samples: Sequence[float] | None, output: Any,
                reference_scores: Mapping[str, float] | None) -> tuple[float, dict[str, Any]]:
    """The case's score (``samples`` reduced by the task's reducer when given) and the fields its
    record adds: ``samples``, ``judge`` (the grades this case received), ``reference_scores``."""
    extra: dict[str, Any] = {}
    if samples is not None:
        if score is not None:
            raise LLMSelectError(f"{item.nodeid}: llm_record takes a score or samples=, not both")
        if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples:
            raise LLMSelectError(f"{item.nodeid}: llm_record(samples=...) must be a non-empty list of scores, "
                                 f"got {samples!r}")
        reducer = parse_reducer(task.reducer)
        answers = None
        if reducer.kind == "majority" and isinstance(output, (list, tuple)) and len(output) == len(samples):
            from pytest_llmselect.metrics import normalize_text

            answers = [normalize_text(o) if isinstance(o, str) else repr(o) for o in output]
        try:
            score = reduce_samples(list(samples), reducer, answers)
        except SpecError as exc:
            raise LLMSelectError(f"{item.nodeid}: {exc}") from None
        extra["samples"] = {"scores": [float(x) for x in samples], "reducer": reducer.name, "threshold": 1.0}
        from pytest_llmselect.sampling import sample_seed

        # the seed each sample was drawn with, in sample order
        extra["samples"]["seeds"] = [sample_seed(settings.seed, case_id, i) for i in range(len(samples))]
    elif score is None:
        raise LLMSelectError(f"{item.nodeid}: llm_record needs a score (or samples=[...] for a sampled task)")
    grades = judges.grades_of(item.nodeid)
    if grades:
        extra["judge"] = grades
    if reference_scores:
        if not isinstance(reference_scores, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                for k, v in reference_scores.items()):
            raise LLMSelectError(f"{item.nodeid}: llm_record(reference_scores=...) must map metric names to "
                                 f"numbers, got {reference_scores!r}")
        extra["reference_scores"] = {k: float(v) for k, v in reference_scores.items()}
    return float(score), extra


