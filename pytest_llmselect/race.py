"""Racing candidates: an anytime-valid rule that drops a candidate once it is significantly
worse than the current leader, so the cases it would still have run are saved.

Pure: no pytest, no torch, no I/O (numpy-free: a race looks at a few hundred cases).

The objective is the report's: for a task, ``alpha * loss + cost`` (``decision.py``). For a
candidate c and the leader l, on the cases both ran, a cluster j (a ``group=``, else one case)
gives one observation, the mean over its cases of ``L_c - L_l`` on the [0, 1] loss scale of
the task's range, so each observation lies in [-1, 1]. The race drops c when

    alpha_s * lower(mean loss difference) + (cost_c - cost_l) - z * se(cost_c - cost_l) > 0

where ``alpha_s`` is alpha times the range's width (objective units per unit of [0, 1] loss).

``lower`` is an anytime-valid bound: a confidence sequence, valid at every look at once, so
looking after every stage does not inflate its error (a fixed-n test looked at after every
block would). The rule reads the lower end of the hedged-capital betting confidence sequence
(``betting_lower_bound``; Waudby-Smith & Ramdas 2023, Section 4, Theorem 3, one-sided): for a
candidate mean m, the capital of betting that the mean exceeds m,

    K_t(m) = prod_{i <= t} (1 + lambda_i(m) (X_i - m)),   lambda_i(m) = min(lambda_i, c / m),  c = 1/2,

with the predictable plug-in bets lambda_i below, is a nonnegative supermartingale when the
conditional mean is <= m, so by Ville's inequality P(sup_t K_t(mu) >= 1/a) <= a. The bound is
the smallest m never rejected (K_s(m) < 1/a at every look s); each factor falls as m grows, so
the rejected values form an interval [0, bound) and bisection finds it. At the few dozen
cases of a stage it is much tighter than the empirical-Bernstein sequence it replaced (on 16
three-valued differences: a lower end of 0.37 against 0.06 for a mean of 0.69). The two-sided
empirical-Bernstein sequence (``confidence_sequence``) stays for reading a mean's interval.
That sequence is the predictable plug-in empirical-Bernstein confidence sequence
of Waudby-Smith & Ramdas (2023), "Estimating means of bounded random variables by betting",
JRSS-B 86(1), Theorem 2 with eqs. (13)-(15) (PrPl-EB), built on Howard, Ramdas, McAuliffe &
Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist.
49(2). For X_i in [0, 1] with conditional mean mu:

    mu_t = (1/2 + sum X_i) / (t + 1)            sigma2_t = (1/4 + sum (X_i - mu_i)^2) / (t + 1)
    lambda_t = min(sqrt(2 log(2/a) / (sigma2_{t-1} t log(1 + t))), 1/2)
    v_t = 4 (X_t - mu_{t-1})^2                    psi(l) = (-log(1 - l) - l) / 4
    C_t = sum lambda_i X_i / sum lambda_i  +-  (log(2/a) + sum v_i psi(lambda_i)) / sum lambda_i

and P(mu outside C_t for some t) <= a. A paired difference x in [-1, 1] enters as (x + 1) / 2.
The rule reads only the lower end, so each end is built at ``a`` alone (``log(1/a)``, the
one-sided boundary). Each comparison runs at ``a = (1 - level) / (K - 1)`` for K candidates
(Bonferroni over the rivals): the true best candidate can be dropped only if the lower end of
one of its K - 1 comparisons fails, so with probability at least ``level`` it is never dropped,
however the leader changes.

What is not covered: the cost term is the cost measured so far with a normal margin (``z``
at the same ``a``), not an anytime-valid bound; with clusters of unequal size the observations
weigh each cluster equally (the report weighs cases); a cluster whose cases are spread over
stages is taken as one observation when first seen in full order. Both are said in the
guarantee's words (``GUARANTEE``).

Other libraries: ``confseq`` ships only a C++ source distribution and ``expectation`` needs
Python 3.12, so both sequences are implemented here (about 30 lines each) and checked by
simulation (``benchmarks/bench_race.py``, ``tests/unit/test_race.py``,
``tests/unit/test_race_betting.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Hashable, Mapping, Sequence

from pytest_llmselect.errors import SpecError

__all__ = ["GUARANTEE", "RaceSetting", "Drop", "betting_lower_bound", "confidence_sequence", "decide_stage", "parse_race", "stage_sizes"]

#: The guarantee, in words, as the report states it (``{level}`` filled in).
GUARANTEE = ("with probability at least {level} the race never drops the candidate with the best expected "
             "objective on the population the cases stand for (an anytime-valid betting confidence "
             "sequence per comparison, Bonferroni over the rivals; the cost difference is taken "
             "as measured so far, with a normal margin)")

#: ``on``: the first stage's cases; each later stage doubles, so a task of n cases takes about
#: log2(n / FIRST_STAGE) looks and model loads per candidate.
FIRST_STAGE = 16


@dataclass(frozen=True)
class RaceSetting:
    """``--llm-race``: off, or on with fixed stages of ``block`` cases (None: doubling stages)."""

    on: bool
    block: int | None = None

    def text(self) -> str:
        return "off" if not self.on else "on" if self.block is None else str(self.block)


def parse_race(value: object) -> RaceSetting:
    """``off``/``no``/``0``/``false``, ``on``/``yes``/``true``, or a block size (a whole number >= 2).

    Raises ``SpecError`` naming the value otherwise."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "off", "no", "false", "0"):
        return RaceSetting(False)
    if text in ("on", "yes", "true", "auto"):
        return RaceSetting(True)
    if not (text.isascii() and text.isdigit()) or int(text) < 2:
        raise SpecError(f"--llm-race must be off, on or a block size (a whole number >= 2), got {value!r}")
    return RaceSetting(True, int(text))


