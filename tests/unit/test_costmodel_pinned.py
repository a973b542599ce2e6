"""costmodel.py pinned by hand computation where mutation testing found its tests loose
(docs/mutation-testing.md): alpha boundaries with one-sided intervals, the price each cost
model charges, and one group's cost with its interval over timing rounds."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from pytest_llmselect.cost import Price
from pytest_llmselect.costmodel import (
    DEFAULT_TOKEN_PRICE,
    DEFAULT_USD_PER_PFLOP,
    Estimate,
    alpha_boundaries,
    effective_price,
    ROUND_SPREAD,
    RUN_DRIFT,
    group_cost,
)

# ------------------------------------------------------------------------- alpha boundaries


def test_boundary_bounds_from_one_sided_intervals() -> None:
    # cheap (cost 1 +0.2/-0.1, loss 0.5 +-0.02) below expensive (cost 3 -0.3/+0.1, loss 0.1).
    cheap = Estimate("cheap", 1.0, 0.9, 1.2, 0.5, 0.48, 0.52)
    dear = Estimate("dear", 3.0, 2.7, 3.1, 0.1, None, None)
    ranges = {"dear": (5.0, math.inf), "cheap": (0.0, 5.0)}
    (b,) = alpha_boundaries(ranges, [dear, cheap])
    hc = math.hypot(0.2, 0.3)   # each cost's wider side
    hl = math.hypot(0.02, 0.0)  # a loss without an interval counts as exact
    assert (b["alpha"], b["below"], b["above"], b["uncertain"], b["reason"]) == (5.0, "cheap", "dear", False, None)
    assert b["lo"] == pytest.approx((2.0 - hc) / (0.4 + hl))
    assert b["hi"] == pytest.approx((2.0 + hc) / (0.4 - hl))


def test_uncertain_boundaries_say_which_difference_is_within_its_interval() -> None:
    a = Estimate("a", 1.0, 0.0, 2.0, 0.5, 0.45, 0.55)
    b = Estimate("b", 1.5, 1.4, 1.6, 0.1, 0.05, 0.15)
    c = Estimate("c", 9.0, 8.9, 9.1, 0.08, 0.0, 0.3)
    ranges = {"a": (0.0, 1.25), "b": (1.25, 400.0), "c": (400.0, math.inf)}
    first, second = alpha_boundaries(ranges, [a, b, c])
    assert (first["below"], first["above"], first["uncertain"]) == ("a", "b", True)
    assert first["reason"] == "cost difference within its interval"
    assert (first["lo"], first["hi"]) == (None, None)
    assert (second["below"], second["above"]) == ("b", "c")
    assert second["reason"] == "loss difference within its interval"
    both = alpha_boundaries({"a": (0.0, 1.0), "c": (1.0, math.inf)},
                            [Estimate("a", 1.0, 0.0, 10.0, 0.5, 0.0, 1.0), c])
    assert both[0]["reason"] == "cost difference within its interval; loss difference within its interval"


def test_a_difference_exactly_its_half_width_is_uncertain() -> None:
    a = Estimate("a", 1.0, 1.0, 1.0, 0.5, 0.5, 0.5)
    b = Estimate("b", 2.0, 1.0, 3.0, 0.25, 0.0, 0.5)  # cost differs by 1 = half-width 1
    (bd,) = alpha_boundaries({"a": (0.0, 4.0), "b": (4.0, math.inf)}, [a, b])
    assert bd["uncertain"] is True and "cost difference" in bd["reason"] and "loss difference" in bd["reason"]


def test_boundaries_follow_alpha_order_and_skip_unknown_candidates() -> None:
    e = {n: Estimate(n, c, c, c, l, l, l) for n, c, l in (("x", 1.0, 0.5), ("y", 2.0, 0.3), ("z", 4.0, 0.2))}
    ranges = {"z": (10.0, math.inf), "x": (0.0, 5.0), "y": (5.0, 10.0), "w": None}
    got = alpha_boundaries(ranges, list(e.values()))
    assert [(b["below"], b["above"], b["alpha"]) for b in got] == [("x", "y", 5.0), ("y", "z", 10.0)]
    # exact estimates: the boundary is exactly the crossing
    assert (got[0]["lo"], got[0]["hi"]) == pytest.approx((5.0, 5.0))
    # a candidate with no estimate leaves its boundaries out, the others stay
    got = alpha_boundaries(ranges, [e["x"], e["z"]])
    assert got == []
    got = alpha_boundaries(ranges, [e["y"], e["z"]])
    assert [(b["below"], b["above"]) for b in got] == [("y", "z")]


# ---------------------------------------------------------------------------- prices


def test_time_model_drops_a_price_per_pflop_and_keeps_the_rest() -> None:
    p = Price(usd_per_hour=2.0, usd_per_million_input_tokens=0.5, usd_per_million_output_tokens=1.5,
              usd_per_pflop=0.01, usd_per_kwh=0.3, source="configured")
    got = effective_price(p, Price(usd_per_hour=1.0, source="default"), "time")
    assert got == Price(usd_per_hour=2.0, usd_per_million_input_tokens=0.5, usd_per_million_output_tokens=1.5,
                        usd_per_kwh=0.3, source="configured")
    default = Price(usd_per_hour=1.0, usd_per_pflop=0.02, usd_per_kwh=0.1, source="default")
    assert effective_price(Price(usd_per_pflop=0.01), default, "time") == Price(
        usd_per_hour=1.0, usd_per_kwh=0.1, source="default")


def test_tokens_model_fills_a_missing_side_with_zero() -> None:
    p = Price(usd_per_million_output_tokens=2.0, usd_per_kwh=0.2)
    assert effective_price(p, Price(usd_per_hour=1.0), "tokens") == Price(
        usd_per_million_input_tokens=0.0, usd_per_million_output_tokens=2.0, usd_per_kwh=0.2)
    p = Price(usd_per_million_input_tokens=3.0, source="default")
    assert effective_price(None, p, "tokens") == Price(
        usd_per_million_input_tokens=3.0, usd_per_million_output_tokens=0.0, source="default")
    assert effective_price(Price(usd_per_hour=1.0), Price(usd_per_hour=1.0), "tokens") == DEFAULT_TOKEN_PRICE


def test_flops_model_keeps_the_energy_price() -> None:
    p = Price(usd_per_hour=1.0, usd_per_pflop=0.01, usd_per_kwh=0.25)
    assert effective_price(p, Price(usd_per_hour=1.0), "flops") == Price(usd_per_pflop=0.01, usd_per_kwh=0.25)
    assert effective_price(None, Price(usd_per_hour=1.0), "flops") == Price(
        usd_per_pflop=DEFAULT_USD_PER_PFLOP, source="default")


# ------------------------------------------------------------------------- group cost


def test_time_cost_interval_is_the_t_interval_of_the_rounds() -> None:
    m = {"model_seconds": 12.0, "round_seconds": [11.0, 12.0, 13.0, 12.5], "input_tokens": 10, "output_tokens": 5}
    price = Price(usd_per_hour=3.6)  # $0.001 per second
    cost, lo, hi, method = group_cost(20, m, price, 0.9, "time", drift=0.0)
    rounds = m["round_seconds"]
    mean = sum(rounds) / 4
    sd = math.sqrt(sum((r - mean) ** 2 for r in rounds) / 3)
    half = float(sps.t.ppf(0.95, 3)) * sd / 2
    assert cost == pytest.approx(12.0 * 0.001 * 1000 / 20)
    assert (lo, hi) == pytest.approx(((12.0 - half) * 0.05, (12.0 + half) * 0.05))
    assert method == "t interval over 4 timing rounds"
    # Two rounds are enough for a rounds interval; one gives none without a drift allowance...
    assert group_cost(20, {**m, "round_seconds": [11.0, 13.0]}, price, 0.9, "time")[1] is not None
    assert group_cost(20, {**m, "round_seconds": [12.0]}, price, 0.9, "time", drift=0.0)[1:] == (
        None, None, "one timing round: no interval")


def test_one_timing_round_gets_the_run_level_drift_allowance_alone() -> None:
    """One round has no spread; its interval is mean +- z * hypot(RUN_DRIFT, ROUND_SPREAD) * mean,
    said in cost_method."""
    price = Price(usd_per_hour=3.6)  # $0.001 per second
    cost, lo, hi, method = group_cost(20, {"model_seconds": 12.0, "round_seconds": [12.0]}, price, 0.9, "time")
    half = float(sps.norm.ppf(0.95)) * math.hypot(RUN_DRIFT, ROUND_SPREAD) * 12.0
    assert (lo, hi) == pytest.approx(((12.0 - half) * 0.05, (12.0 + half) * 0.05))
    assert cost == pytest.approx(12.0 * 0.05)
    assert method == (f"one timing round; interval from the {100 * RUN_DRIFT:.0f}% run-level drift allowance "
                      f"and the {100 * ROUND_SPREAD:.0f}% spread of rounds measured on a shared machine")
    # Served whole from the cache, timed in one round when computed: the same interval, and said.
    cached = {"model_seconds": 12.0, "requests": 4, "cache_hits": 4}
    _, lo2, hi2, method2 = group_cost(20, cached, price, 0.9, "time")
    assert (lo2, hi2) == pytest.approx((lo, hi)) and method2 == f"{method}; from the response cache, as first measured"


def test_time_cost_interval_allows_for_run_level_drift_by_default() -> None:
    """The rounds of one run cannot show a load that slows the whole run: by default the
    interval's half-width and z * RUN_DRIFT * mean add in quadrature."""
    m = {"model_seconds": 12.0, "round_seconds": [11.0, 12.0, 13.0, 12.5]}
    price = Price(usd_per_hour=3.6)
    _, lo0, hi0, _ = group_cost(20, m, price, 0.9, "time", drift=0.0)
    cost, lo, hi, method = group_cost(20, m, price, 0.9, "time")
    half0 = (hi0 - lo0) / 2 / 0.05  # in seconds
    want = math.hypot(half0, float(sps.norm.ppf(0.95)) * RUN_DRIFT * 12.125)
    assert (hi - lo) / 2 / 0.05 == pytest.approx(want)
    assert lo < lo0 and hi > hi0 and f"{100 * RUN_DRIFT:.0f}% run-level drift" in method


