"""The gate's verdicts pinned where they change.

Each test puts the data at the exact point where a verdict flips: the interval's worst end
just inside or just outside the margin, the discordant counts where a one-sided and a
two-sided exact test disagree, the cost ratio at its budget; for 0/1 and continuous scores
and for higher- and lower-is-better metrics. Two figures are pinned to published values.
"""

from __future__ import annotations

import pytest

from pytest_llmselect.confidence import tango_interval as _tango_interval
from pytest_llmselect.gate import GateSettings, compare_runs
from pytest_llmselect.stats import normal_quantile
from tests.unit.test_gate import make_report

EPS = 1e-9


def paired(b10: int, c01: int, n: int, *, same_right: int | None = None) -> tuple[list[float], list[float]]:
    """0/1 scores (candidate, incumbent) of n cases: b10 only the candidate right, c01 only the
    incumbent right, ``same_right`` both right (default: half of the rest), the rest both wrong."""
    rest = n - b10 - c01
    both = rest // 2 if same_right is None else same_right
    cand = [1.0] * b10 + [0.0] * c01 + [1.0] * both + [0.0] * (rest - both)
    inc = [0.0] * b10 + [1.0] * c01 + [1.0] * both + [0.0] * (rest - both)
    return cand, inc


def gate(cand: list[float], inc: list[float], *, hib: bool = True, metric: str = "exact_match",
         cost: tuple[float, float] | None = None, **settings):
    kw = {"higher_is_better": hib, "metric": metric}
    cost_c, cost_b = cost or (1.0, 1.0)
    res = compare_runs(make_report({"inc": {"t": inc}}, {"inc": cost_b}, **kw),
                       make_report({"cand": {"t": cand}}, {"cand": cost_c}, **kw), GateSettings(**settings))
    (v,) = res.verdicts
    return v


# ---- published reference values ------------------------------------------------------------

# Cavo et al. (2012), complete response before/after consolidation therapy, the paired 2x2
# table [[59, 6], [16, 80]] (n = 161), worked example of chapter 8 of Fagerland, Lydersen &
# Laake, "Statistical Analysis of Contingency Tables" (2017), as reproduced by the R package
# contingencytables (tests/testthat/test-ch8.R):
#   Tango asymptotic score CI: estimate = -0.0621 (95% CI -0.1240 to -0.0054)
#   The McNemar exact conditional test: P = 0.052479
# (exact2x2::mcnemar.exact and scipy.stats.binomtest(6, 22) give the same p.)
CAVO = paired(6, 16, 161, same_right=59)


def test_tango_interval_matches_the_published_cavo_example():
    z = normal_quantile(0.975)  # two-sided 95% = one-sided 97.5% at each end
    lo, hi = _tango_interval(6, 16, 161, z)
    assert (round(lo, 4), round(hi, 4)) == (-0.1240, -0.0054)
    # Same figures through the gate, whose ends are one-sided bounds at `level`.
    v = gate(*CAVO, level=0.975, margin=0.0)
    assert round(v.diff, 4) == -0.0621 and (round(v.lo, 4), round(v.hi, 4)) == (-0.1240, -0.0054)
    assert v.method == "tango_score"


def test_tango_interval_with_all_pairs_discordant_matches_the_published_edge_case():
    # contingencytables test-ch8.R: table [[0, 3], [0, 0]] -> 1.0000 (95% CI -0.1230 to 1.0000),
    # and the mirror image -> -1.0000 (95% CI -1.0000 to 0.1230).
    z = normal_quantile(0.975)
    lo, hi = _tango_interval(3, 0, 3, z)
    assert round(lo, 4) == -0.1230 and hi == 1.0
    lo, hi = _tango_interval(0, 3, 3, z)
    assert lo == -1.0 and round(hi, 4) == 0.1230


def test_mcnemar_exact_p_matches_the_published_cavo_example():
    v = gate(*CAVO)
    assert v.p_value == pytest.approx(0.052479, abs=5e-7)


def test_tango_interval_ends_are_where_the_score_statistic_crosses_z():
    # Independent check of the interval against its own definition, z from scipy when present.
    from pytest_llmselect.confidence import tango_statistic as _tango_stat

    try:
        from scipy.stats import norm
    except ImportError:
        z = normal_quantile(0.95)
    else:
        z = float(norm.ppf(0.95))
    for b, c, n in [(6, 16, 161), (1, 7, 21), (10, 3, 40), (0, 4, 30)]:
        lo, hi = _tango_interval(b, c, n, z)
        assert _tango_stat(lo, b, c, n) == pytest.approx(z, abs=1e-6)
        assert _tango_stat(hi, b, c, n) == pytest.approx(-z, abs=1e-6)