def stage_sizes(n: int, setting: RaceSetting) -> list[int]:
    """The cases in each stage of a task of ``n`` cases; they add up to ``n``."""
    if n <= 0:
        return []
    if not setting.on:
        return [n]
    sizes, step, left = [], setting.block or FIRST_STAGE, n
    while left > 0:
        take = min(step, left)
        sizes.append(take)
        left -= take
        if setting.block is None:
            step *= 2
    return sizes


def confidence_sequence(xs: Sequence[float], a: float, *, two_sided: bool = True) -> tuple[float, float]:
    """The PrPl-EB confidence sequence (module docstring) for the mean of ``xs`` in [0, 1],
    after all of them, at error ``a``: ``(lo, hi)``, running intersection taken. With
    ``two_sided=False`` each end alone holds at ``a`` (``log(1/a)`` for ``log(2/a)``: the
    one-sided boundary of the same paper), for a rule that reads only one end."""
    if not 0 < a < 1:
        raise SpecError(f"confidence_sequence: `a` must lie in (0, 1), got {a!r}")
    log_term = math.log((2.0 if two_sided else 1.0) / a)
    lo, hi = 0.0, 1.0
    s_lx = s_l = s_vpsi = 0.0
    s_x, s_sq = 0.0, 0.0
    mu_prev, sigma2_prev = 0.5, 0.25
    for t, x in enumerate(xs, start=1):
        x = min(1.0, max(0.0, float(x)))
        lam = min(math.sqrt(2.0 * log_term / (sigma2_prev * t * math.log1p(t))), 0.5)
        v = 4.0 * (x - mu_prev) ** 2
        s_lx += lam * x
        s_l += lam
        s_vpsi += v * (-math.log1p(-lam) - lam) / 4.0
        centre, half = s_lx / s_l, (log_term + s_vpsi) / s_l
        lo, hi = max(lo, centre - half), min(hi, centre + half)
        s_x += x
        mu_t = (0.5 + s_x) / (t + 1)
        s_sq += (x - mu_t) ** 2
        mu_prev, sigma2_prev = mu_t, (0.25 + s_sq) / (t + 1)
    if lo > hi:  # the running intersection emptied (probability <= a): hold the last width at its centre
        lo = hi = (lo + hi) / 2.0
    return lo, hi


#: The hedged-capital bet's cap: lambda_i(m) <= BET_CAP / m keeps every factor >= 1 - BET_CAP.
BET_CAP = 0.5


