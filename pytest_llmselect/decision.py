"""Deciding a pick: the stratified, clustered paired test of the objective and the cases that
would settle it (the pick probability it implies: ``pick_chance``; the clear-pick rule:
``verdicts``).

Pure: numpy and scipy only; no pytest, no torch, no I/O.

One test serves a task with ``group=`` and the overall pick over several tasks. The data are
strata (tasks), each holding every candidate's per-case losses on the [0, 1] scale of the
task's score range (``unit_loss``), the cases' groups, the task's weight and each candidate's
cost with its standard error. For two candidates a and b the objective difference is

    D = sum_t w_t * (alpha * s_t * mean_i(L_a,i - L_b,i) + cost_a,t - cost_b,t)

(``s_t``: loss units per unit of [0, 1] loss: 1 for the overall, the range's width for a
task's own objective). Cases are paired inside a task, tasks are independent strata, and a
group's cases are one cluster (its summed difference is one observation).

- Variance of a task's mean difference: 0/1 losses: the cluster sums' spread around the
  mean the null hypothesis implies (the score-test variance; at a difference of 0 without
  groups it is McNemar's ``(b + c) / n**2``), floored at the least a {-1, 0, 1} difference
  with that mean can have, ``|mu| (1 - |mu|) / n``; other losses: the cluster-robust (CR1)
  variance around the observed mean, with its small-sample factor G / (G - 1) (the paired
  t's when every case is its own cluster; 0/1 losses carry it only with groups). No differing case at all: the floor of one cluster differing by the whole
  range, ``1 / G**2``, as if the next cluster would.
- Continuity correction for 0/1 tasks: ``1 / n_t`` of a task's mean (Edwards' for McNemar),
  combined over tasks in quadrature.
- Reference distribution: Student t with Welch-Satterthwaite degrees of freedom over the
  tasks (``G_t - 1`` each; a 0/1 task without groups counts as normal, as McNemar's test).
- Simultaneous over the other candidates: Bonferroni, as ``confidence.objective_compare``.
  The interval is the inverted test, so a verdict and its interval never disagree.

Pick probability (``pick_chance.pick_shares``): the confidence distribution of the same test: the
rivals' objective differences drawn from a multivariate t centred on the observed
differences shrunk by the continuity correction, with each test's standard deviation at a
difference of 0 and the cluster-robust correlation between rivals. Ties are split, a handful
of differing cases cannot give 100%, and where the pick is not clear the selected candidate's
share is capped at the level (the excess goes to the runner-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Hashable, Mapping, Sequence

from pytest_llmselect.confidence import ObjectiveComparison
from pytest_llmselect.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SETTLE_CAP", "TEMPER", "Settle", "Stratum", "compare", "settle", "unit_loss"]

#: Above this many cases "would likely settle it" reads "practically a tie".
SETTLE_CAP = 100_000
#: The pick probability's spread is the test's times this (a normal prior on the standardised
#: difference, variance 1 / (TEMPER**2 - 1)), and "cases to settle" shrinks the observed
#: difference by the same prior, by 1 - 1 / TEMPER**2. Chosen with benchmarks/bench_calibration.py
#: (synthetic truths at 0.5-2x each switch point, n 10-160): at 1.0 a stated 85% was right 74%
#: of the time and 92% 80%; at 1.5 each bucket with 200+ runs came within 5 points.
TEMPER = 1.5
_GRID, _GRID_PASSES = 64, 5  # interval ends to reach / 64**5, about 1e-9 of the reach
_DF_CAP = 1e7


def unit_loss(score: float, score_range: Sequence[float], higher_is_better: bool) -> float:
    """A score's loss on the [0, 1] scale of its range: the share of the range it falls
    short of the best end. Raises ``SpecError`` for an empty or inverted range."""
    lo, hi = float(score_range[0]), float(score_range[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise SpecError(f"unit_loss: `score_range` must be (low, high) with low < high, got {score_range!r}")
    return (hi - score) / (hi - lo) if higher_is_better else (score - lo) / (hi - lo)


@dataclass(frozen=True)
class Stratum:
    """One task's inputs. ``losses``: candidate -> per-case losses on the [0, 1] scale, every
    candidate over the same case order (NaN: the candidate lacks that case). ``groups``: the
    cases' groups in that order (None: every case its own). ``costs``/``cost_se``: candidate
    -> cost and its standard error. ``weight``: the task's weight (normalised over the strata
    given). ``scale``: loss units per unit of [0, 1] loss in the objective."""

    losses: Mapping[str, Sequence[float]]
    costs: Mapping[str, float]
    cost_se: Mapping[str, float] = field(default_factory=dict)
    groups: Sequence[Hashable] | None = None
    weight: float = 1.0
    scale: float = 1.0


@dataclass(frozen=True)
class _Part:
    """One stratum's paired difference of two candidates, reduced to the sums its variance
    needs: over the clusters g, sum S_g**2, sum S_g * m_g and sum m_g**2 (S_g: a cluster's
    summed difference, m_g: its cases)."""

    n: int
    n_clusters: int
    s2: float
    sm: float
    m2: float
    mean: float
    binary: bool
    clustered: bool
    coef: float  # w * alpha * scale: objective units per unit of mean loss difference
    cost_diff: float  # w * (cost_a - cost_b)
    cost_var: float  # w**2 * (se_a**2 + se_b**2)

    def var(self, shift: float | np.ndarray) -> np.ndarray:
        """Variance of the mean difference under the null that it is ``mean - shift``
        (vectorised over ``shift``)."""
        import numpy as np

        shift = np.asarray(shift, dtype=float)
        g, n = self.n_clusters, self.n
        if g < 2:
            return np.ones_like(shift)  # one cluster: its spread is unknown; as wide as the range allows
        # G / (G - 1): CR1's small-sample factor, which for single-case clusters is the paired
        # t's n - 1 divisor. Not for 0/1 losses without groups: their variance is the score
        # test's, McNemar's at a difference of 0.
        factor = g / (g - 1.0) if self.clustered or not self.binary else 1.0
        if self.binary:
            mu = np.clip(self.mean - shift, -1.0, 1.0)  # outside [-1, 1] held at the end, as Tango's
            v = np.maximum(0.0, self.s2 - 2.0 * mu * self.sm + mu * mu * self.m2) / (n * n) * factor
            v = np.maximum(v, np.abs(mu) * np.maximum(0.0, 1.0 - np.abs(mu)) / n * (self.m2 / n))
        else:
            mu = self.mean
            v = np.full_like(shift, max(0.0, self.s2 - 2.0 * mu * self.sm + mu * mu * self.m2) / (n * n) * factor)
        return np.where(v > 0.0, v, 1.0 / (g * g))

    @property
    def df(self) -> float:
        return math.inf if self.binary and not self.clustered else max(1.0, self.n_clusters - 1.0)

    @property
    def cc(self) -> float:
        return self.coef / self.n if self.binary else 0.0


def _codes(groups: Sequence[Hashable] | None, n: int) -> np.ndarray:
    import numpy as np

    if groups is None:
        return np.arange(n)
    if len(groups) != n:
        raise SpecError(f"decision: `groups` must have one entry per case ({n}), got {len(groups)}")
    arr = np.asarray(groups)
    if arr.dtype.kind in "iu":  # integer labels (the common, fast case)
        return arr.astype(np.int64)
    index: dict[Hashable, int] = {}
    # A case without a group (None) is a cluster of its own.
    return np.array([index.setdefault(g, len(index)) if g is not None else -1 - i
                     for i, g in enumerate(groups)], dtype=np.int64)


def _weights(strata: Sequence[Stratum]) -> list[float]:
    raw = [float(s.weight) for s in strata]
    if not strata or any(not (math.isfinite(w) and w >= 0) for w in raw) or math.fsum(raw) <= 0:
        raise SpecError(f"decision: strata weights must be finite, >= 0 and not all 0, got {raw}")
    total = math.fsum(raw)
    return [w / total for w in raw]


def _part(st: Stratum, w: float, a: str, b: str, alpha: float, extra_mask: np.ndarray | None = None) -> _Part | None:
    import numpy as np

    for c in (a, b):
        if c not in st.losses or c not in st.costs:
            raise SpecError(f"decision: a stratum has no losses or cost for {c!r}")
    la = np.asarray(st.losses[a], dtype=float)
    lb = np.asarray(st.losses[b], dtype=float)
    if la.shape != lb.shape or la.ndim != 1:
        raise SpecError(f"decision: {a!r} and {b!r} must have losses over the same cases")
    codes = _codes(st.groups, la.size)
    mask = ~(np.isnan(la) | np.isnan(lb))
    if extra_mask is not None:
        mask &= extra_mask
    if not mask.any():
        return None
    la, lb, codes = la[mask], lb[mask], codes[mask]
    d = la - lb
    _, inverse = np.unique(codes, return_inverse=True)
    sums = np.bincount(inverse, weights=d)
    sizes = np.bincount(inverse).astype(float)
    binary = bool(np.isin(la, (0.0, 1.0)).all() and np.isin(lb, (0.0, 1.0)).all())
    se_a, se_b = float(st.cost_se.get(a, 0.0) or 0.0), float(st.cost_se.get(b, 0.0) or 0.0)
    with np.errstate(over="ignore"):  # scores near the float limit: an infinite spread, never significant
        s2 = float((sums * sums).sum())
    return _Part(n=int(d.size), n_clusters=int(sums.size), s2=s2,
                 sm=float((sums * sizes).sum()), m2=float((sizes * sizes).sum()), mean=float(d.mean()), binary=binary,
                 clustered=bool(sums.size < d.size), coef=w * alpha * float(st.scale),
                 cost_diff=w * (float(st.costs[a]) - float(st.costs[b])), cost_var=w * w * (se_a * se_a + se_b * se_b))


@dataclass(frozen=True)
class _Test:
    parts: tuple[_Part, ...]
    diff: float
    cc: float
    coef: float  # sum of the parts' coefficients
    cost_var: float  # sum of the parts' cost variances

    def shift(self, delta: float | np.ndarray) -> float | np.ndarray:
        """The null's shift of every task's mean difference (same in each) making D = delta."""
        import numpy as np

        if not self.coef > 0:
            return np.zeros(np.shape(delta))
        with np.errstate(over="ignore"):  # a vanishing alpha: the shift runs to +-inf, held at [-1, 1]
            return np.divide(self.diff - delta, self.coef)

    def quality_var(self, delta: float | np.ndarray) -> np.ndarray:
        k = self.shift(delta)
        import numpy as np

        return sum((p.coef * p.coef * p.var(k) for p in self.parts), start=np.zeros(np.shape(k)))

    def var(self, delta: float | np.ndarray) -> np.ndarray:
        return self.quality_var(delta) + self.cost_var

    def df(self) -> float:
        k = self.shift(0.0)
        terms = [(p.coef * p.coef * float(p.var(k)), p.df) for p in self.parts]
        total = float(self.var(0.0))
        denom = math.fsum(v * v / d for v, d in terms if math.isfinite(d) and v > 0)
        if denom <= 0 or total <= 0:
            return _DF_CAP
        return min(_DF_CAP, max(1.0, total * total / denom))

    def stats(self, delta: np.ndarray) -> np.ndarray:
        import numpy as np

        raw = self.diff - delta
        num = np.sign(raw) * np.maximum(0.0, np.abs(raw) - self.cc)
        v = self.var(delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = num / np.sqrt(v)
            return np.where(v > 0.0, out, np.where(num != 0, np.copysign(np.inf, num), 0.0))

    def stat(self, delta: float) -> float:
        import numpy as np

        return float(self.stats(np.array([float(delta)]))[0])


def _build(strata: Sequence[Stratum], a: str, b: str, alpha: float) -> _Test:
    if not (math.isfinite(alpha) and alpha >= 0):
        raise SpecError(f"decision: `alpha` must be a finite number >= 0, got {alpha!r}")
    ws = _weights(strata)
    parts = tuple(p for st, w in zip(strata, ws) if (p := _part(st, w, a, b, alpha)) is not None)
    if not parts:
        raise SpecError(f"decision: {a!r} and {b!r} share no case")
    diff = math.fsum(p.coef * p.mean + p.cost_diff for p in parts)
    cc = math.sqrt(math.fsum(p.cc * p.cc for p in parts))
    return _Test(parts, diff, cc, math.fsum(p.coef for p in parts), math.fsum(p.cost_var for p in parts))


def _quantile(df: float, tail: float) -> float:
    from scipy import special

    return float(-special.ndtri(tail) if df >= _DF_CAP else -special.stdtrit(df, tail))


def compare(strata: Sequence[Stratum], a: str, b: str, *, alpha: float, level: float = 0.95,
            m: int = 1) -> ObjectiveComparison:
    """Paired test and interval of ``objective(a) - objective(b)`` over ``strata``; positive
    means ``a`` is worse. ``m``: comparisons made against the same candidate (Bonferroni).
    Raises ``SpecError`` when the two share no case or an input is malformed."""
    import numpy as np
    from scipy import stats as sps

    if not 0.0 < level < 1.0 or m < 1:
        raise SpecError(f"decision.compare: `level` must lie in (0, 1) and `m` be >= 1, got {level!r}, {m!r}")
    test = _build(strata, a, b, alpha)
    df = test.df()
    tail = (1.0 - level) / (2.0 * m)
    crit = _quantile(df, tail)
    t0 = test.stat(0.0)
    p = float(2.0 * (sps.norm.sf(abs(t0)) if df >= _DF_CAP else sps.t.sf(abs(t0), df))) if math.isfinite(t0) else 0.0
    coef = test.coef
    reach = 2.0 * coef + 10.0 * crit * math.sqrt(test.cost_var) + 1e-300

    def solve(target: float, lo: float, hi: float) -> float:
        # The statistic falls as delta grows: refine the step where it crosses ``target`` on a
        # grid, a few passes deep (one numpy call each instead of one Python call per halving).
        for _ in range(_GRID_PASSES):
            grid = np.linspace(lo, hi, _GRID + 1)
            above = test.stats(grid) > target
            i = int(np.argmin(above)) if not above.all() else _GRID
            lo, hi = (grid[max(i - 1, 0)], grid[i]) if i > 0 else (grid[0], grid[0])
        return (lo + hi) / 2.0

    lo = min(solve(crit, test.diff - reach, test.diff), test.diff)
    hi = max(solve(-crit, test.diff, test.diff + reach), test.diff)
    if all(p_.cost_var == 0.0 for p_ in test.parts):  # no objective outside what [0, 1] losses allow
        cost = math.fsum(p_.cost_diff for p_ in test.parts)
        lo, hi = max(lo, min(cost - coef, test.diff)), min(hi, max(cost + coef, test.diff))
    p_adj = min(1.0, m * p)
    significant = p_adj < 1.0 - level
    if significant and lo <= 0.0 <= hi:
        lo, hi = (max(lo, math.ulp(0.0)), hi) if test.diff > 0 else (lo, min(hi, -math.ulp(0.0)))
    elif not significant and not lo <= 0.0 <= hi:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    se = math.sqrt(float(test.var(0.0)))
    n = sum(p_.n for p_ in test.parts)
    loss_diff = math.fsum(p_.coef * p_.mean for p_ in test.parts) / alpha if alpha > 0 else \
        math.fsum(p_.mean for p_ in test.parts) / len(test.parts)
    method = "stratified_score" if len(test.parts) > 1 else "clustered_score"
    return ObjectiveComparison(
        diff=test.diff, lo=min(lo, test.diff), hi=max(hi, test.diff), p_value=p, p_adjusted=p_adj, n=n, m=m,
        level=level, method=method, loss_diff=loss_diff,
        cost_diff=math.fsum(p_.cost_diff for p_ in test.parts),
        cost_se=math.sqrt(math.fsum(p_.cost_var for p_ in test.parts)), se=se,
        mde=(crit + float(sps.norm.ppf(0.8))) * se)


@dataclass(frozen=True)
class Settle:
    """How many cases would likely settle a pick. ``cases``: the total over the tasks
    (always more than now), None when no number would (``reason`` says why: an exact tie,
    practically a tie above ``SETTLE_CAP``, or a cost difference within timing noise that
    more cases do not shrink). ``factor``: cases needed / cases now."""

    cases: int | None
    now: int
    factor: float | None
    reason: str | None


def settle(strata: Sequence[Stratum], selected: str, rivals: Sequence[str], *, alpha: float, level: float = 0.95,
           m: int = 1, power: float = 0.8, cap: int = SETTLE_CAP, temper: float = TEMPER) -> Settle:
    """Cases (every task grown by the same factor) at which the test of ``selected``
    against each of ``rivals`` would reach significance with probability ``power``, were
    the per-case spread the truth and the difference the observed one shrunk as the pick
    probability's prior implies (``1 - 1 / temper**2``; an observed difference that is not
    yet significant overstates the truth more often than not). The cost's variance is held
    fixed (more cases do not time the machine better). See ``Settle``."""
    from scipy import stats as sps

    if not rivals:
        raise SpecError("decision.settle: `rivals` must not be empty")
    z_power = float(sps.norm.ppf(power))
    worst = 1.0
    now = 0
    for rival in rivals:
        test = _build(strata, rival, selected, alpha)
        now = max(now, sum(p.n for p in test.parts))
        if test.diff == 0.0:
            return Settle(None, now, None, "exact tie: no number of cases settles it")
        cost_var = math.fsum(p.cost_var for p in test.parts)
        crit = _quantile(_DF_CAP, (1.0 - level) / (2.0 * m))
        target = crit + z_power
        diff = abs(test.diff) * (1.0 - 1.0 / (temper * temper) if temper > 1.0 else 1.0)
        if diff <= target * math.sqrt(cost_var):
            return Settle(None, now, None, "the cost difference is within timing noise: more cases would not "
                                            "settle it, more timed rounds might")
        qv = float(test.quality_var(0.0))
        df0 = test.df()

        def reached(f: float) -> bool:
            # At f times the cases: spread of the mean / f, continuity correction / f; the
            # t quantile of the grown sample (its clusters grow by f too).
            df = df0 * f
            need = _quantile(min(df, _DF_CAP), (1.0 - level) / (2.0 * m)) + z_power
            return diff - test.cc / f >= need * math.sqrt(qv / f + cost_var)

        hi_f = cap / max(1, now) + 1.0
        if not reached(hi_f):
            return Settle(None, now, None, f"practically a tie: more than {cap:,} cases would be needed")
        lo_f = 1.0
        if reached(lo_f):
            worst = max(worst, 1.0)
            continue
        for _ in range(60):
            mid = (lo_f + hi_f) / 2.0
            lo_f, hi_f = (lo_f, mid) if reached(mid) else (mid, hi_f)
        worst = max(worst, hi_f)
    cases = max(now + 1, math.ceil(now * worst - 1e-9))
    if cases > cap:
        return Settle(None, now, None, f"practically a tie: more than {cap:,} cases would be needed")
    return Settle(cases, now, cases / now, None)
