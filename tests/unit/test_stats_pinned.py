"""stats.py pinned to published values and independent references (statsmodels, scipy,
numpy, exact integer arithmetic, brute-force enumeration), where mutation testing found the
existing tests loose. See docs/mutation-testing.md.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from pytest_llmselect.stats import (
    bca_interval,
    bootstrap_interval,
    estimate,
    minimum_detectable_difference,
    paired_compare,
    t_interval,
    wilson_interval,
)


def paired_binary(n11: int, n10: int, n01: int, n00: int) -> tuple[list[float], list[float]]:
    a = [1.0] * n11 + [1.0] * n10 + [0.0] * n01 + [0.0] * n00
    b = [1.0] * n11 + [0.0] * n10 + [1.0] * n01 + [0.0] * n00
    return a, b


# ---------------------------------------------------------------- Newcombe's paired interval


def newcombe_paired_reference(n11: int, n10: int, n01: int, n00: int, level: float) -> tuple[float, float]:
    """Newcombe (1998, Stat Med 17:2635) method 10, written from the paper: Wilson limits of
    each margin (statsmodels) combined with the continuity-corrected phi: the numerator
    A = n11*n00 - n10*n01 becomes A - N/2 when A > N/2, 0 when 0 <= A <= N/2, and stays
    A when A < 0; phi is 0 when a margin is empty."""
    n = n11 + n10 + n01 + n00
    x1, x2 = n11 + n10, n11 + n01
    p1, p2 = x1 / n, x2 / n
    l1, u1 = proportion_confint(x1, n, alpha=1 - level, method="wilson")
    l2, u2 = proportion_confint(x2, n, alpha=1 - level, method="wilson")
    margins = [n11 + n10, n01 + n00, n11 + n01, n10 + n00]
    a = n11 * n00 - n10 * n01
    if 0 in margins:
        phi = 0.0
    else:
        num = a - n / 2 if a > n / 2 else (0.0 if a >= 0 else a)
        phi = num / math.sqrt(math.prod(margins))
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return lo, hi


def test_newcombe_paired_matches_the_published_cavo_example() -> None:
    # Cavo et al. (2012), complete response before/after consolidation, [[59, 6], [16, 80]]:
    # Fagerland, Lydersen & Laake (2017), chapter 8, as computed by the R package
    # contingencytables (Newcombe_square_and_add_CI_paired_2x2): -0.0621 (-0.1186 to -0.0046).
    a, b = paired_binary(59, 6, 16, 80)
    cmp = paired_compare(a, b)
    assert cmp.diff == pytest.approx(-0.0621, abs=5e-5)
    assert (cmp.lo, cmp.hi) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    # The reference written from the paper agrees with the published figures.
    assert newcombe_paired_reference(59, 6, 16, 80, 0.95) == pytest.approx((-0.1186, -0.0046), abs=5e-5)


def test_identical_runs_do_not_collapse_the_paired_interval() -> None:
    # Two identical runs at 50% accuracy: the uncorrected phi is 1 and the interval [0, 0];
    # Newcombe's corrected phi keeps it open (the gate's docstring records the collapse).
    a, b = paired_binary(10, 0, 0, 10)
    cmp = paired_compare(a, b)
    assert cmp.diff == 0.0 and cmp.lo < -0.05 and cmp.hi > 0.05
    assert (cmp.lo, cmp.hi) == pytest.approx(newcombe_paired_reference(10, 0, 0, 10, 0.95), abs=1e-12)


@settings(max_examples=200)
@given(st.integers(0, 25), st.integers(0, 25), st.integers(0, 25), st.integers(0, 25),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
@example(1, 0, 0, 1, 0.9)    # every margin 1: the phi denominator is exactly 1 (A = 1, corrected to 0)
@example(0, 1, 1, 0, 0.9)    # every margin 1 and A = -1: phi = -1
@example(5, 3, 0, 0, 0.95)   # an empty margin: phi is 0
@example(0, 12, 3, 0, 0.8)   # A < 0: no correction
def test_newcombe_paired_matches_the_reference(n11: int, n10: int, n01: int, n00: int, level: float) -> None:
    if n11 + n10 + n01 + n00 == 0:
        return
    a, b = paired_binary(n11, n10, n01, n00)
    cmp = paired_compare(a, b, level=level)
    lo, hi = newcombe_paired_reference(n11, n10, n01, n00, level)
    assert cmp.lo == pytest.approx(min(max(-1.0, lo), cmp.diff), abs=1e-9)
    assert cmp.hi == pytest.approx(max(min(1.0, hi), cmp.diff), abs=1e-9)


# ------------------------------------------------------------- exact McNemar, large counts


@pytest.mark.parametrize("k", [0, 1, 2])
def test_mcnemar_p_far_in_the_tail_of_a_large_count(k: int) -> None:
    # Beyond 5000 discordant pairs the tail is summed in log space; with k of 6000 against
    # the candidate the p-value is 2 * P(Bin(6000, 1/2) <= k): below the smallest float.
    a, b = paired_binary(0, 6000 - k, k, 0)
    exact = 2 * Fraction(sum(math.comb(6000, i) for i in range(k + 1)), 2**6000)
    assert paired_compare(a, b).p_value == float(exact) == 0.0


def test_mcnemar_p_at_the_switch_to_log_space() -> None:
    # 5000 and 5001 discordant pairs sit on either side of the exact-integer path.
    for n in (5000, 5001):
        k = n // 2 - 60
        a, b = paired_binary(0, n - k, k, 0)
        exact = 2 * Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
        assert paired_compare(a, b).p_value == pytest.approx(float(exact), rel=1e-9)


# ---------------------------------------------------------------------------- bootstrap


@settings(max_examples=50)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=30), st.floats(0.0, 1.0))
def test_percentile_is_numpys_linear_quantile(values: list[float], q: float) -> None:
    from pytest_llmselect.descriptive import _quantile_sorted

    xs = sorted(values)
    assert _quantile_sorted(xs, q) == pytest.approx(float(np.quantile(xs, q)), abs=1e-9)


@settings(max_examples=30)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=25), st.sampled_from([0.5, 0.8, 0.9, 0.99]),
       st.integers(0, 1000))
def test_bootstrap_interval_is_the_documented_percentile_bootstrap(values: list[float], level: float,
                                                                   seed: int) -> None:
    # Documented: resamples drawn with random.Random(seed).choices, percentile interval of the
    # resample means (numpy's linear quantile), kept inside the data and around the mean.
    if min(values) == max(values):
        return
    rng = random.Random(seed)
    means = [math.fsum(rng.choices(values, k=len(values))) / len(values) for _ in range(300)]
    lo = max(min(values), float(np.quantile(means, (1 - level) / 2)))
    hi = min(max(values), float(np.quantile(means, 1 - (1 - level) / 2)))
    mean = statistics.fmean(values)
    got = bootstrap_interval(values, level, n_resamples=300, seed=seed)
    assert got == pytest.approx((min(mean, lo), max(mean, hi)), abs=1e-12)


def test_bootstrap_and_bca_defaults_are_the_documented_ones() -> None:
    values = [0.1, 0.5, 0.52, 0.9, 0.33, 0.71, 0.05, 0.6]
    assert bootstrap_interval(values) == bootstrap_interval(values, 0.95, n_resamples=2000, seed=0)
    assert bca_interval(values) == bca_interval(values, 0.95, n_resamples=2000, seed=0)


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_bca_interval_is_scipys_bca(level: float) -> None:
    values = [0.1, 0.5, 0.52, 0.9, 0.33, 0.71, 0.05, 0.6, 0.44]
    res = sps.bootstrap((np.asarray(values),), np.mean, confidence_level=level, n_resamples=999,
                        method="BCa", rng=np.random.default_rng(7))
    got = bca_interval(values, level, n_resamples=999, seed=7)
    assert got == pytest.approx((res.confidence_interval.low, res.confidence_interval.high), abs=1e-12)


def test_bca_interval_of_two_values_is_not_a_point() -> None:
    lo, hi = bca_interval([0.2, 0.8], 0.9, seed=1)
    assert lo < 0.5 < hi


# ------------------------------------------------------------------------------ t interval


def test_t_interval_of_two_values() -> None:
    # n = 2: mean 0.5, sd sqrt(0.18), t_{0.975, 1} = 12.7062047362 (table).
    lo, hi = t_interval([0.2, 0.8])
    half = 12.7062047362 * math.sqrt(0.18) / math.sqrt(2)
    assert (lo, hi) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-9)


# ---------------------------------------------------------------- sign-flip permutation test


def brute_force_sign_flip_p(diffs: list[float]) -> float:
    nz = [d for d in diffs if d != 0.0]
    if not nz:
        return 1.0
    observed = abs(math.fsum(nz))
    tol = 1e-9 * math.fsum(abs(d) for d in nz)  # documented tie tolerance
    hits = sum(1 for signs in itertools.product((1, -1), repeat=len(nz))
               if abs(math.fsum(s * d for s, d in zip(signs, nz))) >= observed - tol)
    return hits / 2 ** len(nz)


@settings(max_examples=30)
@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=8))
# Sequential float sums of these differ from fsum by an ulp: the all-plus pattern still ties.
@example([1693.5, 4365.3, 1036.2, 2880.8])
def test_sign_flip_all_positive_differences(diffs: list[float]) -> None:
    # Only the observed pattern and its mirror reach the observed sum: p = 2 / 2**m exactly.
    # All differences exactly 1 against zeros are 0/1 scores, which take McNemar's test instead.
    assume(any(d != 1.0 for d in diffs))
    b = [0.0] * len(diffs)
    cmp = paired_compare(diffs, b)
    assert cmp.method == "permutation_exact"
    assert cmp.p_value == 2 / 2 ** len(diffs)


def test_sign_flip_counts_differences_of_exactly_one() -> None:
    # A difference of exactly 1.0 is a difference like any other (only zeros are dropped).
    a, b = [1.5, 0.2, 0.3, 2.0], [0.5, 0.1, 0.1, 2.0]
    diffs = [x - y for x, y in zip(a, b)]
    assert diffs[0] == 1.0 and diffs[3] == 0.0
    assert paired_compare(a, b).p_value == pytest.approx(brute_force_sign_flip_p(diffs))


def test_sign_flip_is_exact_up_to_sixteen_differences() -> None:
    rng = random.Random(3)
    diffs = [rng.uniform(-1, 1) for _ in range(16)]
    cmp = paired_compare(diffs, [0.0] * 16)
    assert cmp.method == "permutation_exact"
    assert paired_compare(diffs + [0.5], [0.0] * 17).method == "permutation_mc"


def test_monte_carlo_sign_flip_estimates_the_exact_p() -> None:
    # 17 non-zero differences (just past exact enumeration): the Monte Carlo p-value is within
    # 4 standard errors of the exact one, enumerated here over all 2**17 sign patterns.
    rng = np.random.default_rng(11)
    diffs = np.concatenate([[2.5], rng.normal(0.15, 1.0, 16)])
    m = diffs.size
    observed = abs(math.fsum(diffs))
    signs = 1 - 2 * ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1)
    exact = float(np.mean(np.abs(signs @ diffs) >= observed - 1e-9 * np.abs(diffs).sum()))
    assert 0.05 < exact < 0.95
    cmp = paired_compare(diffs.tolist(), [0.0] * m, n_resamples=20000, seed=2)
    assert cmp.method == "permutation_mc"
    se = math.sqrt(exact * (1 - exact) / 20000)
    assert abs(cmp.p_value - exact) <= 4 * se + 1 / 20001


def test_monte_carlo_sign_flip_is_seeded() -> None:
    rng = np.random.default_rng(5)
    diffs = rng.normal(0.0, 1.0, 30).tolist()
    first = [paired_compare(diffs, [0.0] * 30, n_resamples=2000, seed=9).p_value for _ in range(3)]
    assert first[0] == first[1] == first[2] and 0.01 < first[0] < 0.99
    assert paired_compare(diffs, [0.0] * 30, n_resamples=2000, seed=10).p_value != first[0]


def test_one_resample_is_enough_to_run() -> None:
    # n_resamples >= 1 is the documented minimum; one resample gives (hits + 1) / 2.
    diffs = [0.3 * (i % 5) - 0.5 for i in range(20)]
    cmp = paired_compare(diffs, [0.0] * 20, n_resamples=1)
    assert cmp.method == "permutation_mc" and cmp.p_value in (0.5, 1.0)


def test_paired_compare_defaults_are_the_documented_ones() -> None:
    rng = random.Random(4)
    a = [rng.random() for _ in range(25)]
    b = [rng.random() for _ in range(25)]
    assert paired_compare(a, b) == paired_compare(a, b, level=0.95, seed=0, n_resamples=2000)


# -------------------------------------------------------------------- wiring of levels


Z975 = 1.959963984540054  # standard normal table
Z90 = 1.2815515655446004
Z80 = 0.8416212335729143


def test_wilson_one_success_is_not_clipped_to_zero() -> None:
    # Wilson (1927) for 1 of 10 at 95%: (0.0179, 0.4042), as statsmodels' proportion_confint gives.
    assert wilson_interval(1, 10) == pytest.approx((0.0179, 0.4042), abs=5e-5)
    assert wilson_interval(9, 10) == pytest.approx((0.5958, 0.9821), abs=5e-5)


@pytest.mark.parametrize("level", [0.8, 0.99])
def test_estimate_uses_its_level_for_every_method(level: float) -> None:
    binary = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    e = estimate(binary, level=level)
    assert (e.lo, e.hi) == pytest.approx(proportion_confint(7, 10, alpha=1 - level, method="wilson"), abs=1e-12)
    # Clustered: the CR1 interval at the level (hand formula), widened to Wilson's for 0/1 data.
    values = [0.2, 0.4, 0.9, 0.7, 0.1, 0.3, 0.8, 0.6]
    groups = ["a", "a", "b", "b", "c", "c", "d", "d"]
    mean = statistics.fmean(values)
    sums = [math.fsum(v - mean for v, g in zip(values, groups) if g == k) for k in "abcd"]
    se = math.sqrt(4 / 3 * math.fsum(s * s for s in sums)) / len(values)
    half = float(sps.t.ppf(1 - (1 - level) / 2, 3)) * se
    e = estimate(values, groups=groups, level=level)
    assert e.method == "cluster"
    assert (e.lo, e.hi) == pytest.approx((max(0.0, mean - half), min(1.0, mean + half)), abs=1e-12)
    clustered_binary = estimate(binary, groups=[i // 2 for i in range(10)], level=level)
    wlo, whi = proportion_confint(7, 10, alpha=1 - level, method="wilson")
    assert clustered_binary.lo <= wlo + 1e-12 and clustered_binary.hi >= whi - 1e-12


def test_estimate_clips_only_scores_in_the_unit_interval() -> None:
    e = estimate([0.5, 1.5, 1.2, 1.9])
    lo, hi = t_interval([0.5, 1.5, 1.2, 1.9])
    assert (e.lo, e.hi) == pytest.approx((lo, hi)) and e.hi > 1.0


# ------------------------------------------------------------ minimum detectable difference


def test_mde_continuous_with_a_mean_difference() -> None:
    a = [0.9, 0.7, 0.8, 0.95, 0.6, 0.85]
    b = [0.5, 0.6, 0.3, 0.55, 0.5, 0.45]
    diffs = [x - y for x, y in zip(a, b)]
    expected = (Z975 + Z80) * statistics.stdev(diffs) / math.sqrt(6)
    assert minimum_detectable_difference(a, b) == pytest.approx(expected, rel=1e-9)


def test_mde_two_cases_uses_their_spread() -> None:
    a, b = [0.2, 0.9], [0.1, 0.3]
    expected = (Z975 + Z80) * statistics.stdev([0.1, 0.6]) / math.sqrt(2)
    assert minimum_detectable_difference(a, b) == pytest.approx(expected, rel=1e-9)


def test_mde_binary_against_continuous_is_continuous() -> None:
    a, b = [1.0, 0.0, 1.0, 1.0], [0.5, 0.25, 0.75, 0.5]
    expected = (Z975 + Z80) * statistics.stdev([0.5, -0.25, 0.25, 0.5]) / 2
    assert minimum_detectable_difference(a, b) == pytest.approx(expected, rel=1e-9)
    cmp = paired_compare(a, b, n_resamples=100)
    assert cmp.method == "permutation_exact" and cmp.n_discordant is None


@pytest.mark.parametrize(("a", "scale"), [
    ([0.0, 0.5, 0.5], 1.0),      # scores in [0, 1], 0 included: the unit scale
    ([1.0, 0.5, 0.5], 1.0),      # 1 included
    ([0.25, 0.5, 0.5], 1.0),
    ([1.5, 2.0, 2.0], 0.5),      # outside [0, 1]: the observed range
    ([2.0, 4.0, 3.0], 2.0),
    ([-1.0, 1.0, 0.0], 2.0),
    ([3.0, 3.0, 3.0], 1.0),      # outside [0, 1] and no range: 1
])
def test_mde_floor_scale_when_nothing_differs(a: list[float], scale: float) -> None:
    # Floor: scale * sqrt(min(1, 3/n)); n = 3 gives scale itself.
    assert minimum_detectable_difference(a, list(a)) == pytest.approx((Z975 + Z80) * scale / math.sqrt(3), rel=1e-9)


def test_mde_floor_follows_the_rule_of_three() -> None:
    for n in (4, 12, 50):
        same = [1.0] * n
        assert minimum_detectable_difference(same, same) == pytest.approx((Z975 + Z80) * math.sqrt(3 / n) / math.sqrt(n))


def test_mde_single_case_outside_the_unit_interval() -> None:
    # One case: no spread to measure, the floor's scale is the observed range 3.
    assert minimum_detectable_difference([5.0], [2.0]) == pytest.approx((Z975 + Z80) * 3.0)


@pytest.mark.parametrize("binary", [True, False])
def test_paired_compare_reports_its_level_n_and_mde(binary: bool) -> None:
    rng = random.Random(8)
    if binary:
        a = [float(rng.random() < 0.7) for _ in range(40)]
        b = [float(rng.random() < 0.5) for _ in range(40)]
    else:
        a = [rng.random() for _ in range(40)]
        b = [rng.random() for _ in range(40)]
    cmp = paired_compare(a, b, level=0.8, n_resamples=300, seed=4)
    assert (cmp.level, cmp.n) == (0.8, 40)
    # mde at alpha = 1 - level = 0.2, power 0.8 (documented), by hand:
    diffs = [x - y for x, y in zip(a, b)]
    sd = math.sqrt(sum(1 for d in diffs if d) / 40) if binary else statistics.stdev(diffs)
    assert cmp.mde == pytest.approx((Z90 + Z80) * sd / math.sqrt(40), rel=1e-9)
    if not binary:  # the interval is the percentile bootstrap of the differences, same count and seed
        assert (cmp.lo, cmp.hi) == bootstrap_interval(diffs, 0.8, n_resamples=300, seed=4)


def test_bca_falls_back_to_the_t_interval_when_the_resamples_are_degenerate() -> None:
    # One resample: scipy's BCa has no bias correction to estimate and returns NaN limits.
    values = [0.1, 0.5, 0.9]
    with warnings.catch_warnings():  # scipy may warn about the degenerate distribution
        warnings.simplefilter("ignore")
        got = bca_interval(values, 0.8, n_resamples=1)
    assert got == pytest.approx(t_interval(values, 0.8))
    half = float(sps.t.ppf(0.9, 2)) * statistics.stdev(values) / math.sqrt(3)
    assert got == pytest.approx((0.5 - half, 0.5 + half))


def test_clustered_binary_scores_are_widened_to_wilson_at_the_level() -> None:
    # Every cluster agrees: the cluster interval has zero width, Wilson's at the level decides.
    e = estimate([1.0] * 10, groups=[i // 2 for i in range(10)], level=0.8)
    assert e.method == "cluster"
    assert (e.lo, e.hi) == pytest.approx(proportion_confint(10, 10, alpha=0.2, method="wilson"), abs=1e-12)


@pytest.mark.parametrize("ends", [(float("nan"), 0.8), (0.2, float("inf")), (float("-inf"), float("nan"))])
def test_bca_falls_back_to_the_t_interval_when_either_end_is_not_finite(monkeypatch, ends) -> None:
    # scipy gives a NaN or infinite end for degenerate resamples; which one it gives cannot be
    # steered from the data, so the bootstrap is replaced (pure logic: the fallback rule).
    import types

    from scipy import stats as real

    from pytest_llmselect import intervals as mod

    xs = [0.1, 0.4, 0.35, 0.9]
    ci = types.SimpleNamespace(confidence_interval=types.SimpleNamespace(low=ends[0], high=ends[1]))
    fake = types.SimpleNamespace(t=real.t, bootstrap=lambda *a, **k: ci)
    monkeypatch.setattr(mod, "_scipy_stats", lambda: fake)
    mean = sum(xs) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / 3)
    half = float(real.t.ppf(0.975, 3)) * sd / 2
    assert mod.bca_interval(xs, 0.95) == pytest.approx((mean - half, mean + half), rel=1e-12)
