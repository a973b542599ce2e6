"""Session end: turn the session's records and measurements into the report and write it."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from typing import Any

import pytest

from pytest_llmselect import __version__
from pytest_llmselect.analysis import SCHEMA_VERSION, AnalysisSettings, analyze
from pytest_llmselect.cost import PRICE_KEYS, inference_flops, percentile
from pytest_llmselect.engine import Measures
from pytest_llmselect.stats import quantile_interval
from pytest_llmselect.session import LLMSession


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
        "warmup_seconds": m.warmup_seconds,
        "energy_joules": m.energy_joules,
        "cost_model": cost_model,
        "parallel": parallel,
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "torch": None, "cuda": None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)  # at the end of the run
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda"] = torch.cuda.get_device_name(0)
    return info


def energy_info(s: LLMSession) -> dict[str, Any]:
    """Which energy counter served each device, or plainly why there was none."""
    devices = {}
    for device, (counter, why) in sorted(s.energy_counters.items()):
        devices[device] = {"available": counter is not None,
                           "source": counter.source if counter is not None else None,
                           "reason": None if counter is not None else why}
    return {"available": any(d["available"] for d in devices.values()), "devices": devices}


def suite_fingerprint(records: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for task, case in sorted({(r["task"], r["case_id"]) for r in records}):
        h.update(f"{task}\0{case}\n".encode())
    return h.hexdigest()[:16]


def stop_reason(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> str:
    """Why planned cases that have no record did not run, as the report states it."""
    if exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
        return "not run: the session stopped early (Ctrl-C, -x or --maxfail)"
    if getattr(session.config.option, "numprocesses", None):
        return "not run: its pytest -n worker crashed or stopped"
    return "not run"


def truncation_warnings(report: dict[str, Any]) -> list[str]:
    """One warning per (task, candidate) whose prompts did not fit the model's context window."""
    return [f"task {t['name']!r}, {r['candidate']}: {r['n_truncated']} case(s) had prompts longer than the "
            f"model's context window; {r['truncated_tokens']} token(s) were dropped from the left "
            "(--llm-truncation=error fails such cases instead)"
            for t in report.get("tasks") or [] for r in t.get("results") or [] if r.get("n_truncated")]


def subset_info(s: LLMSession) -> dict[str, Any] | None:
    """How the cases of this run were chosen when not all collected ones ran, else None."""
    opt = s.config.option
    filters = {k: v for k, v in (("-k", getattr(opt, "keyword", "")), ("-m", getattr(opt, "markexpr", "")),
                                 ("--lf", bool(getattr(opt, "lf", False))),
                                 ("--sw", bool(getattr(opt, "stepwise", False)))) if v}
    if not filters and not s.deselected:
        return None
    return {"deselected": s.deselected, "filters": filters}


def session_inputs(s: LLMSession, stop: str = "not run") -> dict[str, Any]:
    parallel = s.parallel
    candidates = []
    for c in s.settings.candidates:
        info = s.model_info.get(c.name, {})
        price = s.price_of(c.name)
        candidates.append({
            "name": c.name, "spec": c.spec, "kind": c.kind, "source": info.get("source", c.source),
            "model": c.model_name, "demos": c.demos.name if c.demos is not None else None,
            "num_parameters": info.get("num_parameters"), "loads": s.loads.get(c.name, 0),
            "load_seconds": s.load_seconds.get(c.name, 0.0), "device": info.get("device"),
            "dtype": info.get("dtype"), "load_error": s.load_errors.get(c.name),
            "status": s.candidate_status(c.name),
            "parameter_bytes": info.get("parameter_bytes"), "buffer_bytes": info.get("buffer_bytes"),
            "price": {**{k: getattr(price, k) for k in PRICE_KEYS}, "source": price.source},
        })
    merged = {key: g.measures for key, g in s.groups.items()}
    merged.update(s.remote_measures)  # under xdist the controller has only what workers sent
    measures = {
        key: measures_dict(m, s.model_info.get(key[1], {}).get("num_parameters"), parallel, s.settings.cost_model,
                           s.settings.level)
        for key, m in merged.items() if m.requests
    }
    tasks = {t.name: {**t.to_dict(), "generation": s.generation_of(t.name)} for t in s.tasks.values()}
    tasks.update({k: v for k, v in s.remote_tasks.items() if k not in tasks})
    return {
        "candidates": candidates,
        "tasks": list(tasks.values()),
        "cases": list(s.records),
        "measures": measures,
        "missing": s.missing(stop),
    }


def lost_to_crashes(s: LLMSession) -> dict[str, Any]:
    """``crashed``: the cases that killed their xdist worker (one entry each); they are also
    among ``missing`` with the reason "worker crashed" (LLMSession.missing)."""
    return {"crashed": list(s.crashed)} if s.crashed else {}


def build_session_report(s: LLMSession, stop: str = "not run") -> dict[str, Any]:
    inputs = session_inputs(s, stop)
    extra = {"constraints": s.settings.constraints} if s.settings.constraints is not None else {}
    derived = analyze(inputs, AnalysisSettings(alpha=s.settings.alpha, level=s.settings.level,
                                               seed=s.settings.seed, errors=s.settings.errors,
                                               cost_model=s.settings.cost_model, **extra))
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pytest-llmselect", "version": __version__},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": not inputs["missing"],
        "missing": inputs["missing"],
        "subset": subset_info(s),
        "run_id": s.run_id,
        "machine": machine_info(),
        "energy": energy_info(s),
        "suite": {"fingerprint": suite_fingerprint(s.records),
                  "paths": [str(a) for a in s.config.args]},
        **derived,
        "candidates": inputs["candidates"],
        "cases": inputs["cases"],
        **lost_to_crashes(s),
    }


def write_reports(s: LLMSession, config: pytest.Config) -> None:
    from pytest_llmselect.report import write_report

    assert s.report is not None
    for path in s.settings.reports:
        target = path if path.is_absolute() else config.invocation_params.dir / path
        try:
            write_report(s.report, target)
        except OSError as exc:  # one bad report path must not lose the others
            # strerror, not str(exc): the latter names the temporary file, not the report asked for
            s.report_errors.append((str(path), exc.strerror or type(exc).__name__))
        except Exception as exc:  # noqa: BLE001
            s.report_errors.append((str(path), f"{type(exc).__name__}: {exc}"))
        else:
            s.written.append(str(path))
