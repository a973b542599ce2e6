"""The gate's statistical test: is one candidate non-inferior to the incumbent on the
cases both runs share, and if the data cannot tell, how many cases would settle it?

The test is *non-inferiority*, paired by case. With ``d = quality(candidate) -
quality(incumbent)`` and a margin ``m >= 0``:

- PASS when the one-sided ``level`` lower bound of ``d`` is above ``-m`` (not worse by
  more than the margin, with confidence ``level``) and the cost is within budget;
- FAIL when the one-sided upper bound is below ``-m`` (worse by more than the margin,
  with the same confidence) or the cost ratio is over ``max_cost_ratio``;
- INCONCLUSIVE otherwise, with the number of cases that would settle it.

For a metric where lower is better the same is done on ``-d``. The interval of ``d`` is
Tango's score interval for 0/1 scores and ``paired_tests.paired_compare``'s paired bootstrap
otherwise (see ``_bounds`` for why not Newcombe's); FAIL also needs the exact test of no
difference to agree. Pure: no pytest, no torch, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from pytest_llmselect.confidence import tango_interval as _tango_interval
from pytest_llmselect.descriptive import _is_binary, _scale, sample_sd
from pytest_llmselect.distributions import normal_quantile
from pytest_llmselect.errors import SpecError
from pytest_llmselect.paired_tests import PairedComparison, paired_compare
from pytest_llmselect.power import cases_needed as _cases_needed

__all__ = ["GateSettings"]


@dataclass(frozen=True)
class GateSettings:
    """``margin``: how much worse (in the task's quality units) still counts as not worse.
    ``level``: one-sided confidence of each verdict. ``strict``: INCONCLUSIVE fails too."""

    margin: float = 0.02
    max_cost_ratio: float | None = None
    level: float = 0.95
    strict: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        m = self.margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m < 0:
            raise SpecError(f"--llm-margin must be a finite number >= 0, got {m!r} of type {type(m).__name__}")
        r = self.max_cost_ratio
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float))
                              or not math.isfinite(r) or r <= 0):
            raise SpecError(f"--llm-max-cost-ratio must be a finite number > 0, got {r!r} of type {type(r).__name__}")
        lv = self.level
        if isinstance(lv, bool) or not isinstance(lv, (int, float)) or not 0.5 < lv < 1:
            raise SpecError(f"gate level must be a number strictly between 0.5 and 1, got {lv!r}")


def _discordant(a: Sequence[float], b: Sequence[float]) -> tuple[int, int]:
    """The discordant pairs of two paired 0/1 samples: (a 1 where b is 0, a 0 where b is 1)."""
    return sum(1 for x, y in zip(a, b) if x > y), sum(1 for x, y in zip(a, b) if x < y)


def _bounds(a: Sequence[float], b: Sequence[float], z: float, cmp: PairedComparison) -> tuple[float, float, str]:
    """The interval of diff = mean(a) - mean(b) whose ends are one-sided ``s.level`` bounds.

    0/1 scores: Tango's score interval, the usual one for paired non-inferiority, rather
    than ``paired_compare``'s Newcombe method 10 (which, before its phi got Newcombe's
    continuity correction, collapsed to [0, 0] for two identical runs). Tango's lower bound
    with no discordant pair is -z^2/(n+z^2), the Wilson bound on how often the two could
    disagree unseen.
    Other scores: ``cmp``, ``paired_compare``'s paired bootstrap at two-sided ``2*level-1``,
    widened when no case differs by the same unseen-disagreement bound (a bootstrap of
    all-zero differences would claim certainty).
    """
    n = len(a)
    if _is_binary(a) and _is_binary(b):
        b10, c01 = _discordant(a, b)
        lo, hi = _tango_interval(b10, c01, n, z)
        return lo, hi, "tango_score"
    lo, hi = cmp.lo, cmp.hi
    if all(x == y for x, y in zip(a, b)):
        unseen = _scale(a, b) * z * z / (n + z * z)
        lo, hi = min(lo, -unseen), max(hi, unseen)
    return lo, hi, f"bootstrap ({cmp.method} p)"


_MAX_CASES = 10_000_000


def _needed(a: Sequence[float], b: Sequence[float], oriented: float, hib: bool, s: GateSettings) -> int | None:
    """Shared cases that would settle the verdict with 80% power if the observed proportions
    (binary) or the observed mean and SD of the differences (otherwise) held; None when the
    estimate sits on the margin or more than ten million cases would be needed. With no
    differing case: the n where the unseen-disagreement bound clears the margin,
    z^2 (scale/margin - 1) (133 at margin 0.02, 52 at 0.05)."""
    distance = abs(oriented + s.margin)
    if distance == 0.0:
        return None
    n = len(a)
    # The usual power-adjusted quantile; when no case differed nothing varies under the
    # "observed proportions hold" assumption, so the plain quantile settles it for sure.
    z = normal_quantile(s.level) + (normal_quantile(0.8) if any(x != y for x, y in zip(a, b)) else 0.0)
    to_pass = oriented > -s.margin
    if _is_binary(a) and _is_binary(b):
        b10, c01 = _discordant(a, b)

        def settled(m: int) -> bool:
            k = m / n
            lo, hi = _tango_interval(b10 * k, c01 * k, float(m), z)
            worst, best = (lo, hi) if hib else (-hi, -lo)
            if to_pass:
                return worst > -s.margin
            # FAIL also needs the test of no difference (normal form of McNemar's) to agree.
            lost, won = (c01 * k, b10 * k) if hib else (b10 * k, c01 * k)
            return best < -s.margin and lost + won > 0 and (lost - won) / math.sqrt(lost + won) > z

        low, high = n, 2 * n
        while not settled(high):
            low, high = high, high * 2
            if high > _MAX_CASES:
                return None
        while high - low > 1:  # settled(high) holds, settled(low) does not
            mid = (low + high) // 2
            low, high = (low, mid) if settled(mid) else (mid, high)
        return high
    diffs = [x - y for x, y in zip(a, b)]
    mean = math.fsum(diffs) / n
    sd = sample_sd(diffs, mean) if n > 1 else 0.0
    if sd == 0.0:  # no case differed: the unseen-disagreement bound scale*z^2/(m+z^2) must drop below the margin
        rough = z * z * (_scale(a, b) / s.margin - 1.0)
    else:
        ratio = z * sd / distance
        rough = ratio * ratio  # inf, never OverflowError, for a vanishing distance
    if not rough < _MAX_CASES:  # also keeps a vanishing margin from overflowing the integer conversion
        return None
    if sd == 0.0:
        return math.floor(rough) + 1
    # power.cases_needed is two-sided at alpha: 2*(1-level) makes it one-sided at 1-level.
    return _cases_needed(sd, distance, alpha=2.0 * (1.0 - s.level), power=0.8)


def _judge(inc: str, hib: bool, a: list[float], b: list[float],
           cost_ratio: float | None, s: GateSettings) -> dict[str, Any]:
    n = len(a)
    diff = math.fsum(x - y for x, y in zip(a, b)) / n
    cmp = paired_compare(a, b, level=2.0 * s.level - 1.0, seed=s.seed)
    lo, hi, method = _bounds(a, b, normal_quantile(s.level), cmp)
    p_value = cmp.p_value  # of no difference at all: McNemar exact / sign-flip, as in the selection report
    # "better" orientation: positive means the candidate is better.
    worst, best = (lo, hi) if hib else (-hi, -lo)
    oriented = diff if hib else -diff
    over_budget = s.max_cost_ratio is not None and cost_ratio is not None and cost_ratio > s.max_cost_ratio
    cost_unknown = s.max_cost_ratio is not None and cost_ratio is None
    word = "worse" if hib else "higher (worse)"
    budget = (f"cost ratio {cost_ratio:.3g} over the budget {s.max_cost_ratio:g}" if over_budget else "")
    needed = None
    # FAIL also needs the exact test of no difference to agree, one-sided: the score interval
    # is asymptotic, and with a handful of cases (4 of 4 discordant) it alone would call a
    # difference the exact McNemar test cannot (p = 0.125), which would read as a contradiction.
    exact_worse = oriented < 0 and p_value / 2.0 < 1.0 - s.level
    if best < -s.margin and exact_worse:
        verdict = "FAIL"
        reason = f"significantly {word} than {inc} by more than the margin {s.margin:g}" + (
            f"; and {budget}" if budget else "")
    elif over_budget:
        verdict, reason = "FAIL", budget
    elif worst > -s.margin and not cost_unknown:
        verdict, reason = "PASS", f"not {word} than {inc} by more than the margin {s.margin:g}"
    elif worst > -s.margin:  # quality settled, but the budget could not be checked
        verdict = "INCONCLUSIVE"
        reason = f"not {word} by more than the margin, but the cost ratio is unknown, so the budget is unchecked"
    else:
        verdict = "INCONCLUSIVE"
        needed = _needed(a, b, oriented, hib, s)
        if best < -s.margin:
            reason = (f"{word} than {inc} by more than the margin by the interval, but with {n} shared cases "
                      f"the exact test of no difference cannot confirm it (p={p_value:.3g})")
        else:
            reason = f"cannot tell whether {word} than {inc} by more than the margin {s.margin:g} with {n} shared cases"
    return {"diff": diff, "lo": lo, "hi": hi, "p_value": p_value, "method": method,
            "verdict": verdict, "reason": reason, "cases_needed": needed}
