"""gate.partial_note and the gate's per-case score lookup (issue 15's additions to gate.py),
pinned by hand so that mutation testing of them has tests to fail (docs/mutation-testing.md)."""

from __future__ import annotations

import math

import pytest

from pytest_llmselect.run_pairing import _cases_by_task, partial_note


@pytest.mark.parametrize("report", [{}, {"complete": True}, {"complete": None, "missing": [{"count": 3}]},
                                    {"complete": True, "missing": [{"count": 3, "reason": "r"}]}])
def test_a_run_not_marked_incomplete_has_no_note(report) -> None:
    assert partial_note(report, "the baseline run") is None


def test_partial_note_sums_the_counts_and_lists_each_reason_once_sorted() -> None:
    missing = [{"count": 3, "reason": "b"}, {"count": 2, "reason": "a"}, {"count": 4, "reason": "a"},
               "not a mapping", {"count": "7", "reason": "c"}]
    assert partial_note({"complete": False, "missing": missing}, "the current run") == (
        "the current run is a PARTIAL run: 9 planned case(s) not run (a; b; c)")


@pytest.mark.parametrize("missing", [[], None])
def test_partial_note_without_missing_entries_says_so_without_reasons(missing) -> None:
    assert partial_note({"complete": False, "missing": missing}, "run") == "run is a PARTIAL run: 0 planned case(s) not run"


def _case(task: str, cand: str, cid: str, score: float | None) -> dict:
    return {"task": task, "candidate": cand, "case_id": cid, "score": score,
            "status": "scored" if score is not None else "errored"}


CASES = [_case("t", "a", "c1", 0.8), _case("t", "a", "c2", None), _case("t", "b", "c1", 0.5),
         _case("t", "c", "c1", None), _case("u", "a", "c1", 0.3), _case("u", "a", "c2", None)]
# t declares its range [0, 1]: an errored case counts at 0. u, known from its cases only,
# has no range: an errored case counts at the worst score seen on it (0.3).
TASKS = [{"name": "t", "score_range": [0.0, 1.0], "higher_is_better": True}]


def test_errored_cases_count_at_the_worst_value_by_default() -> None:
    for report in ({"cases": CASES, "tasks": TASKS}, {"cases": CASES, "tasks": TASKS, "settings": {"errors": "worst"}}):
        assert _cases_by_task(report, "a") == {"t": {"c1": 0.8, "c2": 0.0}, "u": {"c1": 0.3, "c2": 0.3}}
        assert _cases_by_task(report, "b") == {"t": {"c1": 0.5}}
        assert _cases_by_task(report, "c") == {"t": {"c1": 0.0}}
        assert _cases_by_task(report, "z") == {}


def test_errored_cases_are_left_out_when_the_run_excluded_them() -> None:
    report = {"cases": CASES, "tasks": TASKS, "settings": {"errors": "exclude"}}
    assert _cases_by_task(report, "a") == {"t": {"c1": 0.8}, "u": {"c1": 0.3}}
    assert _cases_by_task(report, "c") == {}  # nothing scored: the task is left out


def test_a_task_without_cases_gives_nothing() -> None:
    assert _cases_by_task({"tasks": TASKS}, "a") == {}
    assert _cases_by_task({}, "a") == {}


def _report(scores: list[float], missing: list[dict]) -> dict:
    from pytest_llmselect.analysis import AnalysisSettings, analyze

    cases = [_case("t", "m", f"c{i}", s) for i, s in enumerate(scores)]
    inputs = {"candidates": [{"name": "m", "spec": "m"}], "tasks": TASKS_FULL, "cases": cases, "measures": {},
              "missing": missing}
    return {**analyze(inputs, AnalysisSettings(alpha=1.0)), "cases": cases, "missing": missing,
            "complete": not missing, "candidates": inputs["candidates"]}


TASKS_FULL = [{"name": "t", "metric": "exact_match", "higher_is_better": True, "weight": 1.0,
               "score_range": [0.0, 1.0]}]


def test_compare_runs_names_each_partial_run_and_strict_fails_on_it() -> None:
    from pytest_llmselect.gate import GateSettings, compare_runs

    scores = [1.0, 0.0] * 15
    whole = _report(scores, [])
    part = _report(scores, [{"task": "t", "candidate": "m", "count": 4, "reason": "not run: stopped early"}])
    got = compare_runs(part, part, GateSettings(margin=0.02), baseline_label="run")
    assert got.partial == ("the baseline run is a PARTIAL run: 4 planned case(s) not run (not run: stopped early)",
                           "this run is a PARTIAL run: 4 planned case(s) not run (not run: stopped early)")
    assert got.notes[:2] == got.partial
    assert compare_runs(whole, whole, GateSettings(margin=0.02)).partial == ()
    # Identical runs pass at a wide margin, also under strict; strict fails a partial one all the same.
    wide = GateSettings(margin=0.2, strict=True)
    assert compare_runs(whole, whole, wide).verdict == "PASS" and not compare_runs(whole, whole, wide).failed
    assert compare_runs(whole, part, wide).verdict == "PASS" and compare_runs(whole, part, wide).failed
    assert not compare_runs(whole, part, GateSettings(margin=0.2)).failed


@pytest.mark.parametrize("n", [1, 3])
def test_cases_needed_with_no_differing_case_is_the_unseen_disagreement_bound(n: int) -> None:
    # Non-binary scores in [0, 1] that agree on every shared case (one case included: no SD to
    # estimate): the bound z^2 * (1 / margin - 1), floored, plus one, with z the plain
    # one-sided quantile (docstring of gate._needed: 52 at margin 0.05, level 0.95).
    from scipy import stats as sps

    from pytest_llmselect.noninferiority import GateSettings, _needed

    z = float(sps.norm.ppf(0.95))
    want = math.floor(z * z * (1 / 0.05 - 1)) + 1
    assert want == 52
    assert _needed([0.5] * n, [0.5] * n, 0.0, True, GateSettings(margin=0.05)) == want
