"""The race's lower bound (race.betting_lower_bound): valid at every look at once, tighter than
the empirical-Bernstein sequence on a stage's few dozen cases, and well defined on any data."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.race import betting_lower_bound, confidence_sequence


def test_the_bound_stays_below_the_mean_at_every_look_at_its_error_rate() -> None:
    # A bound that ignored the looks (or read the sample mean) would miss in about half the runs.
    rng = random.Random(11)
    misses, runs, a = 0, 300, 0.1
    for _ in range(runs):
        p = rng.choice([0.05, 0.3, 0.5, 0.8, 0.97])
        xs = [float(rng.random() < p) for _ in range(192)]
        misses += any(betting_lower_bound(xs[:t], a) > p for t in range(4, 193, 4))
    assert misses / runs <= a


def test_three_valued_differences_as_the_race_sees_them_are_covered() -> None:
    # A paired difference of two 0/1 losses, mapped to [0, 1]: 0, 1/2 or 1, mean 0.6.
    rng = random.Random(5)
    misses, runs, a = 0, 300, 0.05
    for _ in range(runs):
        xs = [rng.choices([0.0, 0.5, 1.0], [0.2, 0.4, 0.4])[0] for _ in range(128)]
        misses += any(betting_lower_bound(xs[:t], a) > 0.6 for t in (8, 16, 32, 64, 128))
    assert misses / runs <= a


def test_it_is_tighter_than_the_empirical_bernstein_sequence_on_a_stage() -> None:
    rng = random.Random(3)
    for n in (16, 32):
        xs = [rng.choices([0.0, 0.5, 1.0], [0.05, 0.4, 0.55])[0] for _ in range(n)]
        eb = confidence_sequence(xs, 0.01, two_sided=False)[0]
        assert betting_lower_bound(xs, 0.01) > eb + 0.05


def test_more_cases_raise_the_bound_and_a_smaller_error_lowers_it() -> None:
    xs = [1.0, 0.0, 1.0, 1.0] * 50  # mean 0.75
    assert betting_lower_bound(xs[:20], 0.05) < betting_lower_bound(xs[:200], 0.05) < 0.75
    assert betting_lower_bound(xs, 0.001) < betting_lower_bound(xs, 0.05)
    assert betting_lower_bound([], 0.05) == 0.0


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=5), max_size=60),
       st.floats(min_value=1e-6, max_value=0.5))
def test_any_data_gives_a_bound_in_range_and_never_above_the_largest_value(xs: list[float], a: float) -> None:
    low = betting_lower_bound(xs, a)
    clipped = [min(1.0, max(0.0, x)) for x in xs]
    assert 0.0 <= low <= (max(clipped) if clipped else 0.0) + 1e-9
    assert math.isfinite(low)


@pytest.mark.parametrize("a", [0.0, 1.0, -0.1, float("nan")])
def test_a_bad_error_rate_is_one_clear_error(a: float) -> None:
    with pytest.raises(SpecError, match="betting_lower_bound: `a` must lie in"):
        betting_lower_bound([0.5], a)
