"""Task metadata, read from the ``llm_task`` marker of a test item."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pytest_llmselect.errors import SpecError
from pytest_llmselect.metrics import METRICS
from pytest_llmselect.textnorm import normalize_text

MARKER = "llm_task"
MARKER_HELP = (
    "llm_task(name=None, *, metric=None, higher_is_better=None, min_quality=None, weight=1.0, "
    "requests=None, budgets=None, demos=None, score_range=None, samples=None, temperature=None, top_p=None, "
    "reducer='mean', judge=None, judge_fields=None, judge_kinds=('rubric',)): declare an evaluation task; "
    "`requests(case)` returns the model requests of one case so the plugin can batch a whole (task, candidate) "
    "group; `samples=N` samples each generation N times (seeded per case and sample) and `reducer` ('mean', "
    "'majority', 'pass@K') makes the case's score; `judge=SPEC` grades with that model instead of --llm-judge, "
    "`judge_fields(case)` gives the judge's input and reference so a group's grades run in one batch."
)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    metric: str | None = None
    higher_is_better: bool = True
    min_quality: float | None = None
    weight: float = 1.0
    requests: Callable[..., Any] | None = field(default=None, compare=False)
    budgets: Mapping[str, float] = field(default_factory=dict)
    demos: Any = field(default=None, compare=False)  # demos.DemoPool: where this task's demonstrations come from
    # (low, high) of valid scores: the built-in metric's, or llm_task(score_range=...); None: unbounded
    score_range: tuple[float, float] | None = None
    # Repeated sampling: None leaves the session's --llm-samples/--llm-temperature/--llm-top-p
    samples: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reducer: str = "mean"
    judge: str | None = None  # a candidate spec; None: the session's --llm-judge
    judge_fields: Callable[..., Any] | None = field(default=None, compare=False)
    judge_kinds: tuple[str, ...] = ("rubric",)

    @property
    def binary_metric(self) -> bool | None:
        metric = METRICS.get(self.metric) if self.metric else None
        return metric.binary if metric else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "metric": self.metric, "higher_is_better": self.higher_is_better,
            "min_quality": self.min_quality, "weight": self.weight, "budgets": dict(self.budgets),
            **({"demos": {"pool": self.demos.origin, "size": len(self.demos), "fingerprint": self.demos.fingerprint,
                          "default": self.demos.default}} if self.demos is not None else {}),
            "score_range": list(self.score_range) if self.score_range is not None else None,
            **({"sampling": {"samples": self.samples, "temperature": self.temperature, "top_p": self.top_p,
                             "reducer": self.reducer}} if self.samples is not None else {}),
        }


def _number(value: Any, what: str, task: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"llm_task {task!r}: {what} must be a number, got {value!r} of type {type(value).__name__}")
    return float(value)


def task_from_marker(args: tuple, kwargs: Mapping[str, Any], default_name: str) -> TaskSpec:
    known = {"name", "metric", "higher_is_better", "min_quality", "weight", "requests", "budgets", "demos", "score_range",
             "samples", "temperature", "top_p", "reducer", "judge", "judge_fields", "judge_kinds"}
    unknown = set(kwargs) - known
    if unknown:
        raise SpecError(f"llm_task: unknown argument(s) {sorted(unknown)}; known: {sorted(known)}")
    if len(args) > 1:
        raise SpecError(f"llm_task takes one positional argument (the task name), got {args!r}")
    name = args[0] if args else kwargs.get("name", default_name)
    if not isinstance(name, str) or not normalize_text(name):
        raise SpecError(f"llm_task: name must be a non-empty string, got {name!r}")
    # Two names that render alike (NFC and NFD, a stray zero-width space) are one task.
    name = normalize_text(name)
    metric = kwargs.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise SpecError(f"llm_task {name!r}: metric must be a name (str), got {metric!r}")
    hib = kwargs.get("higher_is_better")
    if hib is None:
        if metric is not None and metric not in METRICS:
            raise SpecError(
                f"llm_task {name!r}: metric {metric!r} is not built in ({', '.join(sorted(METRICS))}); "
                "say its direction with higher_is_better=True/False"
            )
        hib = METRICS[metric].higher_is_better if metric else True
    elif not isinstance(hib, bool):
        raise SpecError(f"llm_task {name!r}: higher_is_better must be True or False, got {hib!r}")
    min_q = kwargs.get("min_quality")
    if min_q is not None:
        min_q = _number(min_q, "min_quality", name)
    weight = _number(kwargs.get("weight", 1.0), "weight", name)
    if weight < 0:
        raise SpecError(f"llm_task {name!r}: weight must be >= 0, got {weight!r}")
    requests = kwargs.get("requests")
    if requests is not None and not callable(requests):
        raise SpecError(f"llm_task {name!r}: requests must be a callable taking the case parameters, got {requests!r}")
    budgets = kwargs.get("budgets") or {}
    if not isinstance(budgets, Mapping):
        raise SpecError(f"llm_task {name!r}: budgets must be a dict, got {type(budgets).__name__}")
    from pytest_llmselect.budgets import validate_budgets

    budgets = validate_budgets(budgets, f"llm_task {name!r}")
    demos = kwargs.get("demos")
    if demos is not None:
        from pytest_llmselect.demos import DemoPool, parse_demo_config

        if not isinstance(demos, DemoPool):
            raise SpecError(f"llm_task {name!r}: demos must be a DemoPool, got {demos!r} of type {type(demos).__name__}")
        parse_demo_config(demos.default, option=f"llm_task {name!r}: DemoPool default")
    return TaskSpec(name, metric, hib, min_q, weight, requests, budgets, demos,
                    _score_range(kwargs, metric, name), **_sampling(kwargs, name), **_judging(kwargs, name))


def _sampling(kwargs: Mapping[str, Any], task: str) -> dict[str, Any]:
    from pytest_llmselect.backends.base import check_sampling
    from pytest_llmselect.sampling import parse_reducer

    samples = kwargs.get("samples")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise SpecError(f"llm_task {task!r}: samples must be an int >= 1, got {samples!r}")
    temperature, top_p = kwargs.get("temperature"), kwargs.get("top_p")
    try:
        check_sampling(0.0 if temperature is None else temperature, 1.0 if top_p is None else top_p, None)
    except ValueError as exc:
        raise SpecError(f"llm_task {task!r}: {exc}") from None
    reducer = parse_reducer(kwargs.get("reducer", "mean"), option=f"llm_task {task!r}: reducer")
    if samples is not None and reducer.k is not None and reducer.k > samples:
        raise SpecError(f"llm_task {task!r}: reducer {reducer.name} needs samples >= {reducer.k}, got {samples}")
    return {"samples": samples, "temperature": None if temperature is None else float(temperature),
            "top_p": None if top_p is None else float(top_p), "reducer": reducer.name}


def _judging(kwargs: Mapping[str, Any], task: str) -> dict[str, Any]:
    judge, fields = kwargs.get("judge"), kwargs.get("judge_fields")
    if judge is not None and (not isinstance(judge, str) or not judge.strip()):
        raise SpecError(f"llm_task {task!r}: judge must be a candidate spec (str), got {judge!r}")
    if fields is not None and not callable(fields):
        raise SpecError(f"llm_task {task!r}: judge_fields must be a callable taking the case parameters, "
                        f"got {fields!r}")
    kinds = kwargs.get("judge_kinds", ("rubric",))
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    from pytest_llmselect.judge.prompts import KINDS

    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise SpecError(f"llm_task {task!r}: judge_kinds must name some of {', '.join(KINDS)}, got {kinds!r}")
    return {"judge": judge, "judge_fields": fields, "judge_kinds": kinds}


def _score_range(kwargs: Mapping[str, Any], metric: str | None, task: str) -> tuple[float, float] | None:
    raw = kwargs.get("score_range")
    if raw is None:
        known = METRICS.get(metric) if metric else None
        return known.score_range if known is not None else None
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise SpecError(f"llm_task {task!r}: score_range must be (low, high), got {raw!r}")
    lo, hi = (_number(x, "score_range", task) for x in raw)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise SpecError(f"llm_task {task!r}: score_range must be finite with low < high, got {raw!r}")
    return (lo, hi)


def call_with_params(fn: Callable[..., Any], params: Mapping[str, Any]) -> Any:
    """Call ``fn`` with the parametrize arguments its signature names (e.g. ``case``)."""
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return fn(**{k: v for k, v in params.items() if k != "llm"})
    kwargs = {n: params[n] for n in sig.parameters if n in params}
    missing = [n for n, p in sig.parameters.items()
               if n not in kwargs and p.default is p.empty and p.kind not in (p.VAR_POSITIONAL,)]
    if missing:
        raise SpecError(
            f"requests function {getattr(fn, '__name__', fn)!r} needs parameter(s) {missing} "
            f"that the test is not parametrized with (has: {sorted(k for k in params if k != 'llm')})"
        )
    return fn(**kwargs)
