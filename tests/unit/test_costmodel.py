"""Cost models and cost uncertainty on synthetic timings (pure: no models, no pytest plugin)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.analysis import AnalysisSettings, analyze
from pytest_llmselect.cost import Price, dollars_per_1000_cases
from pytest_llmselect.costmodel import (
    DEFAULT_TOKEN_PRICE,
    DEFAULT_USD_PER_PFLOP,
    Estimate,
    alpha_boundaries,
    cost_difference,
    effective_price,
    mean_interval,
    objective_interval,
)
from pytest_llmselect.errors import SpecError


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 8), level=st.sampled_from([0.8, 0.9, 0.95]),
       mu=st.floats(0.1, 10.0), cv=st.floats(0.01, 0.5))
def test_round_interval_covers_the_true_mean_at_about_the_nominal_rate(seed, n, level, mu, cv):
    rng = random.Random(seed)
    trials = 400
    hits = 0
    for _ in range(trials):
        est = mean_interval([rng.gauss(mu, cv * mu) for _ in range(n)], level)
        hits += est.lo <= mu <= est.hi
    # Binomial(400, level): 4.5 standard deviations either side is a band a correct
    # t interval leaves about once in 10^5 examples; a z interval (too narrow) misses it
    # at n = 3 (coverage 0.80 at a nominal 0.95).
    sd = math.sqrt(level * (1 - level) / trials)
    assert abs(hits / trials - level) <= 4.5 * sd + 1e-9


def test_one_round_has_no_interval_and_bad_input_is_one_clear_error():
    one = mean_interval([2.0])
    assert (one.mean, one.lo, one.hi) == (2.0, None, None) and "no interval" in one.method
    with pytest.raises(SpecError, match="non-empty sequence of finite numbers"):
        mean_interval([])
    with pytest.raises(SpecError, match="level"):
        mean_interval([1.0, 2.0], level=1.5)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1))
def test_equal_true_costs_are_said_within_noise_at_about_the_nominal_rate(seed):
    rng = random.Random(seed)
    trials, level = 300, 0.9
    noise = 0
    for _ in range(trials):
        a = mean_interval([rng.gauss(1.0, 0.2) for _ in range(5)], level)
        b = mean_interval([rng.gauss(1.0, 0.1) for _ in range(4)], level)
        diff = cost_difference((a.mean, a.lo, a.hi, 5), (b.mean, b.lo, b.hi, 4), level)
        noise += diff.within_noise
    sd = math.sqrt(level * (1 - level) / trials)
    assert noise / trials >= level - 4.5 * sd


def test_clearly_different_costs_are_not_noise_and_exact_costs_differ_exactly():
    a = mean_interval([1.0, 1.01, 0.99, 1.0])
    b = mean_interval([2.0, 2.02, 1.98, 2.0])
    diff = cost_difference((a.mean, a.lo, a.hi, 4), (b.mean, b.lo, b.hi, 4))
    assert diff is not None and not diff.within_noise and diff.hi < 0
    exact = cost_difference((1.0, 1.0, 1.0, 0), (1.0, 1.0, 1.0, 0))
    assert exact is not None and not exact.within_noise and exact.method.startswith("exact")
    assert cost_difference((1.0, None, None, 1), (a.mean, a.lo, a.hi, 4)) is None  # no interval: no claim


def test_cost_difference_of_one_round_costs_uses_their_normal_drift_intervals():
    """A one-round cost's interval is z * drift * mean (with_run_drift): its standard error is
    half-width / z, not half-width / t(1) (12.7, which made two 20%-uncertain costs look exact)."""
    z = 1.959963984540054
    a, b = (1.0, 1.0 - z * 0.2, 1.0 + z * 0.2, 1), (1.5, 1.5 - z * 0.3, 1.5 + z * 0.3, 1)
    got = cost_difference(a, b)
    half = z * math.hypot(0.2, 0.3)
    assert (got.lo, got.hi) == pytest.approx((-0.5 - half, -0.5 + half))
    assert got.within_noise and "drift" in got.method
    far = cost_difference((1.0, 1.0 - z * 0.2, 1.0 + z * 0.2, 1), (5.0, 5.0 - z, 5.0 + z, 1))
    assert not far.within_noise


def test_objective_interval_adds_the_two_half_widths_in_quadrature():
    lo, hi = objective_interval(cost=1.0, cost_lo=0.7, cost_hi=1.4, loss=0.2, loss_lo=0.1, loss_hi=0.3, alpha=4.0)
    assert lo == pytest.approx(1.8 - math.hypot(0.3, 0.4))
    assert hi == pytest.approx(1.8 + math.hypot(0.4, 0.4))
    assert objective_interval(1.0, None, None, 0.2, None, None, 4.0) == (pytest.approx(1.8), pytest.approx(1.8))


def test_alpha_boundary_is_uncertain_when_the_cost_difference_is_noise():
    ranges = {"cheap": (0.0, 2.0), "good": (2.0, math.inf)}
    sure = [Estimate("cheap", 1.0, 0.99, 1.01, 0.5, 0.49, 0.51), Estimate("good", 2.0, 1.99, 2.01, 0.0, 0.0, 0.01)]
    (b,) = alpha_boundaries(ranges, sure)
    assert not b["uncertain"] and b["lo"] < 2.0 < b["hi"] and (b["below"], b["above"]) == ("cheap", "good")
    noisy = [Estimate("cheap", 1.0, 0.0, 3.0, 0.5, 0.49, 0.51), Estimate("good", 2.0, 1.0, 3.0, 0.0, 0.0, 0.01)]
    (b,) = alpha_boundaries(ranges, noisy)
    assert b["uncertain"] and "cost difference" in b["reason"] and b["lo"] is None


def test_effective_price_per_cost_model():
    hourly = Price(usd_per_hour=2.0)
    assert effective_price(None, hourly, "time") is hourly
    assert effective_price(None, hourly, "tokens") == DEFAULT_TOKEN_PRICE
    api = Price(usd_per_million_input_tokens=1.0, usd_per_million_output_tokens=3.0)
    assert effective_price(api, hourly, "tokens").usd_per_million_output_tokens == 3.0
    flops = effective_price(None, hourly, "flops")
    assert flops.usd_per_pflop == DEFAULT_USD_PER_PFLOP and flops.source == "default"
    with pytest.raises(SpecError, match="cost model must be one of time, tokens, flops"):
        effective_price(None, hourly, "dollars")


def test_flops_and_energy_prices():
    price = Price(usd_per_pflop=2.0, usd_per_kwh=0.36)
    # 1e15 FLOP -> $2; 3.6e6 J = 1 kWh -> $0.36; over 10 cases, per 1,000 cases x100.
    assert dollars_per_1000_cases(n_cases=10, flops=1e15, energy_joules=3.6e6, price=price) == pytest.approx(236.0)
    assert dollars_per_1000_cases(n_cases=10, flops=1e15, price=price) == pytest.approx(200.0)
    with pytest.raises(SpecError, match="`flops` is needed"):
        dollars_per_1000_cases(n_cases=10, price=price)


def _inputs(rounds_a, rounds_b, tokens=(100, 10)):
    cases = [{"task": "t", "case_id": str(i), "candidate": c, "score": 1.0 if i % 2 else 0.0}
             for c in ("a", "b") for i in range(20)]
    measures = {("t", c): {"model_seconds": sum(r) / len(r), "round_seconds": r, "input_tokens": tokens[0],
                           "output_tokens": tokens[1], "flops": 2.0 * p * sum(tokens)}
                for c, r, p in (("a", rounds_a, 1000), ("b", rounds_b, 4000))}
    cands = [{"name": c, "price": {}} for c in ("a", "b")]
    return {"candidates": cands, "tasks": [{"name": "t", "metric": "m"}], "cases": cases, "measures": measures}


def test_analysis_rows_carry_cost_intervals_and_noise_statement():
    rep = analyze(_inputs([1.0, 1.2, 0.8], [1.1, 0.7, 1.3]), AnalysisSettings(alpha=10.0))
    rows = {r["candidate"]: r for r in rep["tasks"][0]["results"]}
    for r in rows.values():
        assert r["cost_lo"] < r["cost"] < r["cost_hi"] and "3 timing rounds" in r["cost_method"]
        assert r["objective_lo"] < r["objective"] < r["objective_hi"]
    sel = rep["tasks"][0]["selection"]
    other = next(n for n in rows if n != sel["selected"])
    assert sel["cost_within_noise"] == [other] and rows[other]["cost_comparison"]["within_noise"]
    assert rep["settings"]["cost_model"] == "time"
    assert rep["overall"]["results"][0]["cost_lo"] is not None


@pytest.mark.parametrize("model", ["tokens", "flops"])
def test_deterministic_cost_models_ignore_timings(model):
    fast = analyze(_inputs([0.1, 0.1, 0.1], [5.0, 9.0, 7.0]), AnalysisSettings(alpha=10.0, cost_model=model))
    slow = analyze(_inputs([3.0, 1.0, 2.0], [0.2, 0.2, 0.3]), AnalysisSettings(alpha=10.0, cost_model=model))
    for a, b in zip(fast["tasks"][0]["results"], slow["tasks"][0]["results"]):
        assert a["cost"] == b["cost"] == a["cost_lo"] == a["cost_hi"]
        assert a["cost_method"].startswith("exact")


def test_a_price_per_pflop_does_not_leak_into_the_time_model():
    default = Price(usd_per_hour=2.0)
    only_flops = Price(usd_per_pflop=0.5)
    assert effective_price(only_flops, default, "time") is default
    mixed = effective_price(Price(usd_per_hour=3.0, usd_per_pflop=0.5), default, "time")
    assert (mixed.usd_per_hour, mixed.usd_per_pflop) == (3.0, None)
    assert effective_price(only_flops, default, "flops").usd_per_pflop == 0.5


@given(st.text(max_size=12))
def test_warmup_option_parses_batch_or_a_count_and_names_anything_else(text):
    from pytest_llmselect.run.configure import parse_warmup

    stripped = text.strip()
    if stripped == "batch":
        assert parse_warmup(text) == (True, 0)
    elif stripped.isascii() and stripped.isdigit():
        assert parse_warmup(text) == (False, int(stripped))
    else:
        with pytest.raises(SpecError, match="--llm-benchmark-warmup must be 'batch' or a whole number"):
            parse_warmup(text)