def betting_lower_bound(xs: Sequence[float], a: float, *, tolerance: float = 1e-6) -> float:
    """The lower end of the one-sided hedged-capital betting confidence sequence (module
    docstring) for the mean of ``xs`` in [0, 1] (values outside are clipped), after all of
    them, holding with probability >= 1 - ``a`` at every look at once. 0.0 for no data.
    Bisection to within ``tolerance``, rounded down: the value returned never exceeds the
    exact bound. Raises ``SpecError`` when ``a`` is not in (0, 1)."""
    if not 0 < a < 1:
        raise SpecError(f"betting_lower_bound: `a` must lie in (0, 1), got {a!r}")
    data = [min(1.0, max(0.0, float(x))) for x in xs]
    if not data:
        return 0.0
    threshold = math.log(1.0 / a)
    bets: list[float] = []  # lambda_i before the cap: predictable (from X_1..X_{i-1} only)
    s_x = s_sq = 0.0
    sigma2_prev = 0.25
    for t, x in enumerate(data, start=1):
        bets.append(math.sqrt(2.0 * threshold / (sigma2_prev * t * math.log1p(t))))
        s_x += x
        mu_t = (0.5 + s_x) / (t + 1)
        s_sq += (x - mu_t) ** 2
        sigma2_prev = (0.25 + s_sq) / (t + 1)

    def rejected(m: float) -> bool:
        log_k = 0.0
        for x, bet in zip(data, bets):
            lam = bet if m <= 0 else min(bet, BET_CAP / m)
            log_k += math.log1p(lam * (x - m))
            if log_k >= threshold:
                return True
        return False

    lo, hi = 0.0, 1.0  # rejected(m) holds on [0, bound): lo stays rejected or 0, hi never rejected
    if not rejected(0.0):
        return 0.0
    while hi - lo > tolerance:
        mid = (lo + hi) / 2.0
        if rejected(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Drop:
    """A candidate the stage drops: the leader it lost to, the cases paired, the bound."""

    candidate: str
    leader: str
    cases: int
    lower: float  # the anytime-valid lower bound of its objective difference from the leader
    reason: str   # "worse than LEADER" or "below min_quality"


def _clustered(order: Sequence[str], a: Mapping[str, float], b: Mapping[str, float],
               groups: Mapping[str, Hashable]) -> list[float]:
    """Per cluster, in order of first appearance, the mean of ``a - b`` over its common cases."""
    sums: dict[Hashable, list[float]] = {}
    for cid in order:
        if cid in a and cid in b:
            key = groups.get(cid)
            sums.setdefault(("case", cid) if key is None else ("group", key), []).append(a[cid] - b[cid])
    return [math.fsum(v) / len(v) for v in sums.values()]


def decide_stage(order: Sequence[str], losses: Mapping[str, Mapping[str, float]], *, alpha_s: float,
                 costs: Mapping[str, float], cost_se: Mapping[str, float], level: float, n_candidates: int,
                 groups: Mapping[str, Hashable] | None = None, eligible: Sequence[str] | None = None,
                 max_loss: float | None = None) -> tuple[str | None, list[Drop]]:
    """After a stage: ``(leader, drops)`` among the candidates in ``losses``.

    ``order``: the race's case order so far; ``losses``: candidate -> case id -> loss on [0, 1];
    ``costs``/``cost_se``: each candidate's cost (objective units) and its standard error;
    ``n_candidates``: the candidates at the race's start (the Bonferroni count); ``eligible``:
    who may lead (meets the constraints as measured; all when None); ``max_loss``: the
    [0, 1] loss of ``min_quality``: a candidate whose loss is above it by the same sequence
    is dropped, as the full run would exclude it."""
    if not 0 < level < 1:
        raise SpecError(f"decide_stage: `level` must lie in (0, 1), got {level!r}")
    groups = groups or {}
    names = list(losses)
    if len(names) < 2 and max_loss is None:
        return (names[0] if names else None), []
    a = (1.0 - level) / max(1, n_candidates - 1)
    z = NormalDist().inv_cdf(1.0 - a)
    drops: list[Drop] = []
    if max_loss is not None:
        for name in names:
            xs = _clustered(order, losses[name], {k: 0.0 for k in losses[name]}, groups)
            low = betting_lower_bound(xs, a) if xs else 0.0
            if low > max_loss:
                drops.append(Drop(name, name, len(xs), low - max_loss, "below min_quality"))
    alive = [n for n in names if n not in {d.candidate for d in drops}]

    def objective(name: str) -> float:
        values = [losses[name][c] for c in order if c in losses[name]]
        return alpha_s * (math.fsum(values) / len(values) if values else 1.0) + costs.get(name, 0.0)

    leaders = [n for n in alive if eligible is None or n in eligible] or alive
    if not leaders:
        return None, drops
    leader = min(leaders, key=lambda n: (objective(n), names.index(n)))
    for name in alive:
        if name == leader:
            continue
        xs = _clustered(order, losses[name], losses[leader], groups)
        if not xs:
            continue
        lo01 = betting_lower_bound([(x + 1.0) / 2.0 for x in xs], a)
        d_cost = costs.get(name, 0.0) - costs.get(leader, 0.0)
        se = math.hypot(cost_se.get(name, 0.0), cost_se.get(leader, 0.0))
        lower = alpha_s * (2.0 * lo01 - 1.0) + d_cost - z * se
        if lower > 0:
            drops.append(Drop(name, leader, len(xs), lower, f"worse than {leader}"))
    return leader, drops
