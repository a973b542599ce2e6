from __future__ import annotations

import itertools
import math
import random
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.stats import (
    Estimate,
    bootstrap_interval,
    cases_needed,
    cluster_interval,
    estimate,
    holm,
    minimum_detectable_difference,
    normal_quantile,
    paired_compare,
    t_quantile,
    wilson_interval,
)

# Textbook constants (standard normal table), independent of the code under test.
Z975 = 1.959963984540054
Z80 = 0.8416212335729143

bits = st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60)
unit_floats = st.floats(0.0, 1.0, allow_nan=False)
levels = st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99])


def phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# ------------------------------------------------------------------ quantiles


@pytest.mark.parametrize(
    ("p", "z"),
    [(0.975, 1.959963984540054), (0.95, 1.6448536269514722), (0.5, 0.0),
     (0.001, -3.090232306167813), (0.8, Z80), (1e-10, -6.361340902404056)],
)
def test_normal_quantile_table(p: float, z: float) -> None:
    assert normal_quantile(p) == pytest.approx(z, abs=1e-12)


@given(st.floats(1e-12, 1 - 1e-12))
def test_normal_quantile_inverts_cdf(p: float) -> None:
    assert phi(normal_quantile(p)) == pytest.approx(p, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, float("nan"), True])
def test_normal_quantile_domain(p: float) -> None:
    with pytest.raises(SpecError, match="`p`"):
        normal_quantile(p)


# Student t table, two-sided 95% (upper 0.975 quantile).
@pytest.mark.parametrize(
    ("df", "t"),
    [(1, 12.7062047362), (2, 4.3026527297), (3, 3.1824463053), (5, 2.5705818356),
     (10, 2.2281388520), (30, 2.0422724563), (100, 1.9839715185), (1000, 1.9623390808)],
)
def test_t_quantile_table(df: int, t: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(t, abs=1e-8)
    assert t_quantile(0.025, df) == pytest.approx(-t, abs=1e-8)


def test_t_quantile_other_levels() -> None:
    assert t_quantile(0.995, 4) == pytest.approx(4.604094871, abs=1e-8)
    assert t_quantile(0.95, 20) == pytest.approx(1.724718243, abs=1e-8)


@given(st.floats(0.51, 0.9999), st.integers(1, 400))
def test_t_heavier_than_normal_and_decreasing_in_df(p: float, df: int) -> None:
    assert t_quantile(p, df) >= normal_quantile(p) - 1e-12
    assert t_quantile(p, df + 1) <= t_quantile(p, df) + 1e-9


# -------------------------------------------------------------------- wilson


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634)],
)
def test_wilson_known_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=5e-5) and got[1] == pytest.approx(hi, abs=5e-5)


def test_wilson_empty_and_errors() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(SpecError, match="successes.*11"):
        wilson_interval(11, 10)
    with pytest.raises(SpecError, match="level.*1.5.*float"):
        wilson_interval(1, 10, 1.5)
    with pytest.raises(SpecError, match="n.*int"):
        wilson_interval(1, 10.0)  # type: ignore[arg-type]


@given(st.integers(1, 500), st.data())
def test_wilson_matches_textbook_formula(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    p = k / n
    centre = (p + Z975**2 / (2 * n)) / (1 + Z975**2 / n)
    half = Z975 / (1 + Z975**2 / n) * math.sqrt(p * (1 - p) / n + Z975**2 / (4 * n * n))
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert hi == pytest.approx(min(1.0, centre + half), abs=1e-12)
    assert 0.0 <= lo <= p <= hi <= 1.0


@given(st.integers(1, 200), st.data())
def test_wilson_wider_at_higher_level(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lo90, hi90 = wilson_interval(k, n, 0.9)
    lo99, hi99 = wilson_interval(k, n, 0.99)
    assert lo99 <= lo90 and hi90 <= hi99


# ----------------------------------------------------------------- bootstrap


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=40), st.integers(0, 2**32))
@settings(max_examples=40)
def test_bootstrap_deterministic_and_contains_mean(values: list[float], seed: int) -> None:
    a = bootstrap_interval(values, n_resamples=200, seed=seed)
    assert a == bootstrap_interval(values, n_resamples=200, seed=seed)
    mean = math.fsum(values) / len(values)
    ulps = 4 * math.ulp(max(abs(v) for v in values))  # fsum / n may round past equal data
    assert a[0] - ulps <= mean <= a[1] + ulps
    assert min(values) <= a[0] <= a[1] <= max(values)


def test_bootstrap_close_to_normal_theory() -> None:
    rng = random.Random(7)
    xs = [rng.gauss(10.0, 2.0) for _ in range(400)]
    lo, hi = bootstrap_interval(xs, seed=3)
    half = Z975 * statistics.stdev(xs) / math.sqrt(len(xs))
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_interval(xs, seed=4) != (lo, hi)