def test_time_cost_interval_is_floored_at_no_time() -> None:
    m = {"model_seconds": 0.5, "round_seconds": [0.1, 5.0]}
    cost, lo, hi, _ = group_cost(10, m, Price(usd_per_hour=3.6), 0.95, "time")
    assert lo == 0.0 and hi > cost


def test_tokens_cost_is_exact_and_counts_both_sides() -> None:
    m = {"model_seconds": 3.0, "input_tokens": 2000, "output_tokens": 500, "round_seconds": [1.0, 2.0]}
    price = Price(usd_per_million_input_tokens=1.0, usd_per_million_output_tokens=4.0)
    cost, lo, hi, method = group_cost(4, m, price, 0.95, "tokens")
    assert cost == lo == hi == pytest.approx((2000 * 1.0 + 500 * 4.0) / 1e6 * 1000 / 4)
    assert method == "exact: deterministic (tokens cost model)"


def test_flops_cost_and_an_unknown_parameter_count() -> None:
    price = Price(usd_per_pflop=0.5)
    cost, lo, hi, method = group_cost(10, {"flops": 4e15}, price, 0.95, "flops")
    assert cost == lo == hi == pytest.approx(4 * 0.5 * 1000 / 10)
    assert method == "exact: deterministic (flops cost model)"
    cost, _, _, method = group_cost(10, {"input_tokens": 5}, price, 0.95, "flops")
    assert cost == 0.0
    assert method == ("exact: deterministic (flops cost model); parameter count unknown, so the FLOPs part "
                      "is 0: NOT a measurement")


