"""The decision core: the stratified, clustered objective test, its pick probability, cases to
settle, the clear-pick rule and the tie-break. Each rule pinned at its boundary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmselect.confidence import objective_compare
from pytest_llmselect.costmodel import normalised_rounds
from pytest_llmselect.decision import SETTLE_CAP, Stratum, compare, settle, unit_loss
from pytest_llmselect.pick_chance import pick_shares
from pytest_llmselect.verdicts import clear_pick
from pytest_llmselect.errors import SpecError
from pytest_llmselect.selection import Point, select


def _st(a, b, groups=None, cost_a=0.0, cost_b=0.0, se_a=0.0, se_b=0.0, weight=1.0) -> Stratum:
    return Stratum(losses={"a": a, "b": b}, costs={"a": cost_a, "b": cost_b}, cost_se={"a": se_a, "b": se_b},
                   groups=groups, weight=weight)


def test_without_groups_a_binary_task_is_mcnemars_test_with_edwards_correction() -> None:
    a = [1.0] * 7 + [0.0] * 2 + [0.0] * 11
    b = [0.0] * 7 + [1.0] * 2 + [0.0] * 11
    new = compare([_st(a, b)], "a", "b", alpha=1.0)
    old = objective_compare(a, b, alpha=1.0)
    assert new.p_value == pytest.approx(old.p_value, rel=1e-9)  # (|7 - 2| - 1) / sqrt(9)
    assert new.p_value == pytest.approx(math.erfc(4 / 3 / math.sqrt(2)), rel=1e-9)


def test_groups_of_identical_cases_count_as_one_each() -> None:
    # 15 of 20 cases favour b, but they are three groups of five identical cases (of four).
    a = [1.0] * 15 + [0.0] * 5
    b = [0.0] * 20
    groups = [i // 5 for i in range(20)]
    assert compare([_st(a, b)], "a", "b", alpha=1.0).worse
    grouped = compare([_st(a, b, groups)], "a", "b", alpha=1.0)
    assert not grouped.worse and grouped.lo <= 0 <= grouped.hi


def test_a_case_without_a_group_is_its_own_cluster() -> None:
    a = [1.0] * 15 + [0.0] * 5
    b = [0.0] * 20
    assert compare([_st(a, b, [None] * 20)], "a", "b", alpha=1.0).p_value == pytest.approx(
        compare([_st(a, b)], "a", "b", alpha=1.0).p_value)


losses01 = st.lists(st.sampled_from([0.0, 1.0]), min_size=2, max_size=30)


@st.composite
def strata(draw):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(2, 30))
        cont = draw(st.booleans())
        vals = st.floats(0.0, 1.0) if cont else st.sampled_from([0.0, 1.0])
        a = draw(st.lists(vals, min_size=n, max_size=n))
        b = draw(st.lists(vals, min_size=n, max_size=n))
        groups = draw(st.one_of(st.none(), st.lists(st.integers(0, 4), min_size=n, max_size=n)))
        out.append(_st(a, b, groups, cost_a=draw(st.floats(0, 5)), cost_b=draw(st.floats(0, 5)),
                       se_a=draw(st.sampled_from([0.0, 0.1, 1.0])), weight=draw(st.floats(0.1, 3))))
    return out


@settings(max_examples=150, deadline=None)
@given(strata(), st.floats(0.0, 100.0), st.sampled_from([0.8, 0.95]), st.integers(1, 3))
def test_verdict_and_interval_never_contradict(ss, alpha, level, m) -> None:
    cmp = compare(ss, "a", "b", alpha=alpha, level=level, m=m)
    significant = cmp.p_adjusted < 1 - level
    assert cmp.lo <= cmp.diff <= cmp.hi
    assert cmp.worse == (significant and cmp.diff > 0)
    assert cmp.better == (significant and cmp.diff < 0)
    assert (cmp.lo <= 0 <= cmp.hi) == (not significant)


def test_tasks_are_weighted_strata() -> None:
    good = _st([1.0] * 30, [0.0] * 30)
    tie = _st([0.0] * 30, [0.0] * 30)
    heavy = compare([good, Stratum(tie.losses, tie.costs, weight=0.0001)], "a", "b", alpha=1.0)
    light = compare([Stratum(good.losses, good.costs, weight=0.0001), tie], "a", "b", alpha=1.0)
    assert heavy.diff == pytest.approx(1.0, rel=1e-3) and heavy.worse
    assert light.diff == pytest.approx(1e-4, rel=1e-2) and not light.worse


def test_an_exact_tie_is_split_and_never_settles() -> None:
    ss = [_st([1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0])]
    shares = pick_shares(ss, ["a", "b"], "a", alpha=1.0, clear=False)
    assert shares["a"] == pytest.approx(0.5, abs=0.03)
    out = settle(ss, "a", ["b"], alpha=1.0)
    assert out.cases is None and "exact tie" in out.reason


@pytest.mark.parametrize("differing", [1, 2, 3, 4, 5])
def test_a_handful_of_differing_cases_never_reads_certain(differing: int) -> None:
    ss = [_st([1.0] * differing + [0.0] * 10, [0.0] * (differing + 10))]
    shares = pick_shares(ss, ["a", "b"], "b", alpha=1.0, clear=compare(ss, "a", "b", alpha=1.0).worse)
    assert shares["b"] < 0.95
    assert shares["a"] + shares["b"] == pytest.approx(1.0)


def test_the_share_is_capped_at_the_level_when_not_clear() -> None:
    ss = [_st([1.0] * 40 + [0.0] * 60, [0.0] * 100)]
    free = pick_shares(ss, ["a", "b"], "b", alpha=1.0, clear=True)
    capped = pick_shares(ss, ["a", "b"], "b", alpha=1.0, clear=False, level=0.9)
    assert free["b"] > 0.9
    assert capped["b"] == 0.9 and capped["a"] == pytest.approx(0.1)


def test_cases_to_settle_exceed_the_cases_run_and_cap_at_practically_a_tie() -> None:
    ss = [_st([1.0] * 3 + [0.0] * 17, [0.0] * 20)]
    out = settle(ss, "b", ["a"], alpha=1.0)
    assert out.cases is not None and out.cases > 20 and out.reason is None
    # One differing case in 10,000 would need far more than the cap.
    tiny = [_st([1.0] + [0.0] * 9_999, [0.0] * 10_000)]
    far = settle(tiny, "b", ["a"], alpha=1.0, cap=SETTLE_CAP)
    assert far.cases is None and f"{SETTLE_CAP:,}" in far.reason and "practically a tie" in far.reason


def test_cases_to_settle_is_never_the_current_n() -> None:
    # Already past the power target: still one more case, never "about 20 cases (now 20)".
    ss = [_st([1.0] * 12 + [0.0] * 8, [0.0] * 20)]
    out = settle(ss, "b", ["a"], alpha=1.0, temper=1.0, power=0.01)
    assert out.cases == 21


def test_a_cost_difference_within_timing_noise_is_not_settled_by_cases() -> None:
    ss = [_st([0.0] * 50, [0.0] * 50, cost_a=1.1, cost_b=1.0, se_a=0.5, se_b=0.5)]
    out = settle(ss, "b", ["a"], alpha=1.0)
    assert out.cases is None and "timing noise" in out.reason


def test_clear_pick_rule() -> None:
    worse = compare([_st([1.0] * 30, [0.0] * 30)], "a", "b", alpha=1.0)
    open_ = compare([_st([1.0] * 2 + [0.0] * 28, [0.0] * 30)], "a", "b", alpha=1.0)
    assert clear_pick({"a": worse}, evaluated=2).clear
    assert not clear_pick({}, evaluated=1).clear
    assert "only one candidate" in clear_pick({}, evaluated=1).reason
    assert clear_pick({"a": worse}, evaluated=2, partial="3 cases not run").reason == "partial run: 3 cases not run"
    assert "not distinguishable" in clear_pick({"a": worse, "c": open_}, evaluated=3).reason
    assert "cannot resolve" in clear_pick({"a": worse}, evaluated=2, cost_unresolved=["a"]).reason


def test_exact_ties_break_by_errors_then_cost_then_candidate_order() -> None:
    pts = [Point("x", cost=1.0, loss=0.5), Point("y", cost=1.0, loss=0.5), Point("z", cost=0.5, loss=0.75)]
    # alpha 2: all three at exactly 2.0 (z cheaper and worse).
    assert select(pts, 2.0).selected == "z"  # lower cost first when nothing errored
    assert select(pts, 2.0, errors={"z": 1}).selected == "x"  # fewer errored cases first
    assert select(pts, 2.0, errors={"z": 1}, order=["y", "x", "z"]).selected == "y"  # then candidate order
    assert select(pts, 2.0, errors={"z": 1, "x": 2}).selected == "y"


def test_unit_loss_puts_every_range_on_zero_to_one() -> None:
    assert unit_loss(150.0, (0.0, 200.0), higher_is_better=False) == 0.75
    assert unit_loss(0.2, (0.0, 1.0), higher_is_better=True) == 0.8
    with pytest.raises(SpecError, match="score_range"):
        unit_loss(1.0, (1.0, 1.0), True)


def test_reference_normalised_rounds_cancel_a_shared_slowdown() -> None:
    assert normalised_rounds([2.0, 4.0, 6.0], [0.5, 1.0, 1.5], nominal=0.5) == [2.0, 2.0, 2.0]
    with pytest.raises(SpecError, match="equally long"):
        normalised_rounds([1.0], [1.0, 2.0], nominal=1.0)
    with pytest.raises(SpecError, match="reference seconds > 0"):
        normalised_rounds([1.0], [0.0], nominal=1.0)


def test_run_drift_widens_a_cost_interval_in_quadrature() -> None:
    from pytest_llmselect.costmodel import mean_interval, with_run_drift

    est = mean_interval([1.0, 1.1, 0.9], 0.95)
    wide = with_run_drift(est, 0.95, 0.2)
    half = est.hi - est.mean
    assert wide.hi - wide.mean == pytest.approx(math.hypot(half, 1.959963984540054 * 0.2 * 1.0))
    assert with_run_drift(est, 0.95, 0.0).hi == pytest.approx(est.hi)
    one = mean_interval([2.0], 0.95)
    alone = with_run_drift(one, 0.95, 0.2)  # one round: the drift allowance and the measured round spread
    want = 1.959963984540054 * math.hypot(0.2, 0.1) * 2.0
    assert (alone.lo, alone.hi) == pytest.approx((2.0 - want, 2.0 + want))
    assert "20% run-level drift allowance and the 10% spread of rounds" in alone.method
    assert with_run_drift(one, 0.95, 0.0) is one  # and no allowance: no interval


@pytest.mark.parametrize(("requested", "load", "cores", "threads"), [
    (4, 12.0, 2, 4), (None, 2.0, 2, 1), (None, 1.99, 2, None), (None, None, 2, None), (None, 5.0, None, None)])
def test_one_thread_when_the_cores_are_busy(requested, load, cores, threads) -> None:
    from pytest_llmselect.costmodel import threads_for

    assert threads_for(requested, load, cores) == threads