def test_bootstrap_constant_values() -> None:
    assert bootstrap_interval([0.25] * 5) == (0.25, 0.25)
    with pytest.raises(SpecError, match="values"):
        bootstrap_interval([])
    with pytest.raises(SpecError, match=r"values\[1\].*nan"):
        bootstrap_interval([0.1, float("nan")])


# ------------------------------------------------------------------- cluster


@given(st.lists(st.floats(-10, 10), min_size=3, max_size=30, unique=True), levels)
def test_cluster_with_singletons_is_the_t_interval(values: list[float], level: float) -> None:
    # One case per cluster: CR1 with G/(G-1) reduces to s/sqrt(n), t with n-1 df.
    lo, hi = cluster_interval(values, list(range(len(values))), level)
    n = len(values)
    half = t_quantile(1 - (1 - level) / 2, n - 1) * statistics.stdev(values) / math.sqrt(n)
    mean = statistics.fmean(values)
    assert lo == pytest.approx(mean - half, abs=1e-9) and hi == pytest.approx(mean + half, abs=1e-9)


@given(st.lists(st.floats(0, 1), min_size=2, max_size=20), st.integers(2, 6))
def test_cluster_duplicates_add_no_precision(values: list[float], copies: int) -> None:
    base = cluster_interval(values, list(range(len(values))))
    dup = [v for v in values for _ in range(copies)]
    groups = [i for i in range(len(values)) for _ in range(copies)]
    got = cluster_interval(dup, groups)
    assert got == pytest.approx(base, abs=1e-9)


def test_cluster_needs_two_groups() -> None:
    with pytest.raises(SpecError, match="groups"):
        cluster_interval([0.1, 0.2], ["a", "a"])
    with pytest.raises(SpecError, match="groups"):
        cluster_interval([0.1, 0.2], ["a"])


# ------------------------------------------------------------------ estimate


def test_estimate_picks_method() -> None:
    assert estimate([1, 0, 1, 1]).method == "wilson"
    assert estimate([0.5, 0.25, 1.0]).method == "t"
    assert estimate([0.5, 0.25, 1.0, 0.0], groups=["a", "a", "b", "b"]).method == "cluster"
    # Trivial clustering (every case alone, or one cluster) falls back.
    assert estimate([1, 0, 1], groups=[1, 2, 3]).method == "wilson"
    assert estimate([0.5, 0.2], groups=["x", "x"]).method == "t"


def test_estimate_wilson_values() -> None:
    e = estimate([1.0] * 8 + [0.0] * 2)
    assert isinstance(e, Estimate)
    assert (e.mean, e.n, e.level) == (0.8, 10, 0.95)
    assert (e.lo, e.hi) == pytest.approx((0.4902, 0.9433), abs=5e-5)


def test_estimate_binary_clusters_no_narrower_than_wilson() -> None:
    values = [1.0] * 10
    e = estimate(values, groups=[i // 2 for i in range(10)])
    assert e.method == "cluster"
    assert e.lo <= wilson_interval(10, 10)[0] and e.hi == 1.0


@given(st.lists(unit_floats, min_size=1, max_size=40), st.data())
@settings(max_examples=60)
def test_estimate_contains_mean_and_is_clipped(values: list[float], data: st.DataObject) -> None:
    groups = data.draw(st.none() | st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values)))
    e = estimate(values, groups=groups, seed=1)
    assert 0.0 <= e.lo <= e.mean <= e.hi <= 1.0
    assert e.mean == pytest.approx(statistics.fmean(values))


def test_estimate_errors() -> None:
    with pytest.raises(SpecError, match="values"):
        estimate([])
    with pytest.raises(SpecError, match="groups"):
        estimate([0.1, 0.2], groups=["a"])
    with pytest.raises(SpecError, match="values"):
        estimate("0101")  # type: ignore[arg-type]


# ------------------------------------------------------ paired comparisons


def binomial_two_sided(k: int, n: int) -> float:
    tail = sum(Fraction(math.comb(n, i), 2**n) for i in range(min(k, n - k) + 1))
    return float(min(Fraction(1), 2 * tail))


def paired_binary(n11: int, n10: int, n01: int, n00: int) -> tuple[list[float], list[float]]:
    a = [1.0] * n11 + [1.0] * n10 + [0.0] * n01 + [0.0] * n00
    b = [1.0] * n11 + [0.0] * n10 + [1.0] * n01 + [0.0] * n00
    return a, b


def test_mcnemar_textbook() -> None:
    # 12 vs 3 discordant pairs: p = 2 * P(Bin(15, 1/2) <= 3) = 2 * 576 / 32768.
    a, b = paired_binary(20, 12, 3, 5)
    cmp = paired_compare(a, b)
    assert cmp.method == "mcnemar_exact"
    assert cmp.p_value == pytest.approx(2 * 576 / 32768, rel=1e-12)
    assert cmp.n_discordant == 15 and cmp.n == 40
    assert cmp.diff == pytest.approx(9 / 40)


