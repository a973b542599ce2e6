"""Malformed run files (issue 15, point 12): every mutation of a valid report is either
accepted and then rendered, re-selected and gated without a crash, or one DataError line."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmselect.analysis import AnalysisSettings, analyze, inputs_from_report
from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.gate import GateSettings, compare_runs
from pytest_llmselect.report import render_html, render_markdown, render_terminal
from pytest_llmselect.report.jsonio import load_report, to_json
from tests.report_samples import sample_report


def _accounted_report() -> dict[str, Any]:
    """A report as the plugin writes it now: errored cases, missing cases, a candidate that failed to load."""
    cases = [{"task": "t", "case_id": f"c{i}", "candidate": "a", "score": float(i % 2), "status": "scored",
              "output": "x", "group": None, "nodeid": f"n{i}"} for i in range(6)]
    cases += [{"task": "t", "case_id": "c6", "candidate": "a", "score": None, "status": "errored",
               "error": "RuntimeError: boom", "output": None, "group": None, "nodeid": "n6"}]
    cases += [{"task": "t", "case_id": f"c{i}", "candidate": "b", "score": 1.0, "status": "scored",
               "output": "y", "group": "g", "nodeid": f"m{i}"} for i in range(7)]
    candidates = [{"name": n, "spec": n, "status": s, "load_error": e,
                   "price": {"usd_per_hour": 1.0, "source": "default"}}
                  for n, s, e in (("a", "evaluated", None), ("b", "evaluated", None), ("c", "load_failed", "OSError"))]
    missing = [{"task": "t", "candidate": "c", "count": 7, "reason": "candidate failed to load"}]
    inputs = {"candidates": candidates, "cases": cases, "missing": missing,
              "tasks": [{"name": "t", "metric": "exact_match", "higher_is_better": True, "weight": 1.0,
                         "score_range": [0.0, 1.0], "min_quality": 0.1}],
              "measures": {("t", "a"): {"model_seconds": 1.0, "input_tokens": 10, "output_tokens": 5},
                           ("t", "b"): {"model_seconds": 2.0, "input_tokens": 10, "output_tokens": 5}}}
    derived = analyze(inputs, AnalysisSettings(alpha=10.0))
    return {"schema_version": 1, "complete": False, "missing": missing, **derived,
            "candidates": candidates, "cases": cases}


def _timed_report() -> dict[str, Any]:
    """A report with every cost field issue 9 adds: timing rounds (so cost intervals, cost
    comparisons and uncertain alpha boundaries), energy, the candidates' own bytes."""
    cases = [{"task": "t", "case_id": f"c{i}", "candidate": name, "score": float(i < 3 + 2 * k),
              "status": "scored", "output": "x", "group": None, "nodeid": f"{name}{i}"}
             for k, name in enumerate(("a", "b", "c")) for i in range(9)]
    candidates = [{"name": n, "spec": n, "status": "evaluated", "load_error": None,
                   "parameter_bytes": 4000 * (k + 1), "buffer_bytes": 8,
                   "price": {"usd_per_hour": 1.0, "usd_per_pflop": None, "usd_per_kwh": 0.2, "source": "default"}}
                  for k, n in enumerate(("a", "b", "c"))]

    def measures(k: int) -> dict[str, Any]:
        rounds = [1.0 + k + 0.1 * j for j in range(3)]
        return {"model_seconds": sum(rounds) / 3, "round_seconds": rounds, "warmup_seconds": 0.2,
                "cost_model": "time", "input_tokens": 90, "output_tokens": 9, "latency_p50": 0.1,
                "latency_p95": 0.2, "request_latency_p50": 0.01, "request_latency_p95": 0.02,
                "request_latency_p50_lo": 0.008, "request_latency_p50_hi": 0.013,
                "request_latency_p95_lo": 0.015, "request_latency_p95_hi": None,
                "ttft_p50": 0.004, "ttft_p50_lo": 0.003, "ttft_p50_hi": 0.006,
                "request_latency_n": 4, "peak_memory_bytes": 1000, "memory_method": "rss_peak_growth",
                "energy_joules": 3.0 + k, "cache_hits": 0}

    inputs = {"candidates": candidates, "cases": cases, "missing": [],
              "tasks": [{"name": "t", "metric": "exact_match", "higher_is_better": True, "weight": 1.0,
                         "score_range": [0.0, 1.0]}],
              "measures": {("t", n): measures(k) for k, n in enumerate(("a", "b", "c"))}}
    derived = analyze(inputs, AnalysisSettings(alpha=0.5))
    energy = {"available": True, "devices": {"cpu": {"available": True, "source": "rapl", "reason": None}}}
    return {"schema_version": 1, "complete": True, "missing": [], **derived, "energy": energy,
            "candidates": candidates, "cases": cases}


VALID = [json.loads(to_json(sample_report())), json.loads(to_json(_accounted_report())),
         json.loads(to_json(_timed_report()))]


