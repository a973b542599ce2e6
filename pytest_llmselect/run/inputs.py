"""The run read out: each group's measured figures in the report's units, and the inputs the
analysis takes (candidates, tasks, cases, measures, missing). Reads the parts; changes none."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, Sequence

import pytest

from pytest_llmselect.candidates import Candidate
from pytest_llmselect.cost import PRICE_KEYS, dollars_per_1000_cases, inference_flops, percentile
from pytest_llmselect.engine import Measures
from pytest_llmselect.run.plan import Plan
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.records import Ledger
from pytest_llmselect.run.runner import Runner
from pytest_llmselect.run.settings import Settings
from pytest_llmselect.stats import quantile_interval


class RunParts(Protocol):
    """What the read-out needs of a session: its parts (``run.session.LLMSession`` has them)."""

    config: pytest.Config
    settings: Settings
    plan: Plan
    pool: ModelPool
    runner: Runner
    ledger: Ledger


def _quantile_ends(values: list[float], q: float, level: float) -> tuple[Any, Any]:
    return quantile_interval(values, q, level) if values else (None, None)


def measures_dict(m: Measures, num_parameters: int | None, parallel: bool,
                  cost_model: str = "time", level: float = 0.95) -> dict[str, Any]:
    """The report's ``measures`` of one (task, candidate) group (units in docs/report-schema.md).
    Percentiles of per-request samples carry ``level`` order-statistic intervals
    (``stats.quantile_interval``); batch latencies, one value per batch repeated for each of
    its requests, do not."""
    tokens = m.input_tokens + m.output_tokens
    req50 = _quantile_ends(m.request_latencies, 0.5, level)
    req95 = _quantile_ends(m.request_latencies, 0.95, level)
    # A local batch's TTFT is one value repeated for each request: no interval applies, no fields.
    ttft50: dict[str, Any] = {}
    if m.requests_timed_alone:
        ttft50["ttft_p50_lo"], ttft50["ttft_p50_hi"] = _quantile_ends(m.first_token_seconds, 0.5, level)
    return {
        "model_seconds": m.model_seconds,
        "requests": m.requests,
        "cache_hits": m.cache_hits,  # of ``requests``, served from the response cache with their measurements
        "batches": m.batches,
        "unbatched_requests": m.unbatched_requests,
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "latency_p50": percentile(m.latencies, 50) if m.latencies else None,
        "latency_p95": percentile(m.latencies, 95) if m.latencies else None,
        "ttft_p50": percentile(m.first_token_seconds, 50) if m.first_token_seconds else None,
        **ttft50,
        "tokens_per_second": tokens / m.model_seconds if m.model_seconds > 0 else None,
        "output_tokens_per_second": m.output_tokens / m.model_seconds if m.model_seconds > 0 else None,
        "request_latency_p50": percentile(m.request_latencies, 50) if m.request_latencies else None,
        "request_latency_p95": percentile(m.request_latencies, 95) if m.request_latencies else None,
        "request_latency_p50_lo": req50[0], "request_latency_p50_hi": req50[1],
        "request_latency_p95_lo": req95[0], "request_latency_p95_hi": req95[1],
        "request_latency_n": len(m.request_latencies),
        "peak_memory_bytes": m.peak_memory_bytes,
        "memory_method": m.memory_method,
        "flops": inference_flops(num_parameters, tokens) if num_parameters else None,
        "round_seconds": list(m.round_seconds),
        "timing_rounds_reason": m.timing_rounds_reason,
        "warmup_seconds": m.warmup_seconds,
        "energy_joules": m.energy_joules,
        "cost_model": cost_model,
        "parallel": parallel,
    }


def is_parallel(config: pytest.Config) -> bool:
    """True when tests run under pytest-xdist: timings were taken with other work in parallel."""
    return bool(getattr(config.option, "numprocesses", None)) or hasattr(config, "workerinput")


def figures(run: RunParts, task: str, candidate: str) -> dict[str, Any]:
    """The cost figures measured so far for one (task, candidate) group, with units as in the report."""
    s = run.settings
    group = run.plan.groups.get((task, candidate))
    measures = group.measures if group is not None else Measures()
    params = run.pool.model_info.get(candidate, {}).get("num_parameters")
    out = measures_dict(measures, params, parallel=is_parallel(run.config), cost_model=s.cost_model,
                        level=s.level)
    n = len(run.ledger.scores(task, candidate)) or measures.requests
    out["cases"] = n
    out["usd_per_1000_cases"] = dollars_per_1000_cases(
        n_cases=n, model_seconds=measures.model_seconds, input_tokens=measures.input_tokens,
        output_tokens=measures.output_tokens, flops=out["flops"], energy_joules=measures.energy_joules,
        price=s.price_of(candidate),
    ) if n else None
    return out


def _listed(candidates: Sequence[Candidate], tasks: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """The report's candidates: with ``--llm-demos``, the configurations where a task has a
    demonstration pool and the bare models where one has none (candidates.for_task)."""
    if not any(c.demos is not None for c in candidates):
        return list(candidates)
    pools = {bool(t.get("demos")) for t in tasks} or {True}
    return [c for c in candidates if (c.demos is not None) in pools]


def session_inputs(run: RunParts, stop: str = "not run") -> dict[str, Any]:
    """The analysis inputs of the run so far; ``stop``: why planned cases without a record did not run."""
    s, pool, ledger = run.settings, run.pool, run.ledger
    parallel = is_parallel(run.config)
    tasks = {t.name: {**t.to_dict(), "generation": run.runner.generation_of(t.name)}
             for t in run.plan.tasks.values()}
    tasks.update({k: v for k, v in run.plan.remote_tasks.items() if k not in tasks})
    candidates = []
    for c in _listed(s.candidates, tasks.values()):
        info = pool.model_info.get(c.name, {})
        price = s.price_of(c.name)
        candidates.append({
            "name": c.name, "spec": c.spec, "kind": c.kind, "source": info.get("source", c.source),
            "model": c.model_name, "demos": c.demos.name if c.demos is not None else None,
            "num_parameters": info.get("num_parameters"), "loads": pool.loads.get(c.name, 0),
            "load_seconds": pool.load_seconds.get(c.name, 0.0), "device": info.get("device"),
            "dtype": info.get("dtype"), "load_error": pool.load_errors.get(c.name),
            "status": ledger.candidate_status(c.name),
            "parameter_bytes": info.get("parameter_bytes"), "buffer_bytes": info.get("buffer_bytes"),
            **({"quantization": info["quantization"]} if info.get("quantization") else {}),
            "price": {**{k: getattr(price, k) for k in PRICE_KEYS}, "source": price.source},
        })
    merged = {key: g.measures for key, g in run.plan.groups.items()}
    merged.update(run.runner.remote_measures)  # under xdist the controller has only what workers sent
    measures = {
        key: measures_dict(m, pool.model_info.get(key[1], {}).get("num_parameters"), parallel, s.cost_model,
                           s.level)
        for key, m in merged.items() if m.requests
    }
    return {
        "candidates": candidates,
        "tasks": list(tasks.values()),
        "cases": list(ledger.records),
        "measures": measures,
        "missing": ledger.missing(stop),
    }


def state_event(run: RunParts) -> dict[str, Any]:
    """The run log's ``state`` line: candidates, tasks and measures so far (runlog.py)."""
    inputs = session_inputs(run)
    return {
        "candidates": inputs["candidates"], "tasks": inputs["tasks"],
        "measures": [{"task": t, "candidate": c, "measures": m} for (t, c), m in inputs["measures"].items()],
    }