@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
@settings(max_examples=60)
def test_mcnemar_matches_binomial(n11: int, n10: int, n01: int, n00: int) -> None:
    if n11 + n10 + n01 + n00 == 0:
        return
    a, b = paired_binary(n11, n10, n01, n00)
    cmp = paired_compare(a, b)
    nd = n10 + n01
    expected = 1.0 if nd == 0 else binomial_two_sided(min(n10, n01), nd)
    assert cmp.p_value == pytest.approx(expected, rel=1e-12)
    assert -1.0 <= cmp.lo <= cmp.diff <= cmp.hi <= 1.0
    assert cmp.diff == pytest.approx((n10 - n01) / len(a))


def test_mcnemar_large_counts_use_stable_path() -> None:
    # Beyond 5000 discordant pairs the code sums in log space; compare with exact integers.
    a, b = paired_binary(0, 2620, 2500, 0)
    exact = 2 * sum(math.comb(5120, i) for i in range(2501)) / 2**5120
    assert paired_compare(a, b).p_value == pytest.approx(exact, rel=1e-9)


def independent_newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    # Newcombe (1998a) method 10 for independent samples, from Wilson limits.
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1)
    l2, u2 = wilson_interval(x2, n2)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def test_newcombe_helper_against_textbook() -> None:
    # Newcombe (1998a) / Altman et al., Statistics with Confidence: 56/70 vs 48/80.
    lo, hi = independent_newcombe(56, 70, 48, 80)
    assert (lo, hi) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_paired_interval_reduces_to_independent_when_uncorrelated() -> None:
    # a/d == b/c gives phi = 0: Newcombe's paired method 10 equals the unpaired one.
    a, b = paired_binary(30, 30, 20, 20)
    cmp = paired_compare(a, b)
    assert (cmp.lo, cmp.hi) == pytest.approx(independent_newcombe(60, 100, 50, 100), abs=1e-12)


def test_paired_interval_narrower_with_positive_correlation() -> None:
    a, b = paired_binary(45, 15, 5, 35)  # same margins as the uncorrelated case's 60/50 split
    assert (a.count(1.0), b.count(1.0)) == (60, 50)
    cmp = paired_compare(a, b)
    lo, hi = independent_newcombe(60, 100, 50, 100)
    assert cmp.hi - cmp.lo < hi - lo


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=9), st.data())
@settings(max_examples=40)
def test_sign_flip_exact_matches_brute_force(diffs: list[float], data: st.DataObject) -> None:
    b = data.draw(st.lists(unit_floats.filter(lambda x: 0 < x < 1), min_size=len(diffs), max_size=len(diffs)))
    a = [x + d for x, d in zip(b, diffs)]
    observed = abs(math.fsum(x - y for x, y in zip(a, b)))
    real = [x - y for x, y in zip(a, b)]
    scale = math.fsum(abs(d) for d in real)
    hits = sum(
        1
        for signs in itertools.product((1, -1), repeat=len(real))
        if abs(math.fsum(s * d for s, d in zip(signs, real))) >= observed - 1e-9 * scale
    )
    cmp = paired_compare(a, b, n_resamples=100)
    assert cmp.method == "permutation_exact"
    assert cmp.p_value == pytest.approx(hits / 2 ** len(real))
    assert cmp.n_discordant is None
    assert cmp.lo <= cmp.diff <= cmp.hi


def test_sign_flip_monte_carlo() -> None:
    rng = random.Random(11)
    b = [rng.random() for _ in range(60)]
    a = [x + 0.3 + rng.gauss(0, 0.1) for x in b]
    first = paired_compare(a, b, seed=5, n_resamples=500)
    assert first == paired_compare(a, b, seed=5, n_resamples=500)
    assert first.method == "permutation_mc"
    assert first.p_value == pytest.approx(1 / 501)  # no flip reaches the observed sum
    null = paired_compare(b, [x + rng.gauss(0, 0.1) for x in b], seed=5, n_resamples=500)
    assert null.p_value > 0.01


def test_paired_compare_errors() -> None:
    with pytest.raises(SpecError, match="`b`.*3"):
        paired_compare([1, 0, 1], [1, 0])
    with pytest.raises(SpecError, match="`a`"):
        paired_compare([], [])
    with pytest.raises(SpecError, match="level"):
        paired_compare([1.0], [0.0], level=0.0)


# ---------------------------------------------------------------------- holm


def test_holm_textbook() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []
    assert holm([0.5, 0.9]) == [1.0, 1.0]