def test_the_timed_report_carries_every_cost_field():
    """The fuzzed reports must include issue 9's fields, or the fuzzing never reaches them."""
    row = VALID[2]["tasks"][0]["results"][1]
    for key in ("cost_lo", "cost_hi", "cost_method", "objective_lo", "objective_hi", "loss_lo", "loss_hi",
                "energy_joules_per_1000_cases", "cost_comparison"):
        assert row.get(key) is not None, key
    assert VALID[2]["tasks"][0]["alpha_boundaries"] and VALID[2]["settings"]["cost_model"] == "time"
    assert VALID[2]["overall"]["results"][0]["objective_lo"] is not None


def _paths(obj: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, path + (i,))
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30) | st.sampled_from([10**300, -1, 0])
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


@st.composite
def mutated(draw: Any) -> tuple[dict[str, Any], list[str]]:
    data = copy.deepcopy(VALID[draw(st.integers(0, len(VALID) - 1))])
    done = []
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
            done.append(f"del {path}")
        else:
            value = draw(JSON_VALUES)
            parent[path[-1]] = value
            done.append(f"{path} = {value!r}")
    return data, done


def _use(report: dict[str, Any]) -> None:
    """Everything a loaded report goes through: the renderers, re-selection and the gate."""
    render_terminal(report)
    render_markdown(report)
    settings_block = report.get("settings") or {}
    analyze(inputs_from_report(report), AnalysisSettings(alpha=float(settings_block.get("alpha") or 1.0)))
    for base, cur in ((report, report), (VALID[1], report), (report, VALID[0])):
        try:
            compare_runs(base, cur, GateSettings())
        except (DataError, SpecError):
            pass  # a gate verdict of "cannot compare", said in one line


def _load_mutated(tmp_path_factory, data: dict[str, Any], done: list[str]) -> dict[str, Any] | None:
    """The mutated report written and loaded back; None when loading refused it, which must
    be one line naming the file."""
    path = tmp_path_factory.mktemp("runs") / "run.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    try:
        return load_report(path)
    except DataError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, done
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_mutation_is_loaded_and_used_or_one_data_error(tmp_path_factory, case):
    data, done = case
    report = _load_mutated(tmp_path_factory, data, done)
    if report is not None:
        _use(report)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_accepted_mutation_renders_as_html(tmp_path_factory, case):
    """The HTML renderer (slower: it draws the plots) on fewer mutations than the others."""
    data, done = case
    report = _load_mutated(tmp_path_factory, data, done)
    if report is not None:
        assert "</html>" in render_html(report), done


def test_the_valid_reports_load_and_are_used(tmp_path):
    for i, data in enumerate(VALID):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        _use(load_report(path))
        render_html(load_report(path))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["tasks"][0]["results"][1].__setitem__("quality", "high"),
     "field tasks[0].results[1].quality: Input should be a valid number (got 'high')"),
    (lambda d: d["tasks"][0].pop("name"), "tasks[0] is missing required field 'name'"),
    (lambda d: d["cases"][0].pop("candidate"), "field cases[0].candidate: Field required"),
    (lambda d: d["candidates"][1]["price"].__setitem__("usd_per_hour", -2),
     "field candidates[1].price.usd_per_hour: Input should be greater than or equal to 0 (got -2)"),
    (lambda d: d["cases"][3].__setitem__("score", 10 ** 400), "field cases[3].score: "),
    (lambda d: d["overall"].__setitem__("weights", {"a": -1}),
     "field overall.weights.a: Input should be greater than or equal to 0 (got -1)"),
    # a key that is a newline or holds a space is quoted: the message stays one line
    (lambda d: d["overall"].__setitem__("weights", {"\n": -1}),
     "field overall.weights['\\n']: Input should be greater than or equal to 0 (got -1)"),
    (lambda d: d["overall"].__setitem__("weights", {"a b": -1}),
     "field overall.weights['a b']: Input should be greater than or equal to 0 (got -1)"),
])
def test_a_wrong_field_is_named(tmp_path, mutate, message):
    data = copy.deepcopy(VALID[0])
    mutate(data)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_report(path)
    assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"schema_version": 1, "n": ' + "9" * 5000 + "}", "a number too large"),
])
def test_deep_nesting_and_huge_numbers_are_one_line(tmp_path, text, message):
    path = tmp_path / "run.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_report(path)


def _numeric_paths(obj: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [path]
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    return [p for k, v in items for p in _numeric_paths(v, path + (k,))]


@pytest.mark.parametrize("which", range(len(VALID)))
@pytest.mark.parametrize("extreme", [10 ** 300, -1e300, 5e-324])
def test_every_number_at_the_edge_of_its_range_is_used_or_one_data_error(tmp_path_factory, which, extreme):
    """Every numeric field, one at a time, set to the largest magnitude the schema admits (and
    the smallest positive float): loaded and used without a crash, or refused in one line. The
    fuzz test found one timing round of 1e300 overflowing a squared deviation (OverflowError)."""
    for path in _numeric_paths(VALID[which]):
        data = copy.deepcopy(VALID[which])
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = extreme
        done = [f"{path} = {extreme!r}"]
        report = _load_mutated(tmp_path_factory, data, done)
        if report is not None:
            try:
                _use(report)
            except Exception as exc:  # pragma: no cover - the failure message names the field
                raise AssertionError(f"{done}: {type(exc).__name__}: {exc}") from exc