def test_cavo_example_is_where_the_score_interval_and_the_exact_test_disagree():
    # At two-sided 95% (one-sided 97.5%) the score interval excludes no difference (hi < 0)
    # but the exact test does not (one-sided p = 0.0262 > 0.025): no FAIL at margin 0.
    v = gate(*CAVO, level=0.975, margin=0.0)
    assert v.hi < 0 and v.verdict == "INCONCLUSIVE" and "exact test" in v.reason
    # At one-sided 95% both agree (0.0262 < 0.05): FAIL.
    assert gate(*CAVO, level=0.95, margin=0.0).verdict == "FAIL"


# ---- one-sided versus two-sided exact test ---------------------------------------------------


@pytest.mark.parametrize("hib", [True, False])
def test_five_of_five_discordant_fails_one_sided_where_two_sided_would_not(hib):
    # All five cases discordant against the candidate: exact one-sided p = 1/32 = 0.031 < 0.05,
    # two-sided p = 0.0625. FAIL is one-sided: FAIL at 5, not at 4 (one-sided p = 0.0625).
    def run(k: int):
        cand, inc = [0.0] * k, [1.0] * k
        if not hib:  # a 0/1 loss: the candidate's 1s are its errors
            cand, inc = inc, cand
        return gate(cand, inc, hib=hib, metric="exact_match" if hib else "error")

    five = run(5)
    assert five.p_value == pytest.approx(2 / 32) and five.verdict == "FAIL"
    assert run(4).verdict == "INCONCLUSIVE"


def test_discordant_counts_where_one_and_two_sided_disagree_binary():
    # 2 won, 9 lost of 11 discordant (n = 40): one-sided p = 67/2048 = 0.0327, two-sided 0.0654.
    cand, inc = paired(2, 9, 40)
    v = gate(cand, inc, margin=0.0)
    assert v.p_value == pytest.approx(2 * 67 / 2048) and v.hi < 0
    assert v.verdict == "FAIL"
    # One more win: one-sided p = 299/4096 = 0.073: INCONCLUSIVE with the same interval side.
    cand, inc = paired(3, 9, 40)
    v = gate(cand, inc, margin=0.0)
    assert v.p_value == pytest.approx(2 * 299 / 4096)
    assert v.verdict == "INCONCLUSIVE" and v.hi < 0 and "exact test" in v.reason


@pytest.mark.parametrize("hib", [True, False])
def test_continuous_scores_five_worse_cases_fail_one_sided(hib):
    # Five continuous differences, all against the candidate: exact sign-flip p two-sided
    # 2/32, one-sided 1/32 < 0.05: FAIL. Four: one-sided 1/16 > 0.05: not FAIL.
    base = [0.2, 0.5, 0.4, 0.7, 0.3]
    worse = [x - d for x, d in zip(base, [0.30, 0.35, 0.40, 0.25, 0.30])]
    if not hib:  # a loss: higher is worse
        worse = [x + d for x, d in zip(base, [0.30, 0.35, 0.40, 0.25, 0.30])]
    metric = "token_f1" if hib else "loss"
    five = gate(worse, base, hib=hib, metric=metric)
    assert five.p_value == pytest.approx(2 / 32) and five.verdict == "FAIL"
    four = gate(worse[:4], base[:4], hib=hib, metric=metric)
    assert four.p_value == pytest.approx(2 / 16) and four.verdict == "INCONCLUSIVE"
    assert "exact test" in four.reason


# ---- the interval against the margin -------------------------------------------------------


@pytest.mark.parametrize("scores", ["binary", "continuous"])
@pytest.mark.parametrize("hib", [True, False])
def test_pass_flips_where_the_worst_end_meets_the_margin(scores, hib):
    if scores == "binary":
        cand, inc = paired(6, 5, 200)  # a little better, but uncertain
        metric = "exact_match" if hib else "error"
    else:
        inc = [0.1 + 0.8 * ((i * 37) % 101) / 101 for i in range(60)]
        cand = [x + (0.03 if i % 3 else -0.05) for i, x in enumerate(inc)]
        metric = "token_f1" if hib else "loss"
    v = gate(cand, inc, hib=hib, metric=metric, margin=0.5)
    worst = v.lo if hib else -v.hi  # quality(candidate) - quality(incumbent), at its worst
    assert worst < 0  # a margin is needed to pass
    assert gate(cand, inc, hib=hib, metric=metric, margin=-worst + EPS).verdict == "PASS"
    assert gate(cand, inc, hib=hib, metric=metric, margin=-worst - EPS).verdict == "INCONCLUSIVE"


