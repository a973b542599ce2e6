"""Confidence intervals and paired comparisons for per-case scores.

Pure and deterministic: scipy for distributions and the BCa bootstrap, every
resampling seeded (``random.Random(seed)``, numpy's PCG64), so the same scores
and seed give the same interval on every machine.

Binary data: a score sequence is *binary* when every value is exactly 0 or 1
(``True``/``False`` count). Binary data get exact or score-based methods
(Wilson, exact McNemar, Newcombe); anything else gets resampling methods.
"""

from __future__ import annotations

import math
import numbers
import random
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from statistics import NormalDist

from pytest_llmselect.errors import SpecError

__all__ = [
    "Estimate", "PairedComparison", "bootstrap_interval", "cases_needed", "cluster_interval",
    "estimate", "holm", "minimum_detectable_difference", "normal_quantile", "paired_compare",
    "bca_interval", "quantile_interval", "sample_sd", "t_interval", "t_quantile", "wilson_interval",
]

# Exact enumeration of sign flips up to 2**16 patterns (about 10 ms).
_EXACT_SIGN_FLIP_MAX = 16


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _fail(fn: str, arg: str, value: object, must: str) -> SpecError:
    return SpecError(f"{fn}: `{arg}` must be {must}, got {_describe(value)}")


def _check_prob(value: object, fn: str, arg: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise _fail(fn, arg, value, "a number strictly between 0 and 1")
    return float(value)


def _check_non_negative(value: object, fn: str, arg: str, *, strict: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not (value > 0 if strict else value >= 0)
    ):
        raise _fail(fn, arg, value, f"a finite number {'>' if strict else '>='} 0")
    return float(value)


def _check_int(value: object, fn: str, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _fail(fn, arg, value, f"an int >= {minimum}")
    return int(value)


def _floats(values: object, fn: str, arg: str, *, nonempty: bool = True) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _fail(fn, arg, values, "a sequence of finite numbers")
    out = []
    for x in values:
        if not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
            raise _fail(fn, f"{arg}[{len(out)}]", x, "a finite number")
        out.append(float(x))
    if nonempty and not out:
        raise _fail(fn, arg, values, "non-empty")
    return out


def _is_binary(xs: Sequence[float]) -> bool:
    return all(x == 0.0 or x == 1.0 for x in xs)


def _mean(xs: Sequence[float]) -> float:
    # fsum(xs) / n can land an ulp outside the data (e.g. five equal values).
    return min(max(math.fsum(xs) / len(xs), min(xs)), max(xs))


# Outside these magnitudes a squared deviation can overflow a float (the float maximum's square
# root is ~1.3e154) or underflow to 0 (the smallest normal float's is ~1.5e-154).
_SQUARE_SAFE = (1e-150, 1e150)


def sample_sd(xs: Sequence[float], mean: float | None = None) -> float:
    """Sample standard deviation of finite ``xs`` (at least two values), ``n - 1`` denominator:
    ``sqrt(sum((x - mean)**2) / (n - 1))``, ``mean`` defaulting to the values' mean.

    When the largest magnitude is above 1e150 or below 1e-150 the values are scaled by it
    before squaring, so no finite input raises ``OverflowError`` or loses its spread to
    underflow (an SD beyond the float maximum comes back as ``inf``).
    """
    n = len(xs)
    big = max(abs(x) for x in xs)
    if big > 0.0 and not _SQUARE_SAFE[0] <= big <= _SQUARE_SAFE[1]:
        scaled = [x / big for x in xs]
        centre = (mean / big) if mean is not None else math.fsum(scaled) / n
        return big * math.sqrt(math.fsum((x - centre) ** 2 for x in scaled) / (n - 1))
    centre = mean if mean is not None else math.fsum(xs) / n
    return math.sqrt(math.fsum((x - centre) ** 2 for x in xs) / (n - 1))


def _quantile_sorted(xs: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    h = (len(xs) - 1) * q
    i = math.floor(h)
    if i + 1 >= len(xs):
        return xs[-1]
    return xs[i] + (h - i) * (xs[i + 1] - xs[i])


def _scipy_stats():  # type: ignore[no-untyped-def]
    # Imported on first use: the gate plugin imports this module at every pytest start.
    from scipy import stats

    return stats


def normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF; ``p`` strictly in (0, 1).

    The standard library's ``NormalDist.inv_cdf`` (Wichura 1988, algorithm AS 241, about 16
    digits; within 4e-15 of ``scipy.stats.norm.ppf`` over (1e-12, 1 - 1e-12)): a one-candidate
    report needs only this quantile, and ``scipy.stats`` costs most of a second to import."""
    p = _check_prob(p, "normal_quantile", "p")
    return NormalDist().inv_cdf(p)


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with integer ``df >= 1`` (``scipy.stats.t.ppf``)."""
    p = _check_prob(p, "t_quantile", "p")
    df = _check_int(df, "t_quantile", "df", 1)
    return float(_scipy_stats().t.ppf(p, df))


def quantile_interval(values: Sequence[float], q: float, level: float = 0.95) -> tuple[float | None, float | None]:
    """Distribution-free interval for the ``q``-quantile of the population ``values`` are
    independent draws from (e.g. latencies of single requests): ``[x_(r), x_(s)]`` of the sorted
    values, with ``B ~ Binomial(n, q)``, ``r`` the largest rank with ``P(B <= r - 1) <= a`` and
    ``s`` the smallest with ``P(B >= s) <= a``, ``a = (1 - level) / 2``; each side then holds
    with probability at least ``1 - a`` for any continuous distribution (Conover 1999,
    *Practical Nonparametric Statistics*, 3rd ed., section 3.2; the interval
    ``scipy.stats.quantile_test(...).confidence_interval`` gives, which the tests compare).

    An end no order statistic reaches (too few values for that quantile at that level: under
    six values for either end of a median at 95%, under 72 for the upper end of a p95) is
    None. Binomial
    probabilities are summed in log space with ``math.lgamma`` rather than through
    ``scipy.stats``, whose import (about 0.6 s) a served-only run otherwise never pays.
    Raises ``SpecError`` for empty or non-finite ``values`` or ``q``/``level`` outside (0, 1).
    """
    xs = sorted(_floats(values, "quantile_interval", "values"))
    q = _check_prob(q, "quantile_interval", "q")
    level = _check_prob(level, "quantile_interval", "level")
    n, tail = len(xs), (1.0 - level) / 2.0
    log_q, log_rest, log_n = math.log(q), math.log1p(-q), math.lgamma(n + 1)
    pmf = [math.exp(log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_q + (n - i) * log_rest)
           for i in range(n + 1)]
    lo = hi = None
    below = 0.0
    for rank in range(1, n + 1):  # P(B <= rank - 1): the chance that x_(rank) is above the quantile
        below += pmf[rank - 1]
        if below > tail:
            break
        lo = xs[rank - 1]
    above = 0.0
    for rank in range(n, 0, -1):  # P(B >= rank): the chance that x_(rank) is below the quantile
        above += pmf[rank]
        if above > tail:
            break
        hi = xs[rank - 1]
    return lo, hi


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student t interval of the mean, ``mean -/+ t_{n-1} * sd / sqrt(n)``.

    Chosen for non-binary scores by measured coverage of the zoo's token-F1 means
    (benchmarks/bench_calibration.py, 200 subsamples x 4 candidates): 89.6% at 10 cases
    against 87.9% for BCa and 85.9% for the percentile bootstrap the report used before,
    about 95% for t and BCa at 20. The bootstrap's spread uses the plug-in variance (low by
    a factor (n-1)/n) and a normal-like quantile; t corrects both. Bowyer, Aitchison &
    Ivanova (2025), "Position: Don't use the CLT in LLM evals with fewer than a few hundred
    datapoints" (ICML), document how intervals built on large-sample approximations
    under-cover at small n (and recommend Wilson-type intervals for 0/1 scores, which
    ``estimate`` uses). One value, or all values equal: the single point.
    """
    xs = _floats(values, "t_interval", "values")
    level = _check_prob(level, "t_interval", "level")
    n, mean = len(xs), _mean(xs)
    if n < 2 or min(xs) == max(xs):
        return (mean, mean)
    sd = sample_sd(xs, mean)
    half = float(_scipy_stats().t.ppf(0.5 + level / 2.0, n - 1)) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def bca_interval(
    values: Sequence[float], level: float = 0.95, *, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bias-corrected and accelerated bootstrap interval of the mean (Efron 1987), by
    ``scipy.stats.bootstrap(method="BCa")``; deterministic for a given ``seed``."""
    xs = _floats(values, "bca_interval", "values")
    level = _check_prob(level, "bca_interval", "level")
    mean = _mean(xs)
    if len(xs) < 2 or min(xs) == max(xs):
        return (mean, mean)
    import numpy as np

    res = _scipy_stats().bootstrap((np.asarray(xs),), np.mean, confidence_level=level, n_resamples=n_resamples,
                        method="BCa", rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # degenerate resamples: fall back to t
        return t_interval(xs, level)
    return (min(lo, mean), max(hi, mean))


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``n == 0`` gives (0.0, 1.0)."""
    n = _check_int(n, "wilson_interval", "n", 0)
    successes = _check_int(successes, "wilson_interval", "successes", 0)
    if successes > n:
        raise _fail("wilson_interval", "successes", successes, f"<= n ({n})")
    level = _check_prob(level, "wilson_interval", "level")
    if n == 0:
        return (0.0, 1.0)
    z = normal_quantile(1.0 - (1.0 - level) / 2.0)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    lo = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if successes == n else min(1.0, max(p, centre + half))
    return (lo, hi)


def bootstrap_interval(
    values: Sequence[float], level: float = 0.95, *, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, widened if need be to contain it.

    Deterministic for a given ``seed``: resamples are drawn with
    ``random.Random(seed).choices``.
    """
    xs = _floats(values, "bootstrap_interval", "values")
    level = _check_prob(level, "bootstrap_interval", "level")
    n_resamples = _check_int(n_resamples, "bootstrap_interval", "n_resamples", 1)
    seed = _check_int(seed, "bootstrap_interval", "seed", 0)
    n, mean = len(xs), _mean(xs)
    if min(xs) == max(xs):
        return (mean, mean)
    rng = random.Random(seed)
    means = sorted(math.fsum(rng.choices(xs, k=n)) / n for _ in range(n_resamples))
    tail = (1.0 - level) / 2.0
    # Rounding can push a resample mean an ulp past the data; keep it inside.
    lo = max(min(xs), _quantile_sorted(means, tail))
    hi = min(max(xs), _quantile_sorted(means, 1.0 - tail))
    return (min(mean, lo), max(mean, hi))


def _check_groups(groups: object, n: int, fn: str) -> list[Hashable]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
        raise _fail(fn, "groups", groups, "a sequence of hashable labels")
    gs = list(groups)
    if len(gs) != n:
        raise _fail(fn, "groups", groups, f"as long as `values` ({n})")
    if not all(isinstance(g, Hashable) for g in gs):
        raise _fail(fn, "groups", groups, "hashable labels")
    return gs


def cluster_interval(
    values: Sequence[float], groups: Sequence[Hashable], level: float = 0.95
) -> tuple[float, float]:
    """Interval for the mean with a cluster-robust (CR1) standard error.

    ``se**2 = G/(G-1) * sum_g (sum_{i in g} (x_i - mean))**2 / n**2``, the
    sandwich variance of an intercept-only regression with the small-sample
    factor G/(G-1); the quantile is Student's t with G-1 degrees of freedom
    (as Stata does), so few clusters give honestly wide intervals. Needs at
    least 2 distinct groups.
    """
    xs = _floats(values, "cluster_interval", "values", nonempty=False)
    gs = _check_groups(groups, len(xs), "cluster_interval")
    level = _check_prob(level, "cluster_interval", "level")
    residual_sums: dict[Hashable, list[float]] = {}
    mean = _mean(xs) if xs else 0.0
    for x, g in zip(xs, gs):
        residual_sums.setdefault(g, []).append(x - mean)
    n_groups = len(residual_sums)
    if n_groups < 2:
        raise _fail("cluster_interval", "groups", groups, "at least 2 distinct labels")
    scores = [math.fsum(r) ** 2 for r in residual_sums.values()]
    se = math.sqrt(n_groups / (n_groups - 1) * math.fsum(scores)) / len(xs)
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n_groups - 1) * se
    return (mean - half, mean + half)


@dataclass(frozen=True)
class Estimate:
    """A mean score with its confidence interval; ``method`` names how it was made."""

    mean: float
    lo: float
    hi: float
    n: int
    level: float
    method: str  # "wilson" | "t" | "cluster"


def estimate(
    values: Sequence[float], *, groups: Sequence[Hashable] | None = None,
    level: float = 0.95, seed: int = 0,
) -> Estimate:
    """Mean of ``values`` with the interval that fits the data.

    - ``groups`` with >= 2 distinct labels and at least one label used twice:
      ``cluster_interval``, widened to contain the interval without groups too
      (Wilson for binary values, else t): clustering rarely makes a mean *more*
      precise, and with few groups whose means happen to agree the cluster-robust
      standard error is near 0 (two groups of mean 0.75 over scores 0 to 3 gave
      a zero-width interval). Taking the larger of the clustered and the
      unclustered error is the usual conservative rule (Angrist & Pischke 2009,
      *Mostly Harmless Econometrics*, section 8.2).
    - else binary values: ``wilson_interval``.
    - else: ``t_interval`` (see there why not a bootstrap).

    The interval always contains the mean, and is clipped to [0, 1] when every
    value lies in [0, 1].
    """
    xs = _floats(values, "estimate", "values")
    level = _check_prob(level, "estimate", "level")
    n, mean, binary = len(xs), _mean(xs), _is_binary(xs)
    gs = None if groups is None else _check_groups(groups, n, "estimate")
    if gs is not None and 2 <= len(Counter(gs)) < n:
        lo, hi = cluster_interval(xs, gs, level)
        method = "cluster"
        plain_lo, plain_hi = wilson_interval(round(math.fsum(xs)), n, level) if binary else t_interval(xs, level)
        lo, hi = min(lo, plain_lo), max(hi, plain_hi)
    elif binary:
        lo, hi = wilson_interval(round(math.fsum(xs)), n, level)
        method = "wilson"
    else:
        lo, hi = t_interval(xs, level)
        method = "t"
    lo, hi = min(lo, mean), max(hi, mean)
    if all(0.0 <= x <= 1.0 for x in xs):
        lo, hi = max(0.0, lo), min(1.0, hi)
    return Estimate(mean=mean, lo=lo, hi=hi, n=n, level=level, method=method)



@dataclass(frozen=True)
class PairedComparison:
    """``a`` versus ``b`` on the same cases.

    ``diff = mean(a) - mean(b)`` with interval [lo, hi] at ``level``;
    ``p_value`` of the two-sided test of no difference; ``method`` is
    "mcnemar_exact" (binary; interval: Newcombe's method 10),
    "permutation_exact" or "permutation_mc" (continuous; interval: paired
    bootstrap). ``n_discordant`` is set for binary data only. ``mde``: see
    ``minimum_detectable_difference`` (alpha = 1 - level, power 0.8).
    """

    diff: float
    lo: float
    hi: float
    p_value: float
    n: int
    method: str
    n_discordant: int | None
    mde: float
    level: float = 0.95


def _binomial_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2) and k <= n/2."""
    if n <= 5000:
        # Exact integers; int / int is correctly rounded even for huge values.
        return sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    log_terms = []
    log_norm = math.lgamma(n + 1) - n * math.log(2.0)
    for i in range(k, -1, -1):  # terms shrink away from the mode
        log_terms.append(log_norm - math.lgamma(i + 1) - math.lgamma(n - i + 1))
        if log_terms[-1] < log_terms[0] - 50.0:
            break
    top = log_terms[0]
    return math.exp(top) * math.fsum(math.exp(t - top) for t in log_terms)


def _newcombe_paired(n11: int, n10: int, n01: int, n00: int, level: float) -> tuple[float, float]:
    """Newcombe (1998, Stat Med 17:2635) method 10: Wilson limits for each
    margin combined with the phi correlation of the paired 2x2 table, with Newcombe's
    continuity correction of phi's numerator A = n11*n00 - n10*n01: A - n/2 when
    A > n/2, 0 when 0 <= A <= n/2 (without it two identical runs give [0, 0])."""
    n = n11 + n10 + n01 + n00
    p1, p2 = (n11 + n10) / n, (n11 + n01) / n
    l1, u1 = wilson_interval(n11 + n10, n, level)
    l2, u2 = wilson_interval(n11 + n01, n, level)
    denom = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    a = n11 * n00 - n10 * n01
    a = max(0.0, a - n / 2.0) if a >= 0 else float(a)
    phi = a / math.sqrt(denom) if denom > 0 else 0.0
    d = p1 - p2
    down = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    up = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    return (max(-1.0, d - math.sqrt(max(0.0, down))), min(1.0, d + math.sqrt(max(0.0, up))))


def _sign_flip_p(diffs: Sequence[float], n_resamples: int, seed: int) -> tuple[float, str]:
    """Two-sided sign-flip permutation p-value for mean(diffs) == 0.

    Zero differences cannot change the statistic, so only the m non-zero ones
    are flipped: all 2**m patterns when m <= 16 (exact), else ``n_resamples``
    random patterns with the (hits + 1) / (n_resamples + 1) estimate, which
    never reports 0.
    """
    nz = [x for x in diffs if x != 0.0]
    m = len(nz)
    if m == 0:
        return 1.0, "permutation_exact"
    observed = abs(math.fsum(nz))
    # Patterns whose sum equals the observed one up to rounding count as ties.
    cutoff = observed - 1e-9 * math.fsum(abs(x) for x in nz)
    if m <= _EXACT_SIGN_FLIP_MAX:
        sums = [0.0]
        for x in nz:
            sums = [s + x for s in sums] + [s - x for s in sums]
        return sum(1 for s in sums if abs(s) >= cutoff) / len(sums), "permutation_exact"
    rng = random.Random(seed)
    total = math.fsum(nz)
    to_selector = bytes.maketrans(b"01", b"\x00\x01")
    hits = 0
    for _ in range(n_resamples):
        pattern = format(rng.getrandbits(m), f"0{m}b").encode().translate(to_selector)
        if abs(total - 2.0 * math.fsum(compress(nz, pattern))) >= cutoff:
            hits += 1
    return (hits + 1) / (n_resamples + 1), "permutation_mc"


def _paired(a: object, b: object, fn: str) -> tuple[list[float], list[float]]:
    xa, xb = _floats(a, fn, "a"), _floats(b, fn, "b", nonempty=False)
    if len(xa) != len(xb):
        raise _fail(fn, "b", b, f"as long as `a` ({len(xa)} values), has {len(xb)}")
    return xa, xb


def paired_compare(
    a: Sequence[float], b: Sequence[float], *,
    level: float = 0.95, seed: int = 0, n_resamples: int = 2000,
) -> PairedComparison:
    """Compare two candidates scored on the same cases, in the same order.

    Binary (both a and b 0/1): the McNemar test is always the *exact*
    two-sided binomial test on the discordant pairs (valid at every count, and
    cheap), with Newcombe's method-10 interval for the difference.
    Otherwise: sign-flip permutation test of the paired differences (exact
    when at most 16 differences are non-zero) and a paired percentile
    bootstrap interval; both seeded.
    """
    fn = "paired_compare"
    xa, xb = _paired(a, b, fn)
    level = _check_prob(level, fn, "level")
    seed = _check_int(seed, fn, "seed", 0)
    n_resamples = _check_int(n_resamples, fn, "n_resamples", 1)
    n = len(xa)
    diffs = [x - y for x, y in zip(xa, xb)]
    diff = math.fsum(diffs) / n
    mde = minimum_detectable_difference(xa, xb, alpha=1.0 - level, power=0.8)
    if _is_binary(xa) and _is_binary(xb):
        n10 = sum(1 for d in diffs if d > 0)
        n01 = sum(1 for d in diffs if d < 0)
        n11 = sum(1 for x, y in zip(xa, xb) if x == 1.0 and y == 1.0)
        lo, hi = _newcombe_paired(n11, n10, n01, n - n11 - n10 - n01, level)
        # Exact two-sided binomial test on the discordant pairs.
        p_value = min(1.0, 2.0 * _binomial_half_cdf(min(n10, n01), n10 + n01))
        return PairedComparison(diff, min(lo, diff), max(hi, diff), p_value, n,
                                "mcnemar_exact", n10 + n01, mde, level)
    p_value, method = _sign_flip_p(diffs, n_resamples, seed)
    lo, hi = bootstrap_interval(diffs, level, n_resamples=n_resamples, seed=seed)
    return PairedComparison(diff, lo, hi, p_value, n, method, None, mde, level)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    The k-th smallest p (k from 0) is multiplied by m - k, capped at 1, and
    made non-decreasing along the sorted order; equal p-values keep their
    input order, which does not change their adjusted values.
    """
    ps = _floats(p_values, "holm", "p_values", nonempty=False)
    for i, p in enumerate(ps):
        if not 0.0 <= p <= 1.0:
            raise _fail("holm", f"p_values[{i}]", p, "in [0, 1]")
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=ps.__getitem__)):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def minimum_detectable_difference(
    a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest paired mean difference a two-sided test at ``alpha`` would
    detect with probability ``power``: ``(z_{1-alpha/2} + z_power) * sd / sqrt(n)``.

    ``sd`` is the sample SD of the differences a - b; for binary a and b it is
    ``sqrt(discordant pairs / n)``, the SD of a difference under no effect
    (McNemar). When ``sd`` is 0 (no case differs) the floor
    ``scale * sqrt(min(1, 3/n))`` is used: by the rule of three, up to 3/n of
    cases could differ unseen; ``scale`` is 1 for scores in [0, 1] and the
    observed range of a and b otherwise (1 if that is 0 too).
    """
    fn = "minimum_detectable_difference"
    xa, xb = _paired(a, b, fn)
    alpha = _check_prob(alpha, fn, "alpha")
    power = _check_prob(power, fn, "power")
    n = len(xa)
    diffs = [x - y for x, y in zip(xa, xb)]
    if _is_binary(xa) and _is_binary(xb):
        sd = math.sqrt(sum(1 for d in diffs if d != 0.0) / n)
    elif n >= 2:
        mean = math.fsum(diffs) / n
        sd = sample_sd(diffs, mean)
    else:
        sd = 0.0
    if sd == 0.0:
        pooled = xa + xb
        in_unit = all(0.0 <= x <= 1.0 for x in pooled)
        scale = 1.0 if in_unit else (max(pooled) - min(pooled)) or 1.0
        sd = scale * math.sqrt(min(1.0, 3.0 / n))
    z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)
    return z * sd / math.sqrt(n)


def cases_needed(sd_diff: float, margin: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Paired cases needed to detect a mean difference of ``margin`` (two-sided
    test at ``alpha``, given ``power``) when differences have SD ``sd_diff``:
    ``ceil(((z_{1-alpha/2} + z_power) * sd_diff / margin) ** 2)``, at least 1.
    A 1e-9 slack keeps float noise on an exact integer from adding a case.
    """
    fn = "cases_needed"
    sd_diff = _check_non_negative(sd_diff, fn, "sd_diff")
    margin = _check_non_negative(margin, fn, "margin", strict=True)
    alpha = _check_prob(alpha, fn, "alpha")
    power = _check_prob(power, fn, "power")
    z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)
    ratio = z * sd_diff / margin
    need = ratio * ratio  # inf, never OverflowError, when the ratio is past 1.3e154
    if not math.isfinite(need):
        raise SpecError(f"{fn}: sd_diff / margin = {sd_diff!r} / {margin!r} needs more cases than a float can count")
    return max(1, math.ceil(need - 1e-9))
