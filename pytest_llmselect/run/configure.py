"""The run's Settings read from pytest's options and ini keys: each value checked, a bad one a
``SpecError`` of one line naming the option (the plugin turns it into a usage error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_llmselect.errors import SpecError
from pytest_llmselect.memory_budget import parse_max_memory
from pytest_llmselect.race import parse_race
from pytest_llmselect.run.settings import Settings

__all__ = ["parse_constraints", "parse_warmup", "settings_from_config"]


def _value(config: pytest.Config, key: str) -> Any:
    cli = config.getoption(key)
    return cli if cli is not None else config.getini(key)


def _number(config: pytest.Config, key: str, cast: type, *, low: float, high: float | None = None,
            above: bool = False) -> Any:
    """The option's value, ``low <= value <= high`` (``above``: ``low < value``), or a SpecError."""
    raw = _value(config, key)
    opt = "--" + key.replace("_", "-")
    try:
        value = cast(raw)
    except (TypeError, ValueError):
        raise SpecError(f"{opt} must be a {cast.__name__}, got {raw!r}") from None
    if value != value or value < low or (above and value == low) or (high is not None and value > high):
        bound = (f"{'above' if above else 'at least'} {low}" if high is None
                 else f"{'strictly ' if above else ''}between {low} and {high}")
        raise SpecError(f"{opt} must be {bound}, got {raw!r}")
    return value


