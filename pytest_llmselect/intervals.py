"""Confidence intervals of one sample: of a mean (t, BCa and percentile bootstrap, Wilson
for proportions, cluster-robust for grouped cases), of a quantile (order statistics), and
``estimate``, which picks the interval that fits the data.

Pure and deterministic: every resampling is seeded (``random.Random(seed)``, numpy's
PCG64), so the same scores and seed give the same interval on every machine. Binary data
get score-based methods (Wilson); anything else gets t or resampling methods.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pytest_llmselect.descriptive import _is_binary, _mean, _quantile_sorted, sample_sd
from pytest_llmselect.distributions import _scipy_stats, normal_quantile, t_quantile
from pytest_llmselect.stats_arguments import _check_groups, _check_int, _check_prob, _fail, _floats

__all__ = [
    "Estimate", "bca_interval", "bootstrap_interval", "cluster_interval", "estimate", "quantile_interval",
    "t_interval", "wilson_interval",
]


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
