"""Every verdict's reason, word for word, in both directions; and the exact equalities at
which a verdict must not yet flip."""

from __future__ import annotations

import pytest

from tests.unit.test_gate_boundaries import gate, paired


def flip(cand, inc):
    return [1.0 - x for x in cand], [1.0 - x for x in inc]


@pytest.mark.parametrize("hib", [True, False])
def test_reasons(hib):
    word = "worse" if hib else "higher (worse)"
    metric = "exact_match" if hib else "error"

    def run(cand, inc, **kw):
        if not hib:
            cand, inc = flip(cand, inc)
        return gate(cand, inc, hib=hib, metric=metric, **kw)

    bad = paired(0, 40, 200)
    assert run(*bad).reason == f"significantly {word} than inc by more than the margin 0.02"
    assert run(*bad, cost=(3.0, 1.0), max_cost_ratio=2.0).reason == (
        f"significantly {word} than inc by more than the margin 0.02; and cost ratio 3 over the budget 2")
    good = paired(30, 0, 200)
    assert run(*good, cost=(3.0, 1.0), max_cost_ratio=2.0).reason == "cost ratio 3 over the budget 2"
    assert run(*good).reason == f"not {word} than inc by more than the margin 0.02"
    assert run(*good, cost=(1.0, 0.0), max_cost_ratio=2.0).reason == (
        f"not {word} by more than the margin, but the cost ratio is unknown, so the budget is unchecked")
    few = ([0.0] * 4, [1.0] * 4)
    v = run(*few)
    assert v.verdict == "INCONCLUSIVE" and v.reason == (
        f"{word} than inc by more than the margin by the interval, but with 4 shared cases "
        "the exact test of no difference cannot confirm it (p=0.125)")
    unsure = paired(2, 3, 20)
    assert run(*unsure).reason == f"cannot tell whether {word} than inc by more than the margin 0.02 with 20 shared cases"


def test_one_sided_exact_p_at_exactly_the_level_does_not_fail():
    # 4 of 4 discordant against the candidate: one-sided exact p = 1/16 = 0.0625. At level
    # 0.9375 the test needs p < 0.0625: equal is not enough.
    v = gate([0.0] * 4, [1.0] * 4, level=0.9375)
    assert v.p_value == pytest.approx(0.125) and v.verdict == "INCONCLUSIVE"
    assert gate([0.0] * 5, [1.0] * 5, level=0.9375).verdict == "FAIL"


@pytest.mark.parametrize("hib", [True, False])
def test_interval_end_exactly_on_the_margin_settles_nothing(hib):
    metric = "exact_match" if hib else "error"
    cand, inc = paired(6, 5, 200)
    if not hib:
        cand, inc = flip(cand, inc)
    v = gate(cand, inc, hib=hib, metric=metric)
    worst = v.lo if hib else -v.hi
    on_margin = gate(cand, inc, hib=hib, metric=metric, margin=-worst)
    assert on_margin.verdict == "INCONCLUSIVE" and on_margin.reason.startswith("cannot tell whether")
    # Quality settled inside a wide margin, the budget unchecked (no cost ratio): that reason,
    # whether the worst end is below or above zero.
    wide = gate(cand, inc, hib=hib, metric=metric, margin=0.5, cost=(1.0, 0.0), max_cost_ratio=2.0)
    assert wide.verdict == "INCONCLUSIVE" and "the budget is unchecked" in wide.reason
    cand, inc = paired(2, 40, 200)
    if not hib:
        cand, inc = flip(cand, inc)
    v = gate(cand, inc, hib=hib, metric=metric)
    best = v.hi if hib else -v.lo
    on_edge = gate(cand, inc, hib=hib, metric=metric, margin=-best)
    assert on_edge.verdict == "INCONCLUSIVE"
    assert on_edge.reason.startswith("cannot tell whether")
