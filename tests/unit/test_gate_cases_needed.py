"""How many shared cases would settle an INCONCLUSIVE verdict, pinned exactly.

For 0/1 scores the answer is the smallest sample size m at which the observed proportions,
scaled to m cases, settle the verdict: checked here as "settled at m, not at m - 1" with the
same decision rule written out independently. For other scores it is the closed form of a
one-sided test at 80% power. Higher- and lower-is-better data that mirror each other must
need the same number of cases.
"""

from __future__ import annotations

import math

import pytest

from pytest_llmselect.confidence import tango_interval as _tango_interval
from pytest_llmselect.gate import GateSettings, compare_runs
from pytest_llmselect.stats import normal_quantile
from tests.unit.test_gate import make_report
from tests.unit.test_gate_boundaries import paired


def gate(cand, inc, *, hib=True, metric="exact_match", **settings):
    kw = {"higher_is_better": hib, "metric": metric}
    (v,) = compare_runs(make_report({"inc": {"t": inc}}, **kw), make_report({"cand": {"t": cand}}, **kw),
                        GateSettings(**settings)).verdicts
    return v


def settled(m: int, b10: int, c01: int, n: int, hib: bool, margin: float, level: float) -> bool:
    """The verdict rule at m cases with the observed proportions: PASS side or FAIL side."""
    k = m / n
    z = normal_quantile(level) + (normal_quantile(0.8) if b10 + c01 else 0.0)
    lo, hi = _tango_interval(b10 * k, c01 * k, float(m), z)
    better = (b10 - c01) / n if hib else (c01 - b10) / n  # the candidate's advantage
    if better > -margin:
        return (lo if hib else -hi) > -margin
    lost, won = (c01 * k, b10 * k) if hib else (b10 * k, c01 * k)
    best = hi if hib else -lo
    return best < -margin and (lost - won) / math.sqrt(lost + won) > z


@pytest.mark.parametrize(("b10", "c01", "n", "margin"), [
    (1, 3, 40, 0.02),   # worse by 0.05: FAIL side
    (2, 5, 60, 0.0),    # worse, superiority margin
    (2, 2, 40, 0.05),   # no difference: PASS side
    (4, 2, 30, 0.02),   # better: PASS side
])
@pytest.mark.parametrize("hib", [True, False])
def test_binary_cases_needed_is_the_smallest_settling_size(b10, c01, n, margin, hib):
    cand, inc = paired(b10, c01, n)
    if not hib:  # the same outcomes written as a 0/1 loss (1 = wrong): b10 and c01 swap roles
        cand, inc = [1.0 - x for x in cand], [1.0 - x for x in inc]
        b10, c01 = c01, b10
    v = gate(cand, inc, hib=hib, metric="exact_match" if hib else "error", margin=margin)
    assert v.verdict == "INCONCLUSIVE"
    m = v.cases_needed
    assert m is not None and m > n
    assert settled(m, b10, c01, n, hib, margin, 0.95)
    assert not settled(m - 1, b10, c01, n, hib, margin, 0.95)


def test_mirrored_data_need_the_same_number_of_cases():
    cand, inc = paired(1, 3, 40)
    up = gate(cand, inc)
    down = gate([1.0 - x for x in cand], [1.0 - x for x in inc], hib=False, metric="error")
    assert up.cases_needed == down.cases_needed and up.cases_needed is not None
    assert (down.lo, down.hi) == pytest.approx((-up.hi, -up.lo))


def test_continuous_cases_needed_is_the_one_sided_closed_form():
    inc = [0.2, 0.5, 0.4, 0.7, 0.3, 0.6, 0.5, 0.4]
    deltas = [-0.05, 0.02, -0.08, 0.01, -0.04, -0.06, 0.03, -0.03]
    cand = [x + d for x, d in zip(inc, deltas)]
    for hib in (True, False):
        c, i = (cand, inc) if hib else ([1 - x for x in cand], [1 - x for x in inc])
        v = gate(c, i, hib=hib, metric="token_f1" if hib else "loss", margin=0.02)
        assert v.verdict == "INCONCLUSIVE"
        mean = sum(deltas) / len(deltas)
        sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (len(deltas) - 1))
        z = normal_quantile(0.95) + normal_quantile(0.8)
        assert v.cases_needed == math.ceil((z * sd / abs(mean + 0.02)) ** 2 - 1e-9)


