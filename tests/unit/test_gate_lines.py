"""The gate's one-line verdicts and result lookups, pinned character for character: they are
what CI logs, JUnit messages and the short summary show."""

from __future__ import annotations

import pytest

from pytest_llmselect.gate import GateResult, GateSettings, GateVerdict, verdict_line


def verdict(**kw) -> GateVerdict:
    base = dict(task="add", candidate="c", incumbent="m", n_shared=40, n_unmatched_baseline=0,
                n_unmatched_current=0, unmatched_reasons=(), diff=-0.1, lo=-0.2, hi=-0.01, p_value=0.0312,
                cost_ratio=1.5, verdict="INCONCLUSIVE", reason="why", cases_needed=None)
    return GateVerdict(**{**base, **kw})


def test_full_line():
    v = verdict(n_unmatched_baseline=3, cases_needed=120)
    assert verdict_line(v, GateSettings(margin=0.05, max_cost_ratio=2.0)) == (
        "INCONCLUSIVE add c vs m; diff -0.100 [-0.200, -0.010] (95% one-sided bounds, n=40); margin 0.05; "
        "p=0.0312 (no difference); cost ratio 1.5 (budget 2); ~120 shared cases needed; "
        "unmatched: 3 baseline / 0 current -- why")


def test_line_without_comparison_budget_or_unmatched():
    v = verdict(n_shared=0, diff=None, lo=None, hi=None, p_value=None, cost_ratio=None, n_unmatched_current=4)
    assert verdict_line(v, GateSettings()) == "INCONCLUSIVE add c vs m; cost ratio unknown; unmatched: 0 baseline / 4 current -- why"
    settled = verdict(verdict="PASS", diff=0.0, lo=0.0, hi=0.0, p_value=1.0, cost_ratio=0.5)
    assert verdict_line(settled, GateSettings(level=0.9)) == (
        "PASS add c vs m; diff +0.000 [+0.000, +0.000] (90% one-sided bounds, n=40); margin 0.02; "
        "p=1 (no difference); cost ratio 0.5 -- why")


def test_find_and_overall_verdict():
    a, b = verdict(task="a", verdict="PASS"), verdict(task="b", verdict="INCONCLUSIVE")
    res = GateResult(incumbent="m", settings=GateSettings(), verdicts=(a, b))
    assert res.find("a", "c") is a and res.find("b", "c") is b
    assert res.find("a", "other") is None and res.find("zzz", "c") is None
    assert res.verdict == "INCONCLUSIVE" and not res.failed
    assert GateResult(incumbent="m", settings=GateSettings(strict=True), verdicts=(a, b)).failed
    assert GateResult(incumbent="m", settings=GateSettings(), verdicts=(a,)).verdict == "PASS"
    failing = GateResult(incumbent="m", settings=GateSettings(), verdicts=(a, b, verdict(verdict="FAIL")))
    assert failing.verdict == "FAIL" and failing.failed


def test_unmatched_examples_quote_at_most_three_ids():
    from pytest_llmselect.run_pairing import _unmatched

    (three,) = _unmatched("t", {"a", "b", "c", "z"}, {"z"}, fp_differs=False)
    assert three == ("3 baseline case(s) of 't' not in this run ('a', 'b', 'c'): this run covers a subset "
                     "of the baseline's cases (a filtered or cut-down suite)")
    (four,) = _unmatched("t", {"z"}, {"a", "b", "c", "d", "z"}, fp_differs=True)
    assert four == "4 case(s) of 't' in this run not in the baseline ('a', 'b', 'c', ...): cases were added since the baseline"
    both = _unmatched("t", {"a", "z"}, {"b", "z"}, fp_differs=False)
    assert both == ["1 baseline case(s) of 't' not in this run ('a'): the runs selected different cases",
                    "1 case(s) of 't' in this run not in the baseline ('b'): the runs selected different cases"]
    assert _unmatched("t", {"a", "z"}, {"b", "z"}, fp_differs=True)[0].endswith(": the suite changed")
    assert _unmatched("t", {"a"}, {"a"}, fp_differs=True) == []