@pytest.mark.parametrize("hib", [True, False])
def test_worst_end_is_the_one_against_the_candidate(hib):
    # The interval is asymmetric around the estimate; the wrong end would decide differently.
    cand, inc = paired(6, 5, 200)
    if not hib:  # same data read as a loss: swap who erred
        cand, inc = [1.0 - x for x in cand], [1.0 - x for x in inc]
    metric = "exact_match" if hib else "error"
    v = gate(cand, inc, hib=hib, metric=metric)
    against, towards = (v.lo, v.hi) if hib else (-v.hi, -v.lo)
    assert against < 0 < towards and abs(against) != pytest.approx(abs(towards))
    # Margin between the two ends' magnitudes: only the end against the candidate counts.
    m = (abs(against) + abs(towards)) / 2
    verdict = gate(cand, inc, hib=hib, metric=metric, margin=m).verdict
    assert verdict == ("PASS" if abs(against) < m else "INCONCLUSIVE")
    # And a margin beyond both ends passes, one below both does not.
    assert gate(cand, inc, hib=hib, metric=metric, margin=max(abs(against), abs(towards)) + EPS).verdict == "PASS"
    assert gate(cand, inc, hib=hib, metric=metric, margin=min(abs(against), abs(towards)) - EPS).verdict != "PASS"


@pytest.mark.parametrize("scores", ["binary", "continuous"])
@pytest.mark.parametrize("hib", [True, False])
def test_fail_flips_where_the_best_end_meets_the_margin(scores, hib):
    if scores == "binary":
        cand, inc = paired(2, 40, 200)  # clearly worse: exact p tiny
        metric = "exact_match" if hib else "error"
        if not hib:
            cand, inc = [1.0 - x for x in cand], [1.0 - x for x in inc]
    else:
        inc = [0.3 + 0.6 * ((i * 37) % 101) / 101 for i in range(60)]
        cand = [x - (0.25 if i % 4 else -0.02) for i, x in enumerate(inc)]
        metric = "token_f1"
        if not hib:
            cand, inc, metric = [1.0 - x for x in cand], [1.0 - x for x in inc], "loss"
    v = gate(cand, inc, hib=hib, metric=metric, margin=0.0)
    assert v.verdict == "FAIL" and v.p_value < 1e-3
    best = v.hi if hib else -v.lo  # the candidate's difference at its most favourable
    assert best < 0
    assert gate(cand, inc, hib=hib, metric=metric, margin=-best - EPS).verdict == "FAIL"
    assert gate(cand, inc, hib=hib, metric=metric, margin=-best + EPS).verdict == "INCONCLUSIVE"


def test_level_moves_the_boundary():
    cand, inc = paired(6, 5, 200)
    narrow, wide = gate(cand, inc, level=0.8), gate(cand, inc, level=0.99)
    assert wide.lo < narrow.lo < narrow.diff < narrow.hi < wide.hi
    margin = (-narrow.lo - wide.lo) / 2  # between the two lower bounds' magnitudes
    assert gate(cand, inc, level=0.8, margin=margin).verdict == "PASS"
    assert gate(cand, inc, level=0.99, margin=margin).verdict == "INCONCLUSIVE"


# ---- cost budget ----------------------------------------------------------------------------


def test_cost_ratio_at_the_budget_passes_and_just_over_fails():
    cand, inc = paired(30, 0, 200)  # clearly better quality
    assert gate(cand, inc, cost=(2.0, 1.0), max_cost_ratio=2.0).verdict == "PASS"
    over = gate(cand, inc, cost=(2.0 + 1e-6, 1.0), max_cost_ratio=2.0)
    assert over.verdict == "FAIL" and over.reason.startswith("cost ratio 2 over the budget 2")


def test_unknown_cost_with_a_budget_is_inconclusive_without_one_passes():
    cand, inc = paired(30, 0, 200)
    # The baseline's cost is 0: no ratio can be formed.
    v = gate(cand, inc, cost=(1.0, 0.0), max_cost_ratio=2.0)
    assert v.cost_ratio is None and v.verdict == "INCONCLUSIVE" and "budget is unchecked" in v.reason
    assert gate(cand, inc, cost=(1.0, 0.0)).verdict == "PASS"


def test_quality_fail_and_budget_fail_are_both_named():
    cand, inc = paired(0, 40, 200)
    v = gate(cand, inc, cost=(3.0, 1.0), max_cost_ratio=2.0)
    assert v.verdict == "FAIL" and "by more than the margin" in v.reason and "over the budget 2" in v.reason


# ---- cases needed --------------------------------------------------------------------------


def test_cases_needed_settles_the_verdict_when_the_proportions_hold():
    # 1 won, 3 lost of 40 (margin 0.02): the estimate -0.05 is beyond the margin, the
    # interval too wide. Scaled up to the suggested size the verdict must be FAIL, and at
    # the next size down (when that is still a whole multiple) not yet.
    cand, inc = paired(1, 3, 40)
    v = gate(cand, inc)
    assert v.verdict == "INCONCLUSIVE" and v.cases_needed is not None and v.cases_needed > 40
    k = -(-v.cases_needed // 40)  # smallest whole multiple of the sample at least that large
    big_c, big_i = paired(k, 3 * k, 40 * k)
    assert gate(big_c, big_i).verdict == "FAIL"