def test_energy_is_charged_where_measured_and_said_where_not() -> None:
    price = Price(usd_per_hour=3.6, usd_per_kwh=0.36)  # $0.001 per second; 3.6e6 J = 1 kWh
    cost, _, _, method = group_cost(1, {"model_seconds": 1.0, "energy_joules": 3.6e6}, price, 0.95, "time")
    assert cost == pytest.approx((0.001 + 0.36) * 1000)
    assert method == ("one timing round; interval from the 20% run-level drift allowance and the 10% spread of rounds "
                      "measured on a shared machine")
    cost, _, _, method = group_cost(1, {"model_seconds": 1.0}, price, 0.95, "time")
    assert cost == pytest.approx(0.001 * 1000)
    assert method == ("one timing round; interval from the 20% run-level drift allowance and the 10% spread of rounds measured on a shared machine; energy priced but "
                      "not measured on this machine, so not charged")
    _, _, _, method = group_cost(1, {"flops": 1e15}, Price(usd_per_pflop=1.0, usd_per_kwh=0.1), 0.95, "flops")
    assert method.endswith("; energy priced but not measured on this machine, so not charged")


# ------------------------------------------------------------------------- cost difference


def _se(lo: float, hi: float, n: int, level: float) -> float:
    return (hi - lo) / 2 / float(sps.t.ppf((1 + level) / 2, max(n - 1, 1)))


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_cost_difference_is_welchs_t_interval(level: float) -> None:
    from pytest_llmselect.costmodel import cost_difference

    a, b = (2.0, 1.8, 2.3, 4), (1.5, 1.4, 1.6, 6)
    sa, sb = _se(1.8, 2.3, 4, level), _se(1.4, 1.6, 6, level)
    var = sa**2 + sb**2
    df = max(1, int(var**2 / (sa**4 / 3 + sb**4 / 5)))  # Welch-Satterthwaite, truncated
    half = float(sps.t.ppf((1 + level) / 2, df)) * math.sqrt(var)
    got = cost_difference(a, b, level)
    assert (got.diff, got.lo, got.hi) == pytest.approx((0.5, 0.5 - half, 0.5 + half), rel=1e-12)
    assert got.within_noise == (0.5 - half <= 0 <= 0.5 + half)
    assert got.method == f"Welch t interval (df {df}) over timing rounds"
    # Reversed, the interval mirrors.
    back = cost_difference(b, a, level)
    assert (back.lo, back.hi) == pytest.approx((-got.hi, -got.lo), rel=1e-12)


