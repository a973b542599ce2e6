"""gate.partial_note and the gate's per-case score lookup (issue 15's additions to gate.py),
pinned by hand so that mutation testing of them has tests to fail (docs/mutation-testing.md)."""

from __future__ import annotations

import pytest

from pytest_llmselect.gate import _cases_by_task, partial_note


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
