"""confidence.py pinned to published values and independent references (statsmodels, scipy,
hand formulas), where mutation testing found the existing tests loose: the objective
interval's mapping from the loss scale, the standard error and MDE, the cost-variance wiring,
cases_to_settle's formula, and every input check. See docs/mutation-testing.md.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from pytest_llmselect.confidence import (
    TANGO_CORRECTION,
    ObjectiveComparison,
    cases_to_settle,
    objective_compare,
    tango_interval,
    tango_statistic,
)
from pytest_llmselect.errors import SpecError

Z80 = 0.8416212335729143  # standard normal table


def paired_losses(n11: int, n10: int, n01: int, n00: int) -> tuple[list[float], list[float]]:
    a = [1.0] * n11 + [1.0] * n10 + [0.0] * n01 + [0.0] * n00
    b = [1.0] * n11 + [0.0] * n10 + [1.0] * n01 + [0.0] * n00
    return a, b


CAVO = paired_losses(59, 6, 16, 80)  # Cavo et al. (2012), the paired table [[59, 6], [16, 80]]


def test_binary_p_value_is_mcnemars_with_edwards_correction() -> None:
    # At alpha 1 and equal costs the objective test is McNemar's with continuity correction:
    # P = 0.055009 for the Cavo table (Fagerland, Lydersen & Laake 2017, chapter 8, as the
    # R package contingencytables prints it), as statsmodels computes it.
    cmp = objective_compare(*CAVO, alpha=1.0)
    assert cmp.method == "tango_score"
    assert cmp.p_value == pytest.approx(0.055009, abs=5e-7)
    ref = mcnemar(np.array([[59, 6], [16, 80]]), exact=False, correction=True).pvalue
    assert cmp.p_value == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_binary_interval_is_the_inverted_corrected_score_test(level: float) -> None:
    cmp = objective_compare(*CAVO, alpha=1.0, level=level)
    z = float(sps.norm.isf((1 - level) / 2))
    b, c, n = 6.0, 16.0, 161.0
    for end, inside in ((cmp.lo, 1e-7), (cmp.hi, -1e-7)):
        assert abs(tango_statistic(end + inside, b, c, n, 0.0, TANGO_CORRECTION)) < z
        assert abs(tango_statistic(end - inside, b, c, n, 0.0, TANGO_CORRECTION)) > z - 1e-9


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12),
       st.floats(0.1, 20.0), st.floats(-3.0, 3.0))
def test_objective_interval_is_the_loss_interval_scaled_by_alpha_and_shifted_by_cost(
        n11: int, n10: int, n01: int, n00: int, alpha: float, cost_diff: float) -> None:
    # With known costs the objective difference is alpha * loss difference + cost difference,
    # and its interval is the loss-scale interval mapped the same way.
    if n11 + n10 + n01 + n00 < 2:
        return
    a, b = paired_losses(n11, n10, n01, n00)
    n = n11 + n10 + n01 + n00
    cmp = objective_compare(a, b, alpha=alpha, cost_a=5.0 + cost_diff, cost_b=5.0)
    assert cmp.diff == pytest.approx(alpha * (n10 - n01) / n + (cmp.cost_diff), abs=1e-12)
    assert cmp.cost_diff == pytest.approx(cost_diff, abs=1e-12)
    # The loss-scale interval: the corrected score test inverted (pinned above).
    dlo, dhi = tango_interval(n10, n01, n, float(sps.norm.isf(0.025)), 0.0, TANGO_CORRECTION)
    lo = min(alpha * dlo + cmp.cost_diff, cmp.diff)
    hi = max(alpha * dhi + cmp.cost_diff, cmp.diff)
    significant = cmp.p_adjusted < 1 - cmp.level
    if (lo <= 0 <= hi) == (not significant):  # else it is nudged at 0 to agree with the verdict
        assert (cmp.lo, cmp.hi) == pytest.approx((lo, hi), abs=1e-9)


def test_objective_interval_mapping_on_a_clear_case() -> None:
    a, b = paired_losses(5, 20, 2, 13)  # a loses 20 cases, wins 2: clearly worse in loss
    unit = objective_compare(a, b, alpha=1.0)
    assert unit.lo > 0
    cmp = objective_compare(a, b, alpha=3.0, cost_a=1.25, cost_b=1.0)
    assert (cmp.lo, cmp.hi) == pytest.approx((3.0 * unit.lo + 0.25, 3.0 * unit.hi + 0.25), abs=1e-9)
    assert cmp.cost_diff == 0.25 and cmp.loss_diff == pytest.approx(18 / 40)


@pytest.mark.parametrize(("alpha", "se_a", "se_b"), [(1.0, 0.0, 0.0), (2.5, 0.0, 0.0), (0.5, 0.03, 0.04)])
def test_binary_standard_error_and_mde(alpha: float, se_a: float, se_b: float) -> None:
    a, b = paired_losses(30, 12, 5, 33)
    d = np.array(a) - np.array(b)
    cmp = objective_compare(a, b, alpha=alpha, cost_se_a=se_a, cost_se_b=se_b, level=0.9, m=2)
    # Variance of the mean of the paired differences (plug-in), plus the costs' variances.
    se = math.sqrt(alpha * alpha * d.var() / d.size + se_a**2 + se_b**2)
    assert cmp.se == pytest.approx(se, rel=1e-12)
    assert cmp.cost_se == pytest.approx(math.hypot(se_a, se_b), rel=1e-12)
    # MDE at the Bonferroni-adjusted two-sided level: (z_{1 - 0.1/4} + z_{0.8}) * se.
    assert cmp.mde == pytest.approx((float(sps.norm.isf(0.1 / 4)) + Z80) * se, rel=1e-9)
    assert cmp.method == "tango_score"


def test_binary_standard_error_with_no_differing_case_counts_one() -> None:
    a, b = paired_losses(10, 0, 0, 10)
    cmp = objective_compare(a, b, alpha=2.0)
    assert cmp.se == pytest.approx(2.0 * math.sqrt(1 / 20 / 20))


def test_continuous_losses_are_scipys_paired_t() -> None:
    a = [0.2, 0.5, 0.9, 0.4, 0.35, 0.8]
    b = [0.1, 0.6, 0.3, 0.2, 0.3, 0.45]
    res = sps.ttest_rel(a, b)
    cmp = objective_compare(a, b, alpha=1.0, level=0.9)
    assert cmp.method == "paired_t" and cmp.m == 1
    assert cmp.p_value == pytest.approx(res.pvalue, rel=1e-9)
    ci = res.confidence_interval(0.9)
    assert (cmp.lo, cmp.hi) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert cmp.se == pytest.approx(float(np.std(np.subtract(a, b), ddof=1)) / math.sqrt(6), rel=1e-12)


def test_continuous_losses_with_cost_uncertainty_use_welch_satterthwaite() -> None:
    a = [0.2, 0.5, 0.9, 0.4, 0.35, 0.8]
    b = [0.1, 0.6, 0.3, 0.2, 0.3, 0.45]
    alpha, se_cost = 2.0, 0.1
    q_var = alpha**2 * float(np.var(np.subtract(a, b), ddof=1)) / 6
    var = q_var + se_cost**2
    df = 5 * (var / q_var) ** 2  # Satterthwaite (1946) with the cost term's df infinite
    cmp = objective_compare(a, b, alpha=alpha, cost_se_b=se_cost)
    assert cmp.method == "paired_t_welch"
    diff = alpha * float(np.mean(np.subtract(a, b)))
    assert cmp.p_value == pytest.approx(2 * float(sps.t.sf(abs(diff) / math.sqrt(var), df)), rel=1e-9)


@pytest.mark.parametrize(("losses", "scale"), [([2.0, 4.0, 3.0], 2.0), ([0.25, 0.5, 0.75], 1.0),
                                               ([5.0, 5.0, 5.0], 1.0)])
def test_identical_continuous_losses_floor_the_spread(losses: list[float], scale: float) -> None:
    # No case differs: the SD is floored at scale / sqrt(n), scale the observed range outside [0, 1].
    cmp = objective_compare(losses, list(losses), alpha=1.5)
    assert cmp.se == pytest.approx(1.5 * scale / math.sqrt(3) / math.sqrt(3), rel=1e-12)


def test_cost_uncertainty_widens_the_binary_interval_at_any_alpha() -> None:
    a, b = paired_losses(20, 9, 3, 18)
    for alpha in (0.5, 2.0):
        known = objective_compare(a, b, alpha=alpha, cost_a=0.1)
        noisy = objective_compare(a, b, alpha=alpha, cost_a=0.1, cost_se_a=1.0)
        assert noisy.method == known.method == "tango_score"
        assert noisy.lo < known.lo and noisy.hi > known.hi
        assert noisy.p_value > known.p_value
    # A cost variance of alpha^2 * 1e12 or more leaves the score test: cost alone decides.
    assert objective_compare(a, b, alpha=1e-7, cost_se_a=1.0).method == "paired_t_welch"


def test_an_impossible_null_has_p_zero() -> None:
    # Equal objectives would need a to lose every case (loss difference 1): impossible here.
    a, b = paired_losses(2, 1, 1, 2)
    cmp = objective_compare(a, b, alpha=1.0, cost_a=0.0, cost_b=1.0)
    assert cmp.p_value == 0.0 and cmp.better


def test_defaults_are_one_comparison_at_95_percent() -> None:
    cmp = objective_compare([0.0, 1.0, 1.0], [1.0, 1.0, 0.0], alpha=1.0)
    assert (cmp.m, cmp.level) == (1, 0.95)


def test_boolean_and_integer_losses_are_zero_one_losses() -> None:
    cmp = objective_compare([True, False, True, True], [False, False, True, False], alpha=1.0)
    ref = objective_compare([1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], alpha=1.0)
    assert cmp == ref and cmp.method == "tango_score"
    assert objective_compare([1, 0, 1, 1], [0, 0, 1, 0], alpha=1.0) == ref


def test_a_single_case_is_enough_to_compare() -> None:
    cmp = objective_compare([1.0], [0.0], alpha=1.0)
    assert cmp.n == 1 and cmp.diff == 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(loss_a=[0.0, 1.0, 0.0], loss_b=[1.0]),
     "objective_compare: `loss_a` and `loss_b` must be equally long non-empty sequences, got lengths 3 and 1"),
    (dict(loss_a=[], loss_b=[]),
     "objective_compare: `loss_a` and `loss_b` must be equally long non-empty sequences, got lengths 0 and 0"),
    (dict(loss_a=[[0.0, 1.0]], loss_b=[[1.0, 0.0]]),
     "objective_compare: `loss_a` and `loss_b` must be equally long non-empty sequences, got lengths 2 and 2"),
    (dict(loss_a=[0.0, 1.0], loss_b=[1.0, float("nan")]), "objective_compare: losses must be finite numbers"),
    (dict(loss_a=[0.0, float("inf")], loss_b=[1.0, 0.0]), "objective_compare: losses must be finite numbers"),
    (dict(alpha=-1.0), "objective_compare: `alpha` must be a finite number >= 0, got -1.0"),
    (dict(alpha=float("inf")), "objective_compare: `alpha` must be a finite number >= 0, got inf"),
    (dict(level=0.0), "objective_compare: `level` must lie strictly between 0 and 1, got 0.0"),
    (dict(level=1.0), "objective_compare: `level` must lie strictly between 0 and 1, got 1.0"),
    (dict(level=1.5), "objective_compare: `level` must lie strictly between 0 and 1, got 1.5"),
    (dict(m=0), "objective_compare: `m` must be an int >= 1, got 0"),
])
def test_bad_input_is_one_clear_line(kwargs: dict, message: str) -> None:
    args = dict(loss_a=[0.0, 1.0], loss_b=[1.0, 1.0], alpha=1.0)
    args.update(kwargs)
    with pytest.raises(SpecError, match="^" + re.escape(message) + "$"):
        objective_compare(**args)


# ------------------------------------------------------------------------- cases to settle


def comparison(diff: float, se: float, n: int, level: float = 0.95, m: int = 1) -> ObjectiveComparison:
    return ObjectiveComparison(diff=diff, lo=diff - 1, hi=diff + 1, p_value=0.5, p_adjusted=0.5, n=n, m=m,
                               level=level, method="paired_t", loss_diff=diff, cost_diff=0.0, cost_se=0.0,
                               se=se, mde=0.0)


@pytest.mark.parametrize(("level", "m", "power"), [(0.95, 1, 0.8), (0.9, 3, 0.8), (0.95, 2, 0.9)])
def test_cases_to_settle_formula(level: float, m: int, power: float) -> None:
    # n * ((z_{1 - (1-level)/(2m)} + z_power) * se / |diff|)^2, rounded up (documented).
    z = float(sps.norm.isf((1 - level) / (2 * m))) + float(sps.norm.ppf(power))
    cmp = comparison(diff=-0.02, se=0.05, n=40, level=level, m=m)
    assert cases_to_settle(cmp, power) == math.ceil(40 * (z * 0.05 / 0.02) ** 2)


def test_cases_to_settle_is_never_fewer_than_the_cases_run() -> None:
    assert cases_to_settle(comparison(diff=1.0, se=0.01, n=30)) == 30


def test_cases_to_settle_does_not_add_a_case_for_float_noise() -> None:
    z = float(sps.norm.isf(0.025)) + Z80
    cmp = comparison(diff=0.1, se=2 * 0.1 / z, n=4)  # ratio 2: need = 4 * 4 = 16 up to rounding
    assert cases_to_settle(cmp) == 16


def test_cases_to_settle_gives_up_past_ten_million() -> None:
    z = float(sps.norm.isf(0.025)) + Z80
    assert cases_to_settle(comparison(diff=0.1, se=0.1 * 2000 / z, n=10)) is None    # 4e7 cases
    assert cases_to_settle(comparison(diff=0.1, se=0.1 * 900 / z, n=10)) == math.ceil(10 * (z * (0.1 * 900 / z) / 0.1) ** 2)
    assert cases_to_settle(comparison(diff=0.0, se=0.1, n=10)) is None


# Data and levels where the p-value sits on 1 - level to the last bit (found by search):
# the interval's float end and the test would disagree at 0 without the final agreement step.
ON_THE_EDGE = [
    ([0.42, 0.26, 0.51, 0.4, 0.78, 0.3, 0.48, 0.58, 0.91],
     [0.5, 0.28, 0.76, 0.62, 0.25, 0.91, 0.98, 0.81, 0.9], 0.7976267289030632),
    ([0.4, 0.82, 0.67, 0.0], [0.49, 0.87, 0.24, 0.33], 0.04614478705723479),
]


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize(("a", "b", "level"), ON_THE_EDGE)
def test_verdict_and_interval_agree_when_p_is_on_the_level(a, b, level, swap) -> None:
    if swap:
        a, b = b, a
    cmp = objective_compare(a, b, alpha=1.0, level=level)
    significant = cmp.p_adjusted < 1 - cmp.level
    assert cmp.lo <= cmp.diff <= cmp.hi
    assert (cmp.lo <= 0 <= cmp.hi) == (not significant)
    assert cmp.worse == (significant and cmp.diff > 0) and cmp.better == (significant and cmp.diff < 0)
    # Only the end at 0 moves, and only by rounding: otherwise it is scipy's paired t interval.
    ci = sps.ttest_rel(a, b).confidence_interval(level)
    assert (cmp.lo, cmp.hi) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize(("a", "b", "scale"), [
    ([1.0, 1.25, 1.5], [0.0, 0.25, 0.5], 1.5),   # a outside [0, 1]: the range of both
    ([0.0, 0.25, 0.5], [1.0, 1.25, 1.5], 1.5),   # b outside
    ([0.0, 0.25, 0.5], [0.5, 0.75, 1.0], 1.0),   # both inside, 0 and 1 included
    ([0.5, 0.75, 1.0], [0.0, 0.25, 0.5], 1.0),
    ([0.0, 0.25], [0.25, 0.5], 1.0),             # inside, 0 or 1 on one side, range 0.5: still 1
    ([1.0, 0.75], [0.75, 0.5], 1.0),
    ([0.25, 0.5], [0.0, 0.25], 1.0),
    ([0.75, 0.5], [1.0, 0.75], 1.0),
])
def test_a_constant_difference_floors_the_spread_on_the_scores_scale(a, b, scale) -> None:
    # Every case differs by the same amount (SD 0): floored at scale / sqrt(n).
    cmp = objective_compare(a, b, alpha=2.0)
    assert cmp.method == "paired_t"
    n = len(a)
    assert cmp.se == pytest.approx(2.0 * scale / math.sqrt(n) / math.sqrt(n), rel=1e-12)


@pytest.mark.parametrize(("a", "b", "se"), [([0.5], [0.25], 1.0), ([3.0], [1.0], 2.0)])
def test_a_single_continuous_case_has_the_floor_spread(a, b, se) -> None:
    cmp = objective_compare(a, b, alpha=1.0)
    assert cmp.se == pytest.approx(se) and math.isfinite(cmp.lo) and math.isfinite(cmp.hi)


def test_two_continuous_cases_use_their_sample_sd() -> None:
    a, b = [0.2, 0.9], [0.1, 0.3]
    cmp = objective_compare(a, b, alpha=1.0)
    assert cmp.se == pytest.approx(float(np.std([0.1, 0.6], ddof=1)) / math.sqrt(2), rel=1e-12)
    # With a cost SE: Welch-Satterthwaite df = (n - 1) * (var / quality var)^2 with n - 1 = 1.
    q_var = float(np.var([0.1, 0.6], ddof=1)) / 2
    var = q_var + 0.3**2
    cmp = objective_compare(a, b, alpha=1.0, cost_se_a=0.3)
    assert cmp.p_value == pytest.approx(2 * float(sps.t.sf(0.35 / math.sqrt(var), (var / q_var) ** 2)), rel=1e-9)


def test_alpha_zero_compares_costs_alone() -> None:
    # No price on quality and known costs: the cost difference is certain.
    a, b = [0.2, 0.9, 0.4], [0.1, 0.3, 0.8]
    dearer = objective_compare(a, b, alpha=0.0, cost_a=1.5, cost_b=1.0)
    assert (dearer.p_value, dearer.lo, dearer.hi, dearer.se) == (0.0, 0.5, 0.5, 0.0) and dearer.worse
    same = objective_compare(a, b, alpha=0.0, cost_a=1.0, cost_b=1.0)
    assert (same.p_value, same.lo, same.hi) == (1.0, 0.0, 0.0) and not (same.worse or same.better)
