"""Latency percentiles' intervals: ``stats.quantile_interval`` against scipy's
``quantile_test`` confidence interval, its coverage, its inputs, and where the report uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats as sps

from pytest_llmselect.engine import Measures
from pytest_llmselect.errors import SpecError
from pytest_llmselect.run.inputs import measures_dict
from pytest_llmselect.stats import quantile_interval


def _near_a_tie(n: int, q: float, level: float) -> bool:
    """A binomial tail within float noise of (1 - level) / 2: either choice of rank is right."""
    tail = (1 - level) / 2
    return any(abs(p - tail) < 1e-9 for k in range(-1, n + 1)
               for p in (sps.binom.cdf(k, n, q), sps.binom.sf(k, n, q)))


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=120, unique=True),
       st.sampled_from([0.05, 0.25, 0.5, 0.9, 0.95, 0.99]), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_the_interval_is_scipys_quantile_test_interval(xs, q, level):
    assume(not _near_a_tie(len(xs), q, level))
    ci = sps.quantile_test(np.array(xs), q=float(np.quantile(xs, q)), p=q).confidence_interval(level)
    want = tuple(None if math.isnan(v) else float(v) for v in (ci.low, ci.high))
    assert quantile_interval(xs, q, level) == want


def test_coverage_is_at_least_nominal_for_a_skewed_distribution():
    """2,000 samples of 50 exponential latencies: the 95% interval holds the true median
    (ln 2) and the true p90 in at least 95% of them, less sampling slack (SE about 0.5%).
    (At 50 both ends of a p90 exist: 0.9**50 < 0.025.)"""
    rng = np.random.default_rng(20261129)
    for q, truth in ((0.5, math.log(2)), (0.9, math.log(10))):
        held = 0
        for _ in range(2000):
            lo, hi = quantile_interval(rng.exponential(size=50).tolist(), q, 0.95)
            held += lo is not None and hi is not None and lo <= truth <= hi
        assert held / 2000 >= 0.94, (q, held)


def test_ends_too_few_values_cannot_bound_are_none():
    xs = [0.1, 0.4, 0.2, 0.3, 0.5]
    assert quantile_interval(xs, 0.5) == (None, None)  # 0.5**5 > 0.025
    assert quantile_interval(xs + [0.6], 0.5) == (0.1, 0.6)  # 0.5**6 < 0.025: the extremes
    lo, hi = quantile_interval([float(i) for i in range(71)], 0.95)
    assert lo is not None and hi is None  # 0.95**71 > 0.025
    assert quantile_interval([float(i) for i in range(72)], 0.95)[1] == 71.0


@pytest.mark.parametrize(("values", "q", "level", "what"), [
    ([], 0.5, 0.95, "`values`"), ([1.0, math.nan], 0.5, 0.95, r"`values\[1\]`"), ([1.0], 0.0, 0.95, "`q`"),
    ([1.0], 0.5, 1.0, "`level`"), ([1.0], True, 0.95, "`q`"),
])
def test_bad_input_is_one_spec_error(values, q, level, what):
    with pytest.raises(SpecError, match=f"quantile_interval: {what}"):
        quantile_interval(values, q, level)


def test_the_report_gives_intervals_for_per_request_samples_only():
    """Request latencies are independent draws (run alone); TTFTs are only where each request's
    is its own (a served model): a local batch's TTFT is one value repeated per request."""
    local = Measures(requests=40, model_seconds=1.0, latencies=[0.5] * 40, first_token_seconds=[0.1] * 40,
                     request_latencies=[0.01 * (i + 1) for i in range(8)])
    row = measures_dict(local, None, parallel=False)
    assert (row["request_latency_p50_lo"], row["request_latency_p50_hi"]) == quantile_interval(
        local.request_latencies, 0.5)
    assert row["request_latency_p50_lo"] <= row["request_latency_p50"] <= row["request_latency_p50_hi"]
    assert row["request_latency_p95_lo"] is not None and row["request_latency_p95_hi"] is None
    assert "ttft_p50_lo" not in row and "ttft_p50_hi" not in row  # no interval applies: no fields
    served = Measures(requests=40, model_seconds=1.0, latencies=[0.01 * i for i in range(40)],
                      first_token_seconds=[0.001 * i for i in range(40)],
                      request_latencies=[0.01 * i for i in range(40)], requests_timed_alone=True)
    row = measures_dict(served, None, parallel=False, level=0.9)
    assert (row["ttft_p50_lo"], row["ttft_p50_hi"]) == quantile_interval(served.first_token_seconds, 0.5, 0.9)
    assert row["ttft_p50_lo"] < row["ttft_p50"] < row["ttft_p50_hi"]
    empty = measures_dict(Measures(), None, parallel=False)
    assert empty["request_latency_p50_lo"] is None and empty["request_latency_p95_hi"] is None


@pytest.mark.parametrize("n", [100, 500, 1000])
@pytest.mark.parametrize("q", [0.5, 0.95])
def test_large_samples_match_scipy_too(n, q):
    """Where the binomial's mass spreads over many ranks the tails must be summed (a single
    term crosses the tail probability at another rank)."""
    xs = np.random.default_rng(n).exponential(size=n).tolist()
    ci = sps.quantile_test(np.array(xs), q=float(np.quantile(xs, q)), p=q).confidence_interval(0.95)
    assert quantile_interval(xs, q) == (float(ci.low), float(ci.high))
