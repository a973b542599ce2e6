"""Cost models, and the uncertainty of a cost: intervals over timing rounds, whether two
costs differ beyond measurement noise, the objective's interval and which alpha
boundaries are uncertain. Pure: no pytest, no torch, no I/O.

Cost models (``--llm-cost-model``):

* ``time``: measured model seconds x USD per hour (plus token prices where a candidate
  has them). Varies between runs; its interval comes from repeated timing rounds.
* ``tokens``: input and output tokens x USD per million tokens, as hosted APIs bill.
  Exactly reproducible: its interval has zero width.
* ``flops``: about ``2 x parameters x tokens`` FLOPs x USD per PFLOP (1e15 FLOP).
  Hardware-independent and exactly reproducible, which suits CI gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pytest_llmselect.cost import Price, dollars_per_1000_cases
from pytest_llmselect.errors import SpecError
from pytest_llmselect.stats import sample_sd, t_quantile

__all__ = [
    "COST_MODELS",
    "DEFAULT_TOKEN_PRICE",
    "DEFAULT_USD_PER_PFLOP",
    "CostDifference",
    "MeanInterval",
    "alpha_boundaries",
    "cost_difference",
    "effective_price",
    "group_cost",
    "mean_interval",
    "normalised_rounds",
    "threads_for",
    "with_run_drift",
    "ROUND_SPREAD",
    "objective_interval",
]

COST_MODELS = ("time", "tokens", "flops")

#: Assumed price of compute for the ``flops`` model: one H100-class GPU rented at about
#: $2.50 per hour, doing useful work at about 35% of its ~1 PFLOP/s dense bf16 peak,
#: costs 2.50 / 3600 / 0.35 = about $0.002 per PFLOP. An assumption that makes costs
#: comparable between candidates, not a quote; set ``usd_per_pflop`` for a real one.
DEFAULT_USD_PER_PFLOP = 0.002

#: Assumed token prices for the ``tokens`` model when a candidate has none: the order
#: of what small hosted models are billed (USD per million input / output tokens).
DEFAULT_TOKEN_PRICE = Price(usd_per_million_input_tokens=0.10, usd_per_million_output_tokens=0.40,
                            source="default")


def _check_model(cost_model: object) -> str:
    if cost_model not in COST_MODELS:
        raise SpecError(f"cost model must be one of {', '.join(COST_MODELS)}, got {cost_model!r}")
    return str(cost_model)


def effective_price(price: Price | None, default: Price, cost_model: str) -> Price:
    """The price a candidate is charged under ``cost_model``.

    ``price`` is the candidate's own (None: none configured), ``default`` the session's.
    ``time``: the candidate's hourly or token price, else the default (never a price per
    PFLOP). ``tokens``: the first of the two
    that has a token price, else ``DEFAULT_TOKEN_PRICE``. ``flops``: the first that has
    ``usd_per_pflop``, else ``DEFAULT_USD_PER_PFLOP`` marked as a default. Raises
    ``SpecError`` for an unknown cost model.
    """
    cost_model = _check_model(cost_model)
    if cost_model == "time":
        # A price per PFLOP belongs to the flops model; a candidate priced only that way runs
        # on the default machine price here.
        p = price if price is not None and (price.usd_per_hour is not None or price.uses_tokens) else default
        if p.usd_per_pflop is None:
            return p
        return Price(usd_per_hour=p.usd_per_hour, usd_per_million_input_tokens=p.usd_per_million_input_tokens,
                     usd_per_million_output_tokens=p.usd_per_million_output_tokens, usd_per_kwh=p.usd_per_kwh,
                     source=p.source)
    if cost_model == "tokens":
        for p in (price, default):
            if p is not None and p.uses_tokens:
                return Price(usd_per_million_input_tokens=p.usd_per_million_input_tokens or 0.0,
                             usd_per_million_output_tokens=p.usd_per_million_output_tokens or 0.0,
                             usd_per_kwh=p.usd_per_kwh, source=p.source)
        return DEFAULT_TOKEN_PRICE
    for p in (price, default):
        if p is not None and p.usd_per_pflop is not None:
            return Price(usd_per_pflop=p.usd_per_pflop, usd_per_kwh=p.usd_per_kwh, source=p.source)
    return Price(usd_per_pflop=DEFAULT_USD_PER_PFLOP, source="default")


@dataclass(frozen=True)
class MeanInterval:
    """Mean of repeated measurements with a two-sided Student-t interval.

    ``lo``/``hi`` are None with fewer than two values (no spread to estimate); ``sd``
    is the sample standard deviation (None likewise).
    """

    mean: float
    lo: float | None
    hi: float | None
    n: int
    sd: float | None
    method: str


def mean_interval(values: Sequence[float], level: float = 0.95) -> MeanInterval:
    """Mean of ``values`` (e.g. seconds of each timing round) and its t interval.

    ``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)`` (Student 1908; exact coverage for
    normal rounds, approximate otherwise). Raises ``SpecError`` for an empty sequence,
    a non-finite value or a level outside (0, 1).
    """
    xs = [float(v) for v in values]
    if not xs or not all(math.isfinite(x) for x in xs):
        raise SpecError(f"mean_interval: `values` must be a non-empty sequence of finite numbers, got {values!r}")
    if isinstance(level, bool) or not 0 < level < 1:
        raise SpecError(f"mean_interval: `level` must be in (0, 1), got {level!r}")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return MeanInterval(mean, None, None, n, None, "one timing round: no interval")
    sd = sample_sd(xs, mean)
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return MeanInterval(mean, mean - half, mean + half, n, sd, f"t interval over {n} timing rounds")


@dataclass(frozen=True)
class CostDifference:
    """``a - b`` of two costs with its interval; ``within_noise`` when the interval holds 0."""

    diff: float
    lo: float
    hi: float
    within_noise: bool
    method: str


def cost_difference(a: tuple[float, float | None, float | None, int],
                    b: tuple[float, float | None, float | None, int],
                    level: float = 0.95) -> CostDifference | None:
    """Compare two costs, each given as ``(cost, lo, hi, rounds)``.

    A cost with ``lo``/``hi`` None or equal to it is exact (deterministic cost model).
    Each measured cost's half-width gives back its standard error through its own t
    quantile; the difference uses Welch's t with Welch-Satterthwaite degrees of freedom
    (Welch 1947). Two exact costs differ exactly: never within noise (equal ones are a tie,
    which the selection reports as such).
    A measured cost of one round has a normal interval (the run-level drift allowance and the measured round spread,
    ``with_run_drift``), so its standard error comes back through the normal quantile.
    Returns None when a measured cost has no interval.
    """
    from pytest_llmselect.stats import normal_quantile

    def se(c: tuple[float, float | None, float | None, int]) -> float | None:
        cost, lo, hi, n = c
        if lo is None or hi is None:
            return None
        if hi == lo:
            return 0.0
        q = t_quantile((1 + level) / 2, n - 1) if n >= 2 else normal_quantile((1 + level) / 2)
        return (hi - lo) / 2 / q

    sa, sb = se(a), se(b)
    diff = a[0] - b[0]
    exact = (a[1] is not None and a[1] == a[2]) and (b[1] is not None and b[1] == b[2])
    if exact:
        return CostDifference(diff, diff, diff, False, "exact: deterministic cost model")
    if sa is None or sb is None:
        return None
    # Not both exact, so at least one standard error is > 0. Welch-Satterthwaite is scale-free:
    # computed on the errors relative to the larger one, no finite cost overflows or underflows it.
    scale = max(sa, sb)
    terms = [((s / scale) ** 2, n - 1) for s, n in ((sa, a[3]), (sb, b[3])) if s > 0 and n > 1]
    rel_var = (sa / scale) ** 2 + (sb / scale) ** 2
    if not terms:  # one round each (or one exact): normal intervals from the drift allowance
        half = normal_quantile((1 + level) / 2) * math.hypot(sa, sb)
        lo, hi = diff - half, diff + half
        return CostDifference(diff, lo, hi, lo <= 0 <= hi, "normal interval from the run-level drift allowance")
    # A one-round cost's normal interval has infinite degrees of freedom: no term of its own.
    df = max(1, int(rel_var * rel_var / math.fsum(v * v / d for v, d in terms)))
    half = t_quantile((1 + level) / 2, df) * math.hypot(sa, sb)
    lo, hi = diff - half, diff + half
    return CostDifference(diff, lo, hi, lo <= 0 <= hi, f"Welch t interval (df {df}) over timing rounds")


def objective_interval(cost: float, cost_lo: float | None, cost_hi: float | None,
                       loss: float, loss_lo: float | None, loss_hi: float | None,
                       alpha: float) -> tuple[float, float]:
    """Interval of ``cost + alpha * loss`` from the intervals of its two parts.

    The two errors are independent (timing noise vs which cases were sampled), so each
    side's half-widths add in quadrature: ``lower = objective - sqrt(dc_lo^2 + (alpha *
    dl_lo)^2)`` and likewise above. A part without an interval counts as exact.
    """
    objective = cost + alpha * loss
    dc_lo = cost - cost_lo if cost_lo is not None else 0.0
    dc_hi = cost_hi - cost if cost_hi is not None else 0.0
    dl_lo = loss - loss_lo if loss_lo is not None else 0.0
    dl_hi = loss_hi - loss if loss_hi is not None else 0.0
    lower = objective - math.hypot(max(dc_lo, 0.0), alpha * max(dl_lo, 0.0))
    upper = objective + math.hypot(max(dc_hi, 0.0), alpha * max(dl_hi, 0.0))
    return lower, upper


@dataclass(frozen=True)
class Estimate:
    """What ``alpha_boundaries`` needs of one candidate: cost and loss with intervals."""

    name: str
    cost: float
    cost_lo: float | None
    cost_hi: float | None
    loss: float
    loss_lo: float | None
    loss_hi: float | None


def _half(value: float, lo: float | None, hi: float | None) -> float:
    return max(value - lo if lo is not None else 0.0, hi - value if hi is not None else 0.0)


def alpha_boundaries(ranges: dict[str, tuple[float, float] | None],
                     estimates: Sequence[Estimate]) -> list[dict[str, object]]:
    """The alpha values where the selection changes hands, and how sure each one is.

    ``ranges`` as ``selection.alpha_ranges``. At a boundary ``alpha* = (cost_above -
    cost_below) / (loss_below - loss_above)``; each difference gets the half-widths of
    its two candidates added in quadrature (independent intervals; conservative against
    a paired comparison). The boundary is ``uncertain`` when either difference interval
    holds 0: then the two candidates' order on cost or on loss is not established, and
    the boundary could lie anywhere from 0 to infinity. Otherwise ``lo``/``hi`` bound it.
    """
    by_name = {e.name: e for e in estimates}
    spans = sorted(((r[0], r[1], n) for n, r in ranges.items() if r is not None), key=lambda t: (t[0], t[1]))
    out: list[dict[str, object]] = []
    for (lo1, hi1, below), (lo2, _hi2, above) in zip(spans, spans[1:]):
        a, b = by_name.get(below), by_name.get(above)
        if a is None or b is None or math.isinf(hi1):
            continue
        dc = b.cost - a.cost
        dl = a.loss - b.loss
        hc = math.hypot(_half(a.cost, a.cost_lo, a.cost_hi), _half(b.cost, b.cost_lo, b.cost_hi))
        hl = math.hypot(_half(a.loss, a.loss_lo, a.loss_hi), _half(b.loss, b.loss_lo, b.loss_hi))
        reasons = []
        if dc - hc <= 0:
            reasons.append("cost difference within its interval")
        if dl - hl <= 0:
            reasons.append("loss difference within its interval")
        entry: dict[str, object] = {"alpha": hi1, "below": below, "above": above,
                                    "uncertain": bool(reasons), "reason": "; ".join(reasons) or None,
                                    "lo": None, "hi": None}
        if not reasons:
            entry["lo"] = (dc - hc) / (dl + hl)
            entry["hi"] = (dc + hc) / (dl - hl)
        out.append(entry)
    return out


def group_cost(n: int, m: Mapping[str, Any], price: Price, level: float, cost_model: str,
               drift: float | None = None) -> tuple[float, float | None, float | None, str]:
    """(cost, cost_lo, cost_hi, cost_method) of one (task, candidate) group in USD per 1,000 cases.

    ``m`` is the group's ``measures`` (report schema), ``n`` its cases, ``price`` already the
    one ``cost_model`` charges (``effective_price``). Under ``time`` with an hourly price the
    interval is the cost at the ends of the t interval of the round seconds (``mean_interval``)
    shifted to ``model_seconds`` and widened by a run-level ``drift`` (``with_run_drift``;
    default ``RUN_DRIFT``; 0 for none): the rounds of one run share the machine's state, so
    their spread alone misses a load that slows the whole run. With one round (the default
    where cost cannot change the pick, run/retiming.py) the interval is that drift allowance
    alone. Otherwise the cost is exact (lo == hi == cost)."""
    seconds = float(m.get("model_seconds") or 0.0)
    flops = m.get("flops")
    energy = m.get("energy_joules")
    method_extra = ""
    if cost_model == "flops" and flops is None:
        flops, method_extra = 0.0, "; parameter count unknown, so the FLOPs part is 0: NOT a measurement"

    def at(s_: float) -> float:
        return dollars_per_1000_cases(
            n_cases=n, model_seconds=s_, input_tokens=int(m.get("input_tokens") or 0),
            output_tokens=int(m.get("output_tokens") or 0), flops=flops, energy_joules=energy, price=price)

    cost = at(seconds)
    if price.usd_per_kwh is not None and energy is None:
        method_extra += "; energy priced but not measured on this machine, so not charged"
    if cost_model != "time" or price.usd_per_hour is None:
        return cost, cost, cost, f"exact: deterministic ({cost_model} cost model){method_extra}"
    rounds = [float(x) for x in m.get("round_seconds") or []] or ([seconds] if seconds > 0 else [])
    if not rounds:
        return cost, None, None, f"no model work timed: no interval{method_extra}"
    if not all(math.isfinite(x) for x in rounds):
        return cost, None, None, f"timing rounds not finite: no interval{method_extra}"
    est = with_run_drift(mean_interval(rounds, level), level, RUN_DRIFT if drift is None else drift)
    if est.lo is None:  # one round and no drift allowance: nothing to say
        return cost, None, None, f"{est.method}{method_extra}"
    if len(rounds) < 2 and m.get("cache_hits") and m.get("cache_hits") == m.get("requests"):
        method_extra = f"; from the response cache, as first measured{method_extra}"
    half = est.mean - est.lo if est.lo is not None else 0.0
    return cost, at(max(0.0, seconds - half)), at(seconds + half), est.method + method_extra


def normalised_rounds(rounds: Sequence[float], reference: Sequence[float], nominal: float) -> list[float]:
    """Each timed round's seconds in the machine's present speed: ``seconds * nominal /
    reference``, where ``reference`` holds the seconds a fixed reference workload took beside
    that round (timed just before and after it, averaged) and ``nominal`` what it takes on the
    machine unloaded. A load that slows the model and the reference alike cancels, so a round
    taken while other work competes for the cores counts what it would cost on its own.

    Raises ``SpecError`` when the two sequences differ in length or hold a value that is not
    a finite number > 0."""
    xs, rs = [float(x) for x in rounds], [float(r) for r in reference]
    if len(xs) != len(rs) or not xs:
        raise SpecError(f"normalised_rounds: `rounds` and `reference` must be equally long and non-empty, "
                        f"got {len(xs)} and {len(rs)}")
    if not all(math.isfinite(v) and v >= 0 for v in xs) or not all(math.isfinite(v) and v > 0 for v in rs):
        raise SpecError("normalised_rounds: round seconds must be finite and >= 0, reference seconds > 0")
    if not (math.isfinite(nominal) and nominal > 0):
        raise SpecError(f"normalised_rounds: `nominal` must be a finite number > 0, got {nominal!r}")
    return [x * nominal / r for x, r in zip(xs, rs)]


#: Run-level drift of a timed cost between runs on a busy machine, as a relative standard
#: error per candidate: the rounds of one run share the machine's state, so their spread
#: cannot show it. Measured with benchmarks/bench_cost_load.py on a shared two-core machine
#: (load average about 10, one torch thread, 200 cases, 6 runs): each candidate's mean
#: round seconds varied between runs with a coefficient of variation of 5-11%. The allowance
#: is twice the largest of those: in benchmarks/calibration_truths.drift_coverage (2,000 runs)
#: a 20% allowance kept 94.8-95.6% coverage under a 20% drift, a 10% one only 67-76%.
RUN_DRIFT = 0.2


#: Spread between the timed rounds of one run, as a coefficient of variation: a median 10%
#: (90th percentile 14-19%, largest 25%) over 24 groups of the bundled suites on a shared
#: two-core machine, one torch thread (benchmarks/bench_timing_rounds.py; benchmarks/README.md,
#: "Timing that follows the decision"). A cost timed in one round has no spread of its own to
#: show, so this measured one stands in for it.
ROUND_SPREAD = 0.1

#: ``cost_method`` of a cost timed in one round: the drift allowance and the measured round spread.
ONE_ROUND_METHOD = ("one timing round; interval from the {drift:.0f}% run-level drift allowance and "
                    "the {spread:.0f}% spread of rounds measured on a shared machine")


def with_run_drift(mean: MeanInterval, level: float = 0.95, drift: float = RUN_DRIFT) -> MeanInterval:
    """``mean``'s interval widened by a run-level drift: its half-width and ``z * drift *
    mean`` added in quadrature (independent errors: which rounds were drawn, and the state
    of the machine over the whole run).

    With one round (no spread of rounds to measure) the interval is ``mean +- z *
    hypot(drift, ROUND_SPREAD) * mean``: the drift allowance and, in place of the spread the
    round cannot show, the spread of rounds measured on the shared two-core machine (a median
    10%, ``ROUND_SPREAD``). At that spread a one-round interval (half-width 44% of the mean at
    95%) is about as wide as a three-round one (46%). Where the cost can change the pick,
    run/retiming.py times more rounds, and their own spread is used."""
    if not (math.isfinite(drift) and drift > 0):
        return mean
    from pytest_llmselect.stats import normal_quantile

    z = normal_quantile((1 + level) / 2)
    allowance = z * drift * abs(mean.mean)
    if mean.lo is None or mean.hi is None:
        if mean.n != 1:
            return mean
        one = z * math.hypot(drift, ROUND_SPREAD) * abs(mean.mean)
        return MeanInterval(mean.mean, mean.mean - one, mean.mean + one, 1, None,
                            ONE_ROUND_METHOD.format(drift=100 * drift, spread=100 * ROUND_SPREAD))
    half = math.hypot(mean.hi - mean.mean, allowance)
    return MeanInterval(mean.mean, mean.mean - half, mean.mean + half, mean.n, mean.sd,
                        f"{mean.method}, widened by a {100 * drift:.0f}% run-level drift")


def threads_for(requested: int | None, load_average: float | None, cores: int | None) -> int | None:
    """Torch threads for timing local models: the ``requested`` count when set; else one
    thread when the machine is busy (the 1-minute load average at least the number of cores),
    since several threads contending with other processes for the cores make round times,
    and so cost ratios, vary wildly (measured: zoo:small/zoo:tiny over 6 runs spanned 10.8x
    with torch's default threads and 1.3x with one, benchmarks/bench_cost_load.py); else None
    (torch's default)."""
    if requested is not None:
        return requested
    if load_average is not None and cores and load_average >= cores:
        return 1
    return None
