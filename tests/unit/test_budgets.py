from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.budgets import BUDGETS, check_budgets, validate_budgets
from pytest_llmselect.errors import SpecError


def test_upper_and_lower_budgets():
    figures = {"latency_p95": 0.8, "tokens_per_second": 150.0, "peak_memory_bytes": 3 * 2**30,
               "usd_per_1000_cases": 0.01, "ttft_p50": None}
    res = {r.key: r for r in check_budgets(
        {"max_latency_p95_s": 0.5, "min_tokens_per_second": 100, "max_peak_memory_mib": 4096,
         "max_usd_per_1000_cases": 0.001, "max_ttft_p50_s": 1.0}, figures)}
    assert res["max_latency_p95_s"].passed is False
    assert "latency_p95 = 0.8 s exceeds the budget max_latency_p95_s = 0.5 s" == res["max_latency_p95_s"].message()
    assert res["min_tokens_per_second"].passed is True
    assert res["max_peak_memory_mib"].measured == pytest.approx(3072) and res["max_peak_memory_mib"].passed
    assert res["max_usd_per_1000_cases"].passed is False
    assert res["max_ttft_p50_s"].passed is None and "not measured" in res["max_ttft_p50_s"].message()


@given(st.floats(0, 1e6), st.floats(0, 1e6))
def test_upper_budget_passes_iff_measured_at_most_budget(measured, budget):
    (r,) = check_budgets({"max_latency_p50_s": budget}, {"latency_p50": measured})
    assert r.passed is (measured <= budget)


@pytest.mark.parametrize("budgets,needle", [
    ({"max_latency": 1}, "unknown budget 'max_latency'"),
    ({"max_latency_p95_s": -1}, "non-negative"),
    ({"max_latency_p95_s": "fast"}, "non-negative number, got 'fast'"),
])
def test_bad_budgets(budgets, needle):
    with pytest.raises(SpecError, match=needle):
        validate_budgets(budgets, "llm_task 't'")


def test_every_budget_names_its_unit():
    assert all(k.endswith(("_s", "_cases", "_mib", "_second")) for k in BUDGETS)
