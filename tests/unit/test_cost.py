from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.cost import (
    DEFAULT_PRICE,
    Price,
    dollars_per_1000_cases,
    inference_flops,
    percentile,
)
from pytest_llmselect.errors import SpecError


def test_default_price_is_a_nominal_machine_hour() -> None:
    assert DEFAULT_PRICE.usd_per_hour == 1.0
    assert DEFAULT_PRICE.source == "default"
    assert DEFAULT_PRICE.usd_per_million_input_tokens is None
    with pytest.raises(AttributeError):
        DEFAULT_PRICE.usd_per_hour = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"usd_per_hour": -1.0}, "usd_per_hour.*-1"),
        ({"usd_per_hour": float("inf")}, "usd_per_hour.*inf"),
        ({"usd_per_million_input_tokens": float("nan")}, "input_tokens.*nan"),
        ({"usd_per_hour": "1"}, "usd_per_hour.*str"),
        ({}, "at least one"),
        ({"usd_per_hour": 1.0, "source": "guess"}, "source.*guess"),
    ],
)
def test_price_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        Price(**kwargs)  # type: ignore[arg-type]


def test_hourly_cost() -> None:
    # 100 cases in 360 s at $1/h cost $0.10, i.e. $1.00 per 1,000 cases.
    assert dollars_per_1000_cases(n_cases=100, model_seconds=360.0, price=DEFAULT_PRICE) == pytest.approx(1.0)
    price = Price(usd_per_hour=3.6)
    assert dollars_per_1000_cases(n_cases=1000, model_seconds=10.0, price=price) == pytest.approx(0.01)


def test_token_cost_and_sum() -> None:
    price = Price(usd_per_million_input_tokens=2.0, usd_per_million_output_tokens=8.0)
    # 500 cases: 1M input tokens ($2) and 250k output tokens ($2) -> $4 per 500 -> $8 per 1,000.
    got = dollars_per_1000_cases(n_cases=500, input_tokens=1_000_000, output_tokens=250_000, price=price)
    assert got == pytest.approx(8.0)
    both = Price(usd_per_hour=36.0, usd_per_million_input_tokens=2.0)
    got = dollars_per_1000_cases(n_cases=1000, model_seconds=100.0, input_tokens=500_000, output_tokens=None, price=both)
    assert got == pytest.approx(1.0 + 1.0)


def test_cost_needs_the_measurements_its_price_uses() -> None:
    with pytest.raises(SpecError, match="model_seconds"):
        dollars_per_1000_cases(n_cases=10, price=DEFAULT_PRICE)
    with pytest.raises(SpecError, match="output_tokens"):
        dollars_per_1000_cases(n_cases=10, input_tokens=5, price=Price(usd_per_million_output_tokens=1.0))
    with pytest.raises(SpecError, match="n_cases.*0"):
        dollars_per_1000_cases(n_cases=0, model_seconds=1.0, price=DEFAULT_PRICE)
    with pytest.raises(SpecError, match="model_seconds.*-1"):
        dollars_per_1000_cases(n_cases=1, model_seconds=-1.0, price=DEFAULT_PRICE)


@given(st.integers(1, 10_000), st.floats(0, 1e5), st.floats(0, 100))
def test_cost_linear_in_time_and_rate(n: int, seconds: float, rate: float) -> None:
    got = dollars_per_1000_cases(n_cases=n, model_seconds=seconds, price=Price(usd_per_hour=rate))
    assert got == pytest.approx(seconds * rate / 3600 * 1000 / n, rel=1e-12, abs=1e-300)
    assert got >= 0


def test_inference_flops() -> None:
    assert inference_flops(1e9, 1000) == 2e12
    assert inference_flops(0, 10) == 0.0
    with pytest.raises(SpecError, match="num_parameters"):
        inference_flops(-1, 1)


@pytest.mark.parametrize(("q", "expected"), [(0, 1.0), (50, 2.5), (100, 4.0), (25, 1.75), (95, 3.85)])
def test_percentile_examples(q: float, expected: float) -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(expected)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    got = percentile(values, q)
    assert got == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-6)
    assert min(values) <= got <= max(values)


def test_percentile_errors() -> None:
    with pytest.raises(SpecError, match="empty"):
        percentile([], 50)
    with pytest.raises(SpecError, match="q.*101"):
        percentile([1.0], 101)
    with pytest.raises(SpecError, match="nan"):
        percentile([1.0, math.nan], 50)
