"""The run report's schema (docs/report-schema.md), checked in one place when a file is loaded.

A stored run or baseline is read back months later, maybe written by another version or
cut short or edited by hand; every consumer (renderers, re-selection, the CI gate) reads it
only after ``validate_report`` has accepted it, so a wrong type at any depth, a number no
computation can use or a missing field is one ``DataError`` line naming the file and the
field, never a crash somewhere downstream. Unknown fields are kept (newer writers may add
them); the fields listed here must have these types when present.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Union

from pydantic import AfterValidator, Field, ValidationError, model_validator
from typing_extensions import Annotated

from ..errors import DataError
from .schema_evaluation import CaseGrade, CaseSamples, EvaluationCost, ResultSampling, TaskJudge, TaskSampling
from .schema_race import Race
from .schema_types import Count, CostModel, Finite, Name, NonNegative, Probability, Scalar, _Model


class Price(_Model):
    usd_per_hour: Optional[NonNegative] = None
    usd_per_million_input_tokens: Optional[NonNegative] = None
    usd_per_million_output_tokens: Optional[NonNegative] = None
    usd_per_pflop: Optional[NonNegative] = None
    usd_per_kwh: Optional[NonNegative] = None
    source: Optional[str] = None


class Candidate(_Model):
    name: Name
    spec: Optional[str] = None
    kind: Optional[str] = None
    source: Optional[str] = None
    num_parameters: Optional[Count] = None
    loads: Optional[Count] = None
    load_seconds: Optional[NonNegative] = None
    device: Optional[str] = None
    dtype: Optional[str] = None
    load_error: Optional[str] = None
    status: Optional[Literal["evaluated", "load_failed", "not_run"]] = None
    price: Optional[Price] = None
    parameter_bytes: Optional[Count] = None
    buffer_bytes: Optional[Count] = None


class Measures(_Model):
    model_seconds: Optional[NonNegative] = None
    requests: Optional[Count] = None
    batches: Optional[Count] = None
    unbatched_requests: Optional[Count] = None
    cases: Optional[Count] = None
    input_tokens: Optional[Count] = None
    output_tokens: Optional[Count] = None
    latency_p50: Optional[NonNegative] = None
    latency_p95: Optional[NonNegative] = None
    ttft_p50: Optional[NonNegative] = None
    ttft_p50_lo: Optional[NonNegative] = None
    ttft_p50_hi: Optional[NonNegative] = None
    tokens_per_second: Optional[NonNegative] = None
    output_tokens_per_second: Optional[NonNegative] = None
    peak_memory_bytes: Optional[NonNegative] = None
    flops: Optional[NonNegative] = None
    parallel: Optional[bool] = None
    round_seconds: Optional[list[NonNegative]] = None
    timing_rounds_reason: Optional[str] = None  # why the group was timed again (null: one pass)
    warmup_seconds: Optional[NonNegative] = None
    cost_model: Optional[CostModel] = None
    request_latency_p50: Optional[NonNegative] = None
    request_latency_p95: Optional[NonNegative] = None
    request_latency_p50_lo: Optional[NonNegative] = None
    request_latency_p50_hi: Optional[NonNegative] = None
    request_latency_p95_lo: Optional[NonNegative] = None
    request_latency_p95_hi: Optional[NonNegative] = None
    request_latency_n: Optional[Count] = None
    memory_method: Optional[str] = None
    energy_joules: Optional[NonNegative] = None
    cache_hits: Optional[Count] = None


class CostComparison(_Model):
    vs: Optional[str] = None
    diff: Optional[Finite] = None
    lo: Optional[Finite] = None
    hi: Optional[Finite] = None
    within_noise: Optional[bool] = None
    method: Optional[str] = None


class Comparison(_Model):
    vs: Optional[str] = None
    n: Optional[Count] = None
    diff: Optional[Finite] = None
    lo: Optional[Finite] = None
    hi: Optional[Finite] = None
    p_value: Optional[Probability] = None
    p_holm: Optional[Probability] = None
    method: Optional[str] = None
    mde: Optional[Finite] = None
    verdict: Optional[str] = None
    p_adjusted: Optional[Probability] = None
    adjustment: Optional[str] = None
    loss_diff: Optional[Finite] = None
    cost_diff: Optional[Finite] = None
    cost_se: Optional[NonNegative] = None
    cases_needed: Optional[Count] = None


class Result(_Model):
    candidate: Name
    quality: Optional[Finite]
    cost: Optional[NonNegative]
    objective: Optional[Finite]
    n: Optional[Count] = None
    n_scored: Optional[Count] = None
    n_errors: Optional[Count] = None
    n_missing: Optional[Count] = None
    n_raced_out: Optional[Count] = None  # of n_missing: not run because a race dropped the candidate
    n_planned: Optional[Count] = None
    n_excluded_errors: Optional[Count] = None
    n_truncated: Optional[Count] = None
    truncated_tokens: Optional[Count] = None
    lo: Optional[Finite] = None
    hi: Optional[Finite] = None
    method: Optional[str] = None
    loss: Optional[NonNegative] = None
    measures: Optional[Measures] = None
    min_quality_passed: Optional[bool] = None
    comparison: Optional[Comparison] = None
    quality_comparison: Optional[Comparison] = None
    loss_lo: Optional[Finite] = None
    loss_hi: Optional[Finite] = None
    cost_lo: Optional[NonNegative] = None
    cost_hi: Optional[NonNegative] = None
    cost_method: Optional[str] = None
    objective_lo: Optional[Finite] = None
    objective_hi: Optional[Finite] = None
    energy_joules_per_1000_cases: Optional[NonNegative] = None
    cost_comparison: Optional[CostComparison] = None
    sampling: Optional[ResultSampling] = None


class Selection(_Model):
    selected: Optional[str] = None
    objectives: Optional[dict[str, Finite]] = None
    excluded: Optional[dict[str, str]] = None
    ties: Optional[list[str]] = None
    near_ties: Optional[list[str]] = None
    cost_within_noise: Optional[list[str]] = None
    tie_break: Optional[str] = None
    no_pick_reason: Optional[str] = None


def _lower_end_known(pair: list[Optional[float]]) -> list[Optional[float]]:
    if pair[0] is None:
        raise ValueError("the lower end of an alpha range must be a number")
    return pair


# [low, high]; a null high end is unbounded; the whole range null means "never selected".
AlphaRange = Optional[Annotated[list[Optional[NonNegative]], Field(min_length=2, max_length=2),
                                AfterValidator(_lower_end_known)]]


class AlphaBoundary(_Model):
    alpha: NonNegative
    below: Name
    above: Name
    uncertain: bool
    reason: Optional[str] = None
    lo: Optional[NonNegative] = None
    hi: Optional[NonNegative] = None


class Generation(_Model):
    kind: Optional[str] = None
    max_new_tokens: Optional[Count] = None
    stop: Optional[list[str]] = None


class Task(_Model):
    name: Name
    metric: Optional[str]
    higher_is_better: bool
    results: list[Result]
    selection: Selection
    pareto: list[str]
    alpha_ranges: dict[str, AlphaRange]
    binary: Optional[bool] = None
    n_cases: Optional[Count] = None
    score_range: Optional[Annotated[list[Finite], Field(min_length=2, max_length=2)]] = None
    min_quality: Optional[Finite] = None
    weight: Optional[NonNegative] = None
    budgets: Optional[dict[str, NonNegative]] = None
    generation: Optional[list[Generation]] = None
    pick_probability: Optional[dict[str, Probability]] = None
    clear_pick: Optional[bool] = None
    clear_reason: Optional[str] = None
    runner_up: Optional[str] = None
    cases_needed: Optional[Count] = None
    settle: Optional[str] = None
    alpha_boundaries: Optional[list[AlphaBoundary]] = None
    sampling: Optional[TaskSampling] = None
    judge: Optional[TaskJudge] = None


class OverallResult(_Model):
    candidate: Name
    quality: Optional[Finite] = None
    loss: Optional[NonNegative] = None
    cost: Optional[NonNegative] = None
    objective: Optional[Finite] = None
    loss_lo: Optional[Finite] = None
    loss_hi: Optional[Finite] = None
    cost_lo: Optional[NonNegative] = None
    cost_hi: Optional[NonNegative] = None
    objective_lo: Optional[Finite] = None
    objective_hi: Optional[Finite] = None


class Overall(_Model):
    weights: Optional[dict[str, NonNegative]] = None
    results: Optional[list[OverallResult]] = None
    excluded: Optional[dict[str, str]] = None
    selection: Optional[Selection] = None
    pareto: Optional[list[str]] = None
    alpha_ranges: Optional[dict[str, AlphaRange]] = None
    quality_basis: Optional[str] = None
    scale: Optional[str] = None
    left_out: Optional[dict[str, str]] = None
    pick_probability: Optional[dict[str, Probability]] = None
    clear_pick: Optional[bool] = None
    clear_reason: Optional[str] = None
    runner_up: Optional[str] = None
    cases_needed: Optional[Count] = None
    settle: Optional[str] = None
    alpha_boundaries: Optional[list[AlphaBoundary]] = None


class Case(_Model):
    task: Name
    case_id: Union[str, int]
    candidate: Name
    score: Optional[Finite]
    status: Optional[Literal["scored", "errored"]] = None
    error: Optional[str] = None
    group: Scalar = None
    nodeid: Optional[str] = None
    truncated_tokens: Optional[Count] = None
    output: Any = None
    judge: Optional[dict[str, CaseGrade]] = None
    reference_scores: Optional[dict[str, Finite]] = None
    samples: Optional[CaseSamples] = None

    @model_validator(mode="after")
    def _score_matches_status(self) -> Case:
        if self.status == "scored" and self.score is None:
            raise ValueError("a scored case needs a number in 'score'")
        if self.status is None and self.score is None:
            raise ValueError("'score' is null but the case has no status 'errored'")
        return self


class Missing(_Model):
    task: str
    candidate: str
    count: Count
    reason: Optional[str] = None


class Settings(_Model):
    alpha: Optional[NonNegative] = None
    level: Optional[Annotated[float, Field(gt=0, lt=1)]] = None
    seed: Optional[Count] = None
    weights: Optional[dict[str, NonNegative]] = None
    constraints: Optional[dict[str, Optional[NonNegative]]] = None
    errors: Optional[Literal["worst", "exclude"]] = None
    cost_model: Optional[CostModel] = None


class EnergyDevice(_Model):
    available: Optional[bool] = None
    source: Optional[str] = None
    reason: Optional[str] = None


class Energy(_Model):
    available: Optional[bool] = None
    devices: Optional[dict[str, EnergyDevice]] = None


class Subset(_Model):
    deselected: Optional[Count] = None
    filters: Optional[dict[str, Union[str, bool]]] = None


class Suite(_Model):
    fingerprint: Optional[str] = None
    paths: Optional[list[str]] = None


class Saved(_Model):
    number: Count
    name: Optional[str] = None


class Report(_Model):
    schema_version: int
    settings: Settings
    units: dict[str, str]
    candidates: list[Candidate]
    tasks: list[Task]
    overall: Overall
    selected: Optional[str]
    cases: list[Case]
    alpha: Optional[NonNegative] = None
    complete: Optional[bool] = None
    missing: Optional[list[Missing]] = None
    subset: Optional[Subset] = None
    suite: Optional[Suite] = None
    saved: Optional[Saved] = None
    tool: Optional[dict[str, Scalar]] = None
    machine: Optional[dict[str, Scalar]] = None
    created: Optional[str] = None
    methods: Optional[dict[str, str]] = None
    energy: Optional[Energy] = None
    evaluation_cost: Optional[list[EvaluationCost]] = None
    race: Optional[Race] = None

    @model_validator(mode="after")
    def _scores_in_their_task_range(self) -> Report:
        from pytest_llmselect.metrics import METRICS

        ranges: dict[str, Any] = {}
        for task in self.tasks:
            known = METRICS.get(task.metric) if task.metric else None
            ranges[task.name] = task.score_range or (list(known.score_range) if known else None)
        for i, case in enumerate(self.cases):
            rng = ranges.get(case.task)
            if case.score is not None and rng is not None and not rng[0] <= case.score <= rng[1]:
                raise ValueError(f"cases[{i}].score {case.score!r} is outside the range {rng} of task {case.task!r}")
        return self


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "tagged-union", "nullable")):
            # a key with a space, a newline or another unprintable character is quoted, so the
            # message stays one line that says exactly which key
            plain = part and part.isprintable() and not any(c.isspace() for c in part)
            out += (("." if out else "") + part) if plain else f"[{part!r}]"
    return out or "(top level)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_report(data: Mapping[str, Any], name: str) -> None:
    """Raise ``DataError`` naming ``name`` and the first wrong field when ``data`` does not
    follow the report schema; return None when it does (``data`` is left as it is)."""
    try:
        Report.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        got = f" (got {_shown(err['input'])})" if err.get("type") != "missing" else ""
        loc = tuple(err["loc"])
        where = f"field {_field(loc)}: " if loc else ""
        raise DataError(f"{name}: {where}{err['msg']}{got if loc else ''}") from None
    except RecursionError:
        raise DataError(f"{name}: nested too deeply to be a run report") from None