def test_cost_difference_within_noise_and_one_sided_spread() -> None:
    from pytest_llmselect.costmodel import cost_difference

    close = cost_difference((2.0, 1.0, 3.0, 3), (1.9, 1.8, 2.0, 3))
    assert close.within_noise and close.lo < 0 < close.hi
    # Only b's rounds vary: df from b alone (n - 1 = 2).
    got = cost_difference((1.0, 1.0, 1.0, 3), (0.5, 0.4, 0.6, 3))
    sb = _se(0.4, 0.6, 3, 0.95)
    half = float(sps.t.ppf(0.975, 2)) * sb
    assert (got.lo, got.hi) == pytest.approx((0.5 - half, 0.5 + half), rel=1e-12)
    assert got.method == "Welch t interval (df 2) over timing rounds"


def test_cost_difference_exact_and_unknown() -> None:
    from pytest_llmselect.costmodel import cost_difference

    exact = cost_difference((2.0, 2.0, 2.0, 1), (2.0, 2.0, 2.0, 1))
    assert (exact.diff, exact.lo, exact.hi, exact.within_noise) == (0.0, 0.0, 0.0, False)
    assert exact.method == "exact: deterministic cost model"
    assert cost_difference((2.0, None, None, 1), (1.0, 0.5, 1.5, 3)) is None
    assert cost_difference((2.0, 1.5, None, 3), (1.0, 0.5, 1.5, 3)) is None
    assert cost_difference((2.0, None, 2.5, 3), (1.0, 0.5, 1.5, 3)) is None
    # One exact and one measured cost: the measured one's spread alone.
    mixed = cost_difference((2.0, 2.0, 2.0, 1), (1.0, 0.5, 1.5, 3))
    assert mixed.lo < 1.0 < mixed.hi and not mixed.method.startswith("exact")
    # Rounds that agree to the last digit (measured, no spread): exact, a tie only if equal.
    flat = cost_difference((2.0, 2.0, 2.0, 3), (1.0, 0.5, 1.5, 3))
    assert flat.lo < 1.0 < flat.hi
    none = cost_difference((1.0, 1.0, 1.0, 3), (1.0, 1.0, 1.0, 3))
    assert none.method == "exact: deterministic cost model"