@given(st.lists(st.floats(0, 1), max_size=12))
def test_holm_properties(ps: list[float]) -> None:
    adj = holm(ps)
    m = len(ps)
    assert all(p <= q <= 1.0 for p, q in zip(ps, adj))
    order = sorted(range(m), key=lambda i: ps[i])
    sorted_adj = [adj[i] for i in order]
    assert sorted_adj == sorted(sorted_adj)
    # Definition: max over the smaller-or-equal p's of min(1, (m - rank) * p).
    for i in range(m):
        rank_i = order.index(i)
        expect = max(min(1.0, (m - r) * ps[order[r]]) for r in range(rank_i + 1))
        assert adj[i] == pytest.approx(expect)


def test_holm_rejects_bad_p() -> None:
    with pytest.raises(SpecError, match=r"p_values\[1\].*1.5"):
        holm([0.1, 1.5])


# ------------------------------------------------------------ power, sizes


def test_mde_continuous_formula() -> None:
    diffs = [1.0, -1.0] * 50  # sample sd = sqrt(100/99)
    b = [5.0] * 100
    a = [x + d for x, d in zip(b, diffs)]
    sd = math.sqrt(100 / 99)
    assert minimum_detectable_difference(a, b) == pytest.approx((Z975 + Z80) * sd / 10, rel=1e-9)


def test_mde_binary_uses_discordant_proportion() -> None:
    a, b = paired_binary(50, 10, 15, 25)
    expected = (Z975 + Z80) * math.sqrt(25 / 100) / math.sqrt(100)
    assert minimum_detectable_difference(a, b) == pytest.approx(expected, rel=1e-9)
    assert paired_compare(a, b).mde == pytest.approx(expected, rel=1e-9)


@given(st.integers(1, 2000))
def test_mde_floor_when_nothing_differs(n: int) -> None:
    same = [1.0] * n
    mde = minimum_detectable_difference(same, same)
    assert 0 < mde <= (Z975 + Z80) * (1 + 1e-12)
    assert minimum_detectable_difference([1.0] * (n + 1), [1.0] * (n + 1)) < mde


def test_cases_needed_textbook() -> None:
    # n = (z_{.975} + z_{.8})^2 sd^2 / margin^2 = 7.85 -> 8 when sd == margin.
    assert cases_needed(1.0, 1.0) == 8
    assert cases_needed(10.0, 5.0) == 32
    assert cases_needed(0.0, 0.1) == 1
    assert cases_needed(1.0, 1.0, alpha=0.01, power=0.9) == math.ceil((2.5758293035489 + 1.2815515655446) ** 2)
    with pytest.raises(SpecError, match="margin.*0"):
        cases_needed(1.0, 0.0)
    with pytest.raises(SpecError, match="sd_diff.*-1"):
        cases_needed(-1.0, 0.1)


@given(st.integers(2, 100_000), st.floats(0.01, 100))
def test_cases_needed_inverts_mde_formula(n: int, sd: float) -> None:
    margin = (Z975 + Z80) * sd / math.sqrt(n)
    assert cases_needed(sd, margin) == n


# ------------------------------------------------------- small-n intervals (t, BCa)


def test_t_interval_matches_scipy_and_the_textbook_formula() -> None:
    from pytest_llmselect.stats import t_interval

    values = [0.2, 0.9, 0.4, 0.65, 0.3]
    lo, hi = t_interval(values, 0.95)
    half = 2.7764451051977987 * statistics.stdev(values) / math.sqrt(5)  # t_{0.975, 4}
    assert (lo, hi) == pytest.approx((statistics.fmean(values) - half, statistics.fmean(values) + half))
    assert t_interval([0.3, 0.3, 0.3]) == (0.3, 0.3)


@given(st.lists(st.floats(0, 1), min_size=3, max_size=30), levels)
def test_estimate_of_continuous_scores_is_the_clipped_t_interval(values: list[float], level: float) -> None:
    from pytest_llmselect.stats import t_interval

    if all(v in (0.0, 1.0) for v in values):
        return
    e = estimate(values, level=level)
    lo, hi = t_interval(values, level)
    assert e.method == "t"
    assert e.lo == pytest.approx(max(0.0, min(lo, e.mean)), abs=1e-12)
    assert e.hi == pytest.approx(min(1.0, max(hi, e.mean)), abs=1e-12)


def test_bca_interval_is_seeded_and_contains_the_mean() -> None:
    from pytest_llmselect.stats import bca_interval

    values = [0.1, 0.5, 0.52, 0.9, 0.33, 0.71, 0.05, 0.6]
    first = bca_interval(values, seed=4)
    assert first == bca_interval(values, seed=4)
    assert first[0] < statistics.fmean(values) < first[1]
    assert bca_interval([0.4, 0.4]) == (0.4, 0.4)
