"""Finite inputs never overflow the pure core: a squared deviation of a value above ~1.3e154
is past the float maximum, and ``x ** 2`` raises ``OverflowError`` where ``x * x`` gives inf.
Found by the report fuzz test (a stored timing round of 1e300)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.costmodel import cost_difference, mean_interval
from pytest_llmselect.errors import SpecError
from pytest_llmselect.stats import cases_needed, minimum_detectable_difference, sample_sd, t_interval

FINITE = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)


@given(st.lists(FINITE, min_size=2, max_size=12))
def test_sample_sd_agrees_with_statistics_stdev_at_any_magnitude(xs):
    got = sample_sd(xs)
    want = statistics.stdev(xs)  # exact rational arithmetic, then one rounding
    assert got >= 0.0 and not math.isnan(got)
    if want > 1e-6 * max(abs(x) for x in xs):  # beyond that, cancellation in any two-pass float SD
        assert got == pytest.approx(want, rel=1e-9, abs=0) or (math.isinf(got) and want > 1e307)


def test_sample_sd_of_a_huge_value_is_finite_and_right():
    assert sample_sd([1e300, 0.0, 0.0]) == pytest.approx(statistics.stdev([1e300, 0.0, 0.0]), rel=1e-12)
    assert sample_sd([1.0, 2.0, 3.0]) == 1.0


@given(st.lists(st.floats(min_value=0, max_value=1e300), min_size=2, max_size=8))
def test_mean_interval_and_t_interval_never_overflow(xs):
    est = mean_interval(xs)
    assert est.lo is not None and est.lo <= est.mean <= est.hi
    lo, hi = t_interval(xs)
    assert lo <= hi


@given(st.lists(st.tuples(FINITE, FINITE), min_size=2, max_size=8))
def test_minimum_detectable_difference_never_overflows(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    assert minimum_detectable_difference(a, b) >= 0


def test_cases_needed_past_what_a_float_can_count_is_one_spec_error():
    with pytest.raises(SpecError, match="cases_needed: sd_diff / margin"):
        cases_needed(1e300, 1e-300)
    assert cases_needed(1.0, 1.0) == 8  # ceil((1.96 + 0.8416)^2)


@given(st.floats(min_value=-250, max_value=250))
def test_cost_difference_does_not_depend_on_the_unit(exponent):
    """Welch-Satterthwaite is scale-free: costs in any unit give the same df and verdict; tiny
    standard errors (squares below the smallest float) are not taken for exact costs."""
    scale = 10.0 ** exponent
    a, b = (1.0, 0.8, 1.2, 3), (1.5, 1.45, 1.55, 5)
    base = cost_difference(a, b)
    scaled = cost_difference(tuple(x * scale for x in a[:3]) + (3,), tuple(x * scale for x in b[:3]) + (5,))
    assert base is not None and scaled is not None
    assert scaled.method == base.method and scaled.within_noise == base.within_noise
    assert scaled.lo == pytest.approx(base.lo * scale, rel=1e-9)
    assert scaled.hi == pytest.approx(base.hi * scale, rel=1e-9)


@pytest.mark.parametrize("scale", [1e-200, 1e-152, 1.0, 1e152, 1e200])
def test_sample_sd_with_its_mean_given_is_the_same_at_any_scale(scale):
    """The mean passed in is used on the scaled values too (divided by the same factor), and
    tiny values are scaled as huge ones are (their squares would underflow to 0)."""
    xs = [0.5 * scale, 1.5 * scale, 2.5 * scale, 4.0 * scale]
    want = statistics.stdev([0.5, 1.5, 2.5, 4.0]) * scale
    assert sample_sd(xs) == pytest.approx(want, rel=1e-12, abs=0)
    assert sample_sd(xs, statistics.fmean(xs)) == pytest.approx(want, rel=1e-12, abs=0)