def test_mean_interval_level_bounds() -> None:
    from pytest_llmselect.costmodel import mean_interval
    from pytest_llmselect.errors import SpecError

    for bad in (0.0, 1.0, True):
        with pytest.raises(SpecError, match=r"^mean_interval: `level` must be in \(0, 1\), got "):
            mean_interval([1.0, 2.0], bad)
    one = mean_interval([3.0])
    assert (one.mean, one.lo, one.hi, one.n, one.sd) == (3.0, None, None, 1, None)


# ------------------------------------------------- one- and two-round costs, missing parts
# (each test below kills mutants that the tests above let survive; docs/mutation-testing.md)


def test_mean_interval_reports_its_rounds_and_their_sample_sd() -> None:
    import statistics

    from pytest_llmselect.costmodel import mean_interval

    xs = [2.0, 3.0, 7.0]
    got = mean_interval(xs, 0.9)
    assert (got.n, got.sd) == (3, pytest.approx(statistics.stdev(xs), rel=1e-12))
    assert got.method == "t interval over 3 timing rounds"
    assert mean_interval([3.0]).method == "one timing round: no interval"


def test_cost_difference_with_two_rounds_each_uses_one_degree_of_freedom_per_cost() -> None:
    from pytest_llmselect.costmodel import cost_difference

    a, b = (2.0, 1.5, 2.5, 2), (1.0, 0.9, 1.1, 2)
    t1 = float(sps.t.ppf(0.975, 1))  # each half-width came from a t interval with n - 1 = 1
    sa, sb = 0.5 / t1, 0.1 / t1
    var = sa**2 + sb**2
    df = max(1, int(var**2 / (sa**4 / 1 + sb**4 / 1)))
    assert df == 1  # Welch-Satterthwaite lies between 1 and 2 here, truncated to 1
    half = t1 * math.sqrt(var)
    got = cost_difference(a, b)
    assert (got.lo, got.hi) == pytest.approx((1.0 - half, 1.0 + half), rel=1e-12)
    assert got.method == "Welch t interval (df 1) over timing rounds"


def test_cost_difference_two_rounds_against_five_counts_both_in_the_degrees_of_freedom() -> None:
    from pytest_llmselect.costmodel import cost_difference

    a, b = (2.0, 1.0, 3.0, 2), (1.0, 0.5, 1.5, 5)
    sa, sb = _se(1.0, 3.0, 2, 0.95), _se(0.5, 1.5, 5, 0.95)
    var = sa**2 + sb**2
    df = max(1, int(var**2 / (sa**4 / 1 + sb**4 / 4)))
    got = cost_difference(a, b)
    assert got.method == f"Welch t interval (df {df}) over timing rounds"
    half = float(sps.t.ppf(0.975, df)) * math.sqrt(var)
    assert (got.lo, got.hi) == pytest.approx((1.0 - half, 1.0 + half), rel=1e-12)


def test_cost_difference_with_an_interval_from_one_round_is_a_normal_interval() -> None:
    # An interval given with n = 1 is the run-level drift allowance and the measured round spread (with_run_drift), a
    # normal interval: its standard error is its half-width over z, and against an exact cost
    # the difference's interval is the measured one's half-width around the difference.
    from pytest_llmselect.costmodel import cost_difference

    got = cost_difference((2.0, 1.5, 2.5, 1), (1.0, 1.0, 1.0, 3))
    assert (got.diff, got.lo, got.hi) == pytest.approx((1.0, 0.5, 1.5), rel=1e-12)
    assert got.method == "normal interval from the run-level drift allowance"


