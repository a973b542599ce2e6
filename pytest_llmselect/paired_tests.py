"""Paired tests: two candidates scored on the same cases, compared case by case, and
Holm's adjustment of several such tests' p-values.

Binary data (every score 0 or 1) get the exact McNemar test with Newcombe's interval;
anything else a sign-flip permutation test with a paired bootstrap interval. Every
resampling is seeded, so the same scores and seed give the same result on every machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

from pytest_llmselect.descriptive import _is_binary
from pytest_llmselect.intervals import bootstrap_interval, wilson_interval
from pytest_llmselect.power import minimum_detectable_difference
from pytest_llmselect.stats_arguments import _check_int, _check_prob, _fail, _floats, _paired

__all__ = ["PairedComparison", "holm", "paired_compare"]

# Exact enumeration of sign flips up to 2**16 patterns (about 10 ms).
_EXACT_SIGN_FLIP_MAX = 16


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
