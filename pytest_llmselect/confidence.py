"""Confidence in the pick: paired tests of the objective, and how often each candidate wins.

Pure: no pytest, no torch, no I/O (numpy and scipy only). Three questions, one module:

- ``objective_compare``: is a candidate's *objective* ``cost + alpha * loss`` worse than the
  selected candidate's? A paired test of the per-case difference
  ``alpha * (loss_a_i - loss_b_i) + (cost_a - cost_b)``, with the cost difference's own
  uncertainty added to the variance. The interval shown is the one the test implies (test
  inversion), so a verdict and its interval can never disagree.
- ``pick_probability``: the share of paired bootstrap resamples of the cases (and of the
  timed rounds behind the cost, when recorded) in which each candidate wins the argmin.
- ``cases_to_settle``: how many cases a test at the same level would likely need (80% power)
  to tell the selected candidate from the runner-up, if the observed difference held.

Methods and sources:

- 0/1 losses: Tango's score test for a difference of paired proportions (Tango 1998, Stat
  Med 17:891) with a continuity correction of 1 on ``b - c - n * delta``, inverted into an
  interval. At a difference of 0 the statistic is McNemar's with Edwards' correction,
  ``(|b - c| - 1) / sqrt(b + c)``, so the verdict is McNemar's test and the interval is the
  one that test implies. The cost term adds its variance to the statistic's denominator.
- Other losses: the paired t statistic, with the cost variance added and Welch-Satterthwaite
  degrees of freedom (Satterthwaite 1946); the interval is the t interval it implies. When
  no case differs, the SD of the differences is floored at ``scale / sqrt(n)`` (as if one
  case in n differed by the score's whole range): a sample with no visible difference is not
  proof of none.
- Several comparisons against one selected candidate: Bonferroni, with simultaneous
  intervals at level ``1 - (1 - level) / m``; Holm's step-down has no interval that agrees
  with its verdicts line by line, Bonferroni's does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from pytest_llmselect.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ObjectiveComparison", "PickProbability", "cases_to_settle", "objective_compare", "pick_probability",
    "tango_statistic", "tango_interval",
]

_BISECT_STEPS = 90
# Edwards' continuity correction on the score statistic. Measured with
# benchmarks/bench_calibration.py (200 subsamples of 10-80 cases around every switch point
# of the zoo run): without it 3 of 2,437 clear picks were wrong, all near a switch point at
# 10-40 cases; with it 0 of 2,202 (10% fewer clear picks).
TANGO_CORRECTION = 1.0
# Welch-Satterthwaite degrees of freedom above this are as good as normal.
_DF_CAP = 1e7


def _is_binary(xs: Sequence[float]) -> bool:
    return all(x == 0.0 or x == 1.0 for x in xs)


def tango_statistic(delta: float, b: float, c: float, n: float, extra_var: float = 0.0,
                    correction: float = 0.0) -> float:
    """Tango's (1998, Stat Med 17:891) score statistic for H: p_b - p_c = ``delta``.

    ``b`` (``c``) counts the pairs (a=1, b=0) ((a=0, b=1)) of ``n``; ``extra_var`` is an
    added variance of the mean difference (independent of the pairs, e.g. a cost term in
    loss units). ``correction``: continuity correction subtracted from ``|b - c - n * delta|``
    (1 gives Edwards' correction of McNemar's test at ``delta = 0``). Non-increasing in
    ``delta``; outside [-1, 1] the variance is held at its end value.
    """
    d = min(1.0, max(-1.0, delta))
    qa = 2.0 * n
    qb = -(b + c) + (2.0 * n - b + c) * d
    qc = -c * d * (1.0 - d)
    p01 = (math.sqrt(max(0.0, qb * qb - 4.0 * qa * qc)) - qb) / (2.0 * qa)  # restricted MLE
    var = n * (2.0 * p01 + d * (1.0 - d)) + n * n * extra_var
    num = b - c - n * delta
    num = math.copysign(max(0.0, abs(num) - correction), num)
    if var <= 0.0:
        return math.copysign(math.inf, num) if num else 0.0
    return num / math.sqrt(var)


def tango_interval(b: float, c: float, n: float, z: float, extra_var: float = 0.0,
                   correction: float = 0.0) -> tuple[float, float]:
    """{delta : -z < tango_statistic(delta) < z}, by bisection; contains (b - c) / n."""
    d = (b - c) / n
    reach = 1.0 + 10.0 * z * math.sqrt(extra_var)

    def solve(target: float, lo: float, hi: float) -> float:
        for _ in range(_BISECT_STEPS):
            mid = (lo + hi) / 2.0
            lo, hi = (mid, hi) if tango_statistic(mid, b, c, n, extra_var, correction) > target else (lo, mid)
        return (lo + hi) / 2.0

    return min(solve(z, -reach, d), d), max(solve(-z, d, reach), d)


@dataclass(frozen=True)
class ObjectiveComparison:
    """``objective(a) - objective(b)`` on shared cases; positive means ``a`` is worse.

    ``diff = alpha * loss_diff + cost_diff``; [lo, hi] is the interval the test implies at
    ``level`` (already simultaneous over ``m`` comparisons when ``m > 1``); ``p_value`` is the
    two-sided p of no difference, ``p_adjusted = min(1, m * p_value)`` (Bonferroni).
    ``worse`` / ``better``: significant at ``level`` after adjustment, in that direction;
    by construction ``worse == (lo > 0)`` and ``better == (hi < 0)``. ``se``: standard error
    of ``diff``; ``mde``: smallest difference detected with 80% power at the adjusted level.
    """

    diff: float
    lo: float
    hi: float
    p_value: float
    p_adjusted: float
    n: int
    m: int
    level: float
    method: str
    loss_diff: float
    cost_diff: float
    cost_se: float
    se: float
    mde: float

    @property
    def worse(self) -> bool:
        return self.lo > 0.0

    @property
    def better(self) -> bool:
        return self.hi < 0.0


def _check(fn: str, loss_a: Sequence[float], loss_b: Sequence[float], alpha: float, level: float,
           m: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    a = np.asarray(loss_a, dtype=float)
    b = np.asarray(loss_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 1:
        raise SpecError(f"{fn}: `loss_a` and `loss_b` must be equally long non-empty sequences, "
                        f"got lengths {a.size} and {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise SpecError(f"{fn}: losses must be finite numbers")
    if not (math.isfinite(alpha) and alpha >= 0):
        raise SpecError(f"{fn}: `alpha` must be a finite number >= 0, got {alpha!r}")
    if not 0.0 < level < 1.0:
        raise SpecError(f"{fn}: `level` must lie strictly between 0 and 1, got {level!r}")
    if m < 1:
        raise SpecError(f"{fn}: `m` must be an int >= 1, got {m!r}")
    return a, b


def objective_compare(
    loss_a: Sequence[float], loss_b: Sequence[float], *, alpha: float, cost_a: float = 0.0,
    cost_b: float = 0.0, cost_se_a: float = 0.0, cost_se_b: float = 0.0, level: float = 0.95, m: int = 1,
) -> ObjectiveComparison:
    """Paired test and interval of ``objective(a) - objective(b)``.

    ``loss_a``, ``loss_b``: per-case losses on the same cases in the same order (lower is
    better). ``cost_*``: cost in the report's unit (USD per 1,000 cases); ``cost_se_*``: its
    standard error (0 when unmeasured). ``m``: comparisons made against the same candidate
    (Bonferroni). Raises ``SpecError`` for mismatched or non-finite input.
    """
    from scipy import stats as sps

    a, b = _check("objective_compare", loss_a, loss_b, alpha, level, m)
    n = a.size
    d = a - b
    loss_diff = float(d.mean())
    cost_diff = float(cost_a) - float(cost_b)
    # Products, not **: a float product overflows to inf, ** raises OverflowError.
    se_a, se_b = float(cost_se_a), float(cost_se_b)
    cost_var = se_a * se_a + se_b * se_b
    diff = alpha * loss_diff + cost_diff
    tail = (1.0 - level) / (2.0 * m)
    z_power = float(sps.norm.ppf(0.8))
    # The cost variance in loss units; a vanishing alpha makes it infinite (cost alone decides).
    extra = 0.0 if cost_var == 0.0 else (cost_var / (alpha * alpha) if alpha * alpha > 0 else math.inf)
    if alpha > 0 and extra < 1e12 and _is_binary(a.tolist()) and _is_binary(b.tolist()):
        nb, nc = float((d > 0).sum()), float((d < 0).sum())
        z = float(sps.norm.isf(tail))
        dlo, dhi = tango_interval(nb, nc, n, z, extra, TANGO_CORRECTION)
        delta0 = -cost_diff / alpha  # the loss difference at which the objectives are equal
        stat = tango_statistic(delta0, nb, nc, n, extra, TANGO_CORRECTION)
        p = float(2.0 * sps.norm.sf(abs(stat))) if math.isfinite(stat) else 0.0
        lo, hi = alpha * dlo + cost_diff, alpha * dhi + cost_diff
        # Variance of the mean loss difference, as if at least one pair differed.
        var0 = (max(nb + nc, 1.0) / n - loss_diff * loss_diff) / n
        se = math.sqrt(alpha * alpha * max(var0, 0.0) + cost_var)
        method = "tango_score"
    else:
        scale = 1.0 if ((a >= 0) & (a <= 1) & (b >= 0) & (b <= 1)).all() else \
            (float(max(a.max(), b.max()) - min(a.min(), b.min())) or 1.0)
        sd = float(d.std(ddof=1)) if n > 1 else 0.0
        if sd == 0.0:
            sd = scale / math.sqrt(n)
        q_var = alpha * alpha * sd * sd / n
        var = q_var + cost_var
        se = math.sqrt(var)
        # Welch-Satterthwaite with the cost term's df taken as infinite; the ratio is capped
        # before squaring, since a tiny quality variance beside a cost variance overflows a float.
        ratio = var / q_var if q_var > 0.0 else math.inf
        df = _DF_CAP if ratio > math.sqrt(_DF_CAP) else min(_DF_CAP, max(1.0, n - 1.0) * ratio**2)
        if se == 0.0:
            p = 0.0 if diff != 0.0 else 1.0
            lo = hi = diff
        else:
            p = float(2.0 * sps.t.sf(abs(diff) / se, df))
            half = float(sps.t.isf(tail, df)) * se
            lo, hi = diff - half, diff + half
        method = "paired_t" if cost_var == 0.0 else "paired_t_welch"
    p_adj = min(1.0, m * p)
    # Interval and p come from the same statistic; keep them agreeing at the boundary too.
    significant = p_adj < 1.0 - level
    if significant and lo <= 0.0 <= hi:
        lo, hi = (max(lo, math.ulp(0.0)), hi) if diff > 0 else (lo, min(hi, -math.ulp(0.0)))
    elif not significant and not lo <= 0.0 <= hi:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    mde = (float(sps.norm.isf(tail)) + z_power) * se
    return ObjectiveComparison(diff=diff, lo=min(lo, diff), hi=max(hi, diff), p_value=p, p_adjusted=p_adj, n=n,
                               m=m, level=level, method=method, loss_diff=loss_diff, cost_diff=cost_diff,
                               cost_se=math.sqrt(cost_var), se=se, mde=mde)


def cases_to_settle(cmp: ObjectiveComparison, power: float = 0.8) -> int | None:
    """Cases a test like ``cmp`` would likely need to call the difference, if the observed
    ``diff`` and the per-case spread held: ``n * ((z_tail + z_power) * se / |diff|) ** 2``,
    rounded up. The cost term's uncertainty is treated as shrinking with n like the rest
    (an approximation: more cases also mean more timed work). None when ``diff`` is 0 (an
    exact tie never settles) or more than ten million cases would be needed."""
    from scipy import stats as sps

    if cmp.diff == 0.0:
        return None
    z = float(sps.norm.isf((1.0 - cmp.level) / (2.0 * cmp.m))) + float(sps.norm.ppf(power))
    ratio = z * cmp.se / abs(cmp.diff)
    if not ratio < 1e4:  # ratio**2 alone is over ten million
        return None
    need = cmp.n * ratio * ratio
    if not need < 1e7:
        return None
    need = cmp.n * ratio**2
    return max(cmp.n, math.ceil(need - 1e-9))


@dataclass(frozen=True)
class PickProbability:
    """Share of resamples each candidate wins (sums to 1 unless some resamples leave no
    candidate eligible), resamples drawn, and the seed."""

    shares: dict[str, float]
    n_resamples: int
    seed: int


@dataclass(frozen=True)
class TaskData:
    """One task's inputs for ``pick_probability``.

    ``losses``: candidate -> per-case losses, all over the same case order (NaN for a case
    the candidate lacks; it is left out of that candidate's mean). ``costs``: candidate ->
    cost. ``cost_se``: candidate -> standard error of the cost (drawn as a normal, floored at
    0). ``rounds``: candidate -> model seconds of each timed round; when given, the cost's
    time part is resampled from them instead (cost scaled by resampled mean / mean).
    ``max_loss``: a candidate whose resampled mean loss exceeds it is not eligible in that
    resample (the task's ``min_quality`` as a loss).
    """

    losses: Mapping[str, Sequence[float]]
    costs: Mapping[str, float]
    cost_se: Mapping[str, float] | None = None
    rounds: Mapping[str, Sequence[float]] | None = None
    max_loss: float | None = None


def _resample_task(task: TaskData, names: Sequence[str], rng: np.random.Generator,
                   n_resamples: int, alpha: float) -> np.ndarray:
    """(n_resamples, len(names)) objectives, one paired case resample per row."""
    import numpy as np

    mat = np.array([np.asarray(task.losses[c], dtype=float) for c in names])
    n = mat.shape[1]
    idx = rng.integers(0, n, size=(n_resamples, n))
    picked = mat[:, idx]  # (K, B, n)
    loss = np.nanmean(picked, axis=2).T if np.isnan(mat).any() else picked.mean(axis=2).T
    loss = np.where(np.isnan(loss), np.nanmean(mat, axis=1)[None, :], loss)
    cost = np.tile(np.array([float(task.costs[c]) for c in names]), (n_resamples, 1))
    for j, c in enumerate(names):
        rounds = np.asarray((task.rounds or {}).get(c) or [], dtype=float)
        se = float((task.cost_se or {}).get(c) or 0.0)
        if rounds.size >= 2 and rounds.mean() > 0:
            r_idx = rng.integers(0, rounds.size, size=(n_resamples, rounds.size))
            cost[:, j] *= rounds[r_idx].mean(axis=1) / rounds.mean()
        elif se > 0:
            cost[:, j] = np.maximum(0.0, cost[:, j] + se * rng.standard_normal(n_resamples))
    objective = cost + alpha * loss
    if task.max_loss is not None:
        # 1e-12: the loss of a quality exactly at min_quality must not fail by rounding.
        objective[loss > task.max_loss + 1e-12] = math.inf
    return objective


def pick_probability(
    tasks: Mapping[str, TaskData], alpha: float, *, candidates: Sequence[str], weights: Mapping[str, float] | None = None,
    n_resamples: int = 2000, seed: int = 0,
) -> PickProbability:
    """How often each of ``candidates`` wins ``argmin cost + alpha * loss`` over paired
    bootstrap resamples.

    One task: its cases are resampled with replacement, the same draw for every candidate
    (paired). Several tasks: each task is resampled independently and the objectives are
    combined with ``weights`` (normalised; equal by default), as ``selection.overall`` does.
    A candidate over a task's ``max_loss`` in a resample cannot win it (with several tasks:
    over any task's). Exact ties go to the candidate with the lower full-data cost, then the name, as
    ``selection.select`` breaks them. Deterministic for a given ``seed`` (numpy PCG64).
    Raises ``SpecError`` when ``candidates`` is empty or a task lacks one of them.
    """
    import numpy as np

    names = list(candidates)
    if not names:
        raise SpecError("pick_probability: `candidates` must not be empty")
    if n_resamples < 1:
        raise SpecError(f"pick_probability: `n_resamples` must be >= 1, got {n_resamples!r}")
    for t, data in tasks.items():
        missing = [c for c in names if c not in data.losses or c not in data.costs]
        if missing:
            raise SpecError(f"pick_probability: task {t!r} has no losses or cost for {missing}")
    raw = {t: 1.0 for t in tasks} if weights is None else {t: float(weights.get(t, 0.0)) for t in tasks}
    total = math.fsum(raw.values())
    if total <= 0:
        raise SpecError(f"pick_probability: weights must not all be 0, got {raw}")
    full_cost = {c: math.fsum(raw[t] * float(tasks[t].costs[c]) for t in tasks) for c in names}
    order = sorted(names, key=lambda c: (full_cost[c], c))
    rng = np.random.default_rng(seed)
    objective = np.zeros((n_resamples, len(order)))
    for t, data in tasks.items():
        if raw[t] > 0:
            objective += raw[t] / total * _resample_task(data, order, rng, n_resamples, alpha)
    winners = np.argmin(objective, axis=1)[np.isfinite(objective.min(axis=1))]  # none eligible: no winner
    wins = np.bincount(winners, minlength=len(order))
    shares = {c: float(wins[j]) / n_resamples for j, c in enumerate(order)}
    return PickProbability(shares={c: shares[c] for c in names}, n_resamples=n_resamples, seed=seed)