@pytest.mark.parametrize(("values", "scale"), [
    ([0.0, 0.5, 0.25, 0.5, 0.0], 1.0),     # inside [0, 1], touching 0: the unit scale
    ([0.5, 1.0, 0.75, 1.0], 1.0),          # inside [0, 1], touching 1
    ([0.0, 1.5, 0.5], 1.5),                # outside: the observed range
    ([2.0, 3.0, 2.5, 3.0], 1.0),           # outside, range 1 (not max + min)
    ([5.0, 5.0, 5.0], 1.0),                # outside with no range: 1
])
def test_identical_continuous_runs_use_the_score_scale(values, scale):
    v = gate(values, values, hib=False, metric="loss")  # a loss may exceed 1; a quality may not
    z = normal_quantile(0.95)
    unseen = scale * z * z / (len(values) + z * z)
    assert (v.lo, v.hi) == pytest.approx((-unseen, unseen))
    assert v.verdict == "INCONCLUSIVE"
    # Cases needed until the unseen-disagreement bound clears the margin.
    assert v.cases_needed == math.floor(z * z * (scale / 0.02 - 1.0)) + 1


def test_no_number_when_the_estimate_sits_on_the_margin_or_too_many_would_be_needed():
    cand, inc = paired(0, 2, 100)  # worse by exactly the margin 0.02
    assert gate(cand, inc, margin=0.02).cases_needed is None
    cand, inc = paired(30, 31, 100)  # worse by 0.01 against a margin of 0.01000001
    v = gate(cand, inc, margin=0.01 + 1e-8)
    assert v.verdict == "INCONCLUSIVE" and v.cases_needed is None


def test_continuous_estimate_a_hair_from_the_margin_needs_more_than_ten_million():
    inc = [0.2, 0.5, 0.4, 0.7, 0.3, 0.6, 0.5, 0.4]
    deltas = [-0.05, 0.02, -0.08, 0.01, -0.04, -0.06, 0.03, -0.03]
    mean = sum(deltas) / len(deltas)
    v = gate([x + d for x, d in zip(inc, deltas)], inc, metric="token_f1", margin=-mean + 1e-6)
    assert v.verdict == "INCONCLUSIVE" and v.cases_needed is None


def test_one_binary_run_against_a_continuous_one_uses_the_closed_form():
    inc = [0.2, 0.5, 0.4, 0.7, 0.3, 0.6, 0.5, 0.4, 0.8, 0.1]
    cand = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    v = gate(cand, inc, metric="token_f1", margin=0.02)
    assert v.verdict == "INCONCLUSIVE"
    deltas = [a - b for a, b in zip(cand, inc)]
    mean = sum(deltas) / len(deltas)
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (len(deltas) - 1))
    z = normal_quantile(0.95) + normal_quantile(0.8)
    assert v.cases_needed == math.ceil((z * sd / abs(mean + 0.02)) ** 2 - 1e-9)


@pytest.mark.parametrize(("inc", "deltas", "hair"), [
    ([0.2, 0.5], [-0.05, -0.2], None),                       # two cases: the SD of two differences
    ([0.2, 0.5, 0.4, 0.7, 0.3, 0.6, 0.5, 0.4],               # ~10^6 cases: under the 10^7 cap
     [-0.05, 0.02, -0.08, 0.01, -0.04, -0.06, 0.03, -0.03], 1e-4),
])
def test_continuous_cases_needed_closed_form_at_its_edges(inc, deltas, hair):
    mean = sum(deltas) / len(deltas)
    margin = 0.02 if hair is None else -mean + hair
    v = gate([x + d for x, d in zip(inc, deltas)], inc, metric="token_f1", margin=margin)
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (len(deltas) - 1))
    z = normal_quantile(0.95) + normal_quantile(0.8)
    assert v.verdict == "INCONCLUSIVE"
    assert v.cases_needed == math.ceil((z * sd / abs(mean + margin)) ** 2 - 1e-9)
