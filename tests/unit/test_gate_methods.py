"""Which interval the gate uses, at which level and seed, and which costs it can compare."""

from __future__ import annotations

import math

import pytest

from pytest_llmselect.gate import GateSettings, compare_runs
from pytest_llmselect.stats import bootstrap_interval, paired_compare
from tests.unit.test_gate import make_report

INC = [0.2, 0.5, 0.4, 0.7, 0.3, 0.6, 0.5, 0.4, 0.8, 0.1]
CAND = [x + d for x, d in zip(INC, [-0.05, 0.02, -0.08, 0.01, -0.04, -0.06, 0.03, -0.03, 0.0, 0.05])]


def gate(cand, inc, metric="token_f1", **settings):
    (v,) = compare_runs(make_report({"inc": {"t": inc}}, metric=metric),
                        make_report({"cand": {"t": cand}}, metric=metric), GateSettings(**settings)).verdicts
    return v


@pytest.mark.parametrize(("level", "seed"), [(0.95, 0), (0.9, 7)])
def test_continuous_interval_is_the_paired_bootstrap_at_two_sided_2_level_minus_1(level, seed):
    v = gate(CAND, INC, level=level, seed=seed)
    diffs = [a - b for a, b in zip(CAND, INC)]
    # Ends that are one-sided `level` bounds: a two-sided (2 level - 1) interval.
    assert (v.lo, v.hi) == pytest.approx(bootstrap_interval(diffs, 2 * level - 1, seed=seed))
    assert (v.lo, v.hi) != pytest.approx(bootstrap_interval(diffs, level, seed=seed))
    assert v.method == "bootstrap (permutation_exact p)"
    assert v.p_value == pytest.approx(paired_compare(CAND, INC).p_value)


def test_one_binary_run_against_a_continuous_one_uses_the_bootstrap():
    binary = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    for cand, inc in ((binary, INC), (INC, binary)):
        v = gate(cand, inc)
        assert v.method.startswith("bootstrap"), v.method
    assert gate(binary, binary[::-1]).method == "tango_score"


@pytest.mark.parametrize("bad", [None, "3.0", math.inf, math.nan])
def test_a_cost_that_is_not_a_finite_number_gives_no_ratio(bad):
    base = make_report({"inc": {"t": INC}}, metric="token_f1")
    cur = make_report({"cand": {"t": CAND}}, metric="token_f1")
    for r in cur["tasks"][0]["results"]:
        r["cost"] = bad
    (v,) = compare_runs(base, cur, GateSettings(max_cost_ratio=2.0)).verdicts
    assert v.cost_ratio is None


def test_cost_ratio_is_candidate_over_incumbent():
    base = make_report({"inc": {"t": INC}}, {"inc": 2.0}, metric="token_f1")
    cur = make_report({"cand": {"t": CAND}}, {"cand": 5.0}, metric="token_f1")
    (v,) = compare_runs(base, cur, GateSettings()).verdicts
    assert v.cost_ratio == pytest.approx(2.5)