def test_cost_difference_is_exact_only_when_both_sides_are() -> None:
    from pytest_llmselect.costmodel import cost_difference

    # unknown (one round) against exact: nothing to say
    assert cost_difference((2.0, None, None, 1), (1.0, 1.0, 1.0, 1)) is None
    # measured against exact, either way round: the measured spread, not "exact"
    for got in (cost_difference((1.0, 0.5, 1.5, 3), (2.0, 2.0, 2.0, 1)),
                cost_difference((2.0, 2.0, 2.0, 1), (1.0, 0.5, 1.5, 3))):
        assert got.method == "Welch t interval (df 2) over timing rounds"
        assert abs(got.diff) == 1.0 and got.lo < got.diff < got.hi


def test_boundary_bounds_take_each_candidates_wider_side_whichever_it_is() -> None:
    # a: cost wider below, loss wider below; b: cost wider above, loss wider above.
    a = Estimate("a", 1.0, 0.7, 1.1, 0.5, 0.46, 0.51)
    b = Estimate("b", 3.0, 2.9, 3.4, 0.1, 0.09, 0.13)
    (bd,) = alpha_boundaries({"a": (0.0, 5.0), "b": (5.0, math.inf)}, [a, b])
    hc, hl = math.hypot(0.3, 0.4), math.hypot(0.04, 0.03)  # 0.5 and 0.05
    assert (bd["lo"], bd["hi"]) == pytest.approx(((2.0 - hc) / (0.4 + hl), (2.0 + hc) / (0.4 - hl)))
    # and the loss the other way round: a wider above, b wider below
    a = Estimate("a", 1.0, 0.9, 1.1, 0.5, 0.49, 0.54)
    b = Estimate("b", 3.0, 2.9, 3.1, 0.1, 0.07, 0.11)
    (bd,) = alpha_boundaries({"a": (0.0, 5.0), "b": (5.0, math.inf)}, [a, b])
    hc, hl = math.hypot(0.1, 0.1), math.hypot(0.04, 0.03)
    assert (bd["lo"], bd["hi"]) == pytest.approx(((2.0 - hc) / (0.4 + hl), (2.0 + hc) / (0.4 - hl)))


def test_missing_seconds_and_tokens_cost_nothing() -> None:
    price = Price(usd_per_hour=3.6, usd_per_million_input_tokens=1e6, usd_per_million_output_tokens=2e6)
    assert group_cost(1, {}, price, 0.95, "time") == (0.0, None, None, "no model work timed: no interval")
    # each part alone: $0.001 per second, $1 per input token, $2 per output token (per case x 1000)
    assert group_cost(1, {"model_seconds": 1.0}, price, 0.95, "time")[0] == pytest.approx(1.0)
    assert group_cost(1, {"input_tokens": 1}, price, 0.95, "time")[0] == pytest.approx(1000.0)
    assert group_cost(1, {"output_tokens": 1}, price, 0.95, "time")[0] == pytest.approx(2000.0)


def test_unknown_flops_and_unmeasured_energy_are_both_said() -> None:
    _, _, _, method = group_cost(10, {"input_tokens": 5}, Price(usd_per_pflop=0.5, usd_per_kwh=0.1), 0.95, "flops")
    assert method == ("exact: deterministic (flops cost model); parameter count unknown, so the FLOPs part is 0: "
                      "NOT a measurement; energy priced but not measured on this machine, so not charged")


def test_time_model_with_only_token_prices_is_exact_despite_rounds() -> None:
    m = {"model_seconds": 6.0, "round_seconds": [1.0, 2.0, 3.0], "input_tokens": 1000, "output_tokens": 0}
    cost, lo, hi, method = group_cost(2, m, Price(usd_per_million_input_tokens=1.0), 0.95, "time")
    assert cost == lo == hi == pytest.approx(1000 / 1e6 * 1000 / 2)
    assert method == "exact: deterministic (time cost model)"


def test_flops_model_keeps_the_source_of_the_price_it_takes() -> None:
    got = effective_price(None, Price(usd_per_pflop=0.01, source="default"), "flops")
    assert (got.usd_per_pflop, got.source) == (0.01, "default")