def settings_from_config(config: pytest.Config) -> Settings:
    from pytest_llmselect.cache import check_mode, parse_max_age
    from pytest_llmselect.candidates import DTYPES, parse_alpha, parse_candidates, with_demo_configs
    from pytest_llmselect.cost import Price

    base = Path(str(config.rootpath))
    raw = _value(config, "llm_candidates") or ""
    typed = config.getoption("llm_candidates")
    if typed is not None and not str(typed).replace(",", "").strip():
        # A CI job whose candidate list came out empty must not pass with everything skipped.
        raise SpecError(f"--llm-candidates is empty ({typed!r}): name at least one candidate")
    candidates = parse_candidates(raw, base_dir=Path.cwd() if config.getoption("llm_candidates") else base)
    alpha = parse_alpha(_value(config, "llm_alpha"))
    reports = []
    REPORT_FORMATS = (".json", ".md", ".html")
    for entry in _value(config, "llm_report") or []:
        path = Path(entry)
        if path.suffix.lower() not in REPORT_FORMATS:
            raise SpecError(f"--llm-report {entry!r}: unknown format {path.suffix!r}; use one of {', '.join(REPORT_FORMATS)}")
        reports.append(path)
    dtype = _value(config, "llm_dtype") or None
    if dtype is not None and dtype not in DTYPES:
        raise SpecError(f"--llm-dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    from pytest_llmselect.accounting import ERROR_POLICIES

    errors = str(_value(config, "llm_errors") or "worst").strip()
    if errors not in ERROR_POLICIES:
        raise SpecError(f"--llm-errors must be one of {', '.join(ERROR_POLICIES)}, got {errors!r}")
    from pytest_llmselect.run.subset import parse_max_cases

    max_cases = parse_max_cases(_value(config, "llm_max_cases"))  # a bad value: a usage error before collection
    checks = str(_value(config, "llm_checks") or "fail").strip()
    if checks not in ("fail", "report"):
        raise SpecError(f"--llm-checks must be one of fail, report, got {checks!r}")
    truncation = str(_value(config, "llm_truncation") or "warn").strip()
    if truncation not in ("warn", "error"):
        raise SpecError(f"--llm-truncation must be one of warn, error, got {truncation!r}")
    run_log = _value(config, "llm_run_log")
    # A price the user typed is a quote; the built-in 1.0 is an assumption, and the report says which.
    typed = config.getoption("llm_price_per_hour") is not None or config.getini("llm_price_per_hour") != "1.0"
    default_price = Price(usd_per_hour=_number(config, "llm_price_per_hour", float, low=0.0),
                          source="configured" if typed else "default")
    warm_batch, warm_rounds = parse_warmup(_value(config, "llm_benchmark_warmup"))
    cost_model = str(_value(config, "llm_cost_model")).strip()
    from pytest_llmselect.costmodel import COST_MODELS

    if cost_model not in COST_MODELS:
        raise SpecError(f"--llm-cost-model must be one of {', '.join(COST_MODELS)}, got {cost_model!r}")
    prices_file = _value(config, "llm_prices")
    if prices_file:
        from pytest_llmselect.candidates import apply_price_table

        base_for = Path.cwd() if config.getoption("llm_prices") else base
        candidates, default_price = apply_price_table(base_for / prices_file, candidates, default_price)
    from pytest_llmselect.demos.config import missing_extra, parse_demo_configs

    demo_configs = parse_demo_configs(_value(config, "llm_demos") or "")
    problem = missing_extra(demo_configs)
    if problem:
        raise SpecError(f"--llm-demos: {problem}")
    candidates = with_demo_configs(candidates, demo_configs)
    from pytest_llmselect.judge.pool import check_judge_spec
    from pytest_llmselect.preflight import check_device, check_hub_candidates

    device = _value(config, "llm_device") or None
    check_device(device)
    for cand in candidates:
        check_device(cand.device, f"candidate {cand.name}: device")
    check_hub_candidates(candidates)
    return Settings(
        constraints=parse_constraints(_value(config, "llm_constraints") or ""),
        candidates=tuple(candidates),
        alpha=alpha,
        reports=tuple(reports),
        device=_value(config, "llm_device") or None,
        dtype=dtype,
        batch_size="auto" if str(_value(config, "llm_batch_size")).strip() == "auto"
        else _number(config, "llm_batch_size", int, low=1),
        # Above 0.5: a one-sided bound at 0.5 says nothing, and the gate refuses it.
        level=_number(config, "llm_level", float, low=0.5, high=0.999, above=True),
        seed=_number(config, "llm_seed", int, low=0),
        price=default_price,
        run_log=(base / run_log) if run_log else None,
        bench_rounds=None if str(_value(config, "llm_benchmark_rounds")).strip() == "auto"
        else _number(config, "llm_benchmark_rounds", int, low=1),
        # Under pytest-xdist no process sees every candidate of a task: the old default there.
        rounds_follow_decision=not (getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput")),
        bench_warmup=warm_rounds,
        warmup_batch=warm_batch,
        cost_model=cost_model,
        latency_sample=_number(config, "llm_latency_sample", int, low=0),
        cpu_threads=_optional(config, "llm_cpu_threads", int, low=1),
        demos=demo_configs,
        cache_mode=check_mode(str(_value(config, "llm_cache") or "readwrite").strip()),
        cache_path=(base / cache_path) if (cache_path := _value(config, "llm_cache_path")) else None,
        cache_max_age_s=parse_max_age(str(_value(config, "llm_cache_max_age") or "")),
        errors=errors,
        truncation=truncation,
        judge=check_judge_spec(str(_value(config, "llm_judge") or ""), base),
        samples=_optional(config, "llm_samples", int, low=1),
        temperature=_optional(config, "llm_temperature", float, low=0.0, high=100.0),
        top_p=_optional(config, "llm_top_p", float, low=1e-9, high=1.0),
        max_cases=max_cases,
        checks=checks,
        race=parse_race(_value(config, "llm_race")),
        max_memory=parse_max_memory(_value(config, "llm_max_memory")),
    )


def _optional(config: pytest.Config, key: str, cast: type, **bounds: Any) -> Any:
    """``_number`` of an option that may be left empty (None)."""
    return _number(config, key, cast, **bounds) if str(_value(config, key) or "").strip() else None


def parse_warmup(value: Any) -> tuple[bool, int]:
    """``--llm-benchmark-warmup``: "batch" -> (True, 0): one untimed batch of each kind; "N" ->
    (False, N) whole untimed rounds. Anything else is a ``SpecError`` naming the value."""
    text = str(value).strip()
    if text == "batch":
        return True, 0
    if text.isascii() and text.isdigit():
        return False, int(text)
    raise SpecError(f"--llm-benchmark-warmup must be 'batch' or a whole number of rounds >= 0, got {value!r}")


def parse_constraints(text: str) -> Any:
    from pytest_llmselect.selection import Constraints

    known = ("min_quality", "max_cost", "max_latency_p95", "max_peak_memory")
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = (x.strip() for x in part.partition("="))
        if not sep or key not in known:
            raise SpecError(f"--llm-constraints: expected NAME=NUMBER with NAME in {', '.join(known)}, got {part!r}")
        try:
            values[key] = float(raw)
        except ValueError:
            raise SpecError(f"--llm-constraints: {key} must be a number, got {raw!r}") from None
        if values[key] != values[key] or values[key] < 0:
            raise SpecError(f"--llm-constraints: {key} must be a non-negative number, got {raw!r}")
    return Constraints(**values)
