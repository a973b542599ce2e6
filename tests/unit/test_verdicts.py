"""From per-case scores to a decided pick: the scale rule, groups, partial runs, one candidate."""

from __future__ import annotations

import math

import pytest

from pytest_llmselect.verdicts import decide, known_range, task_stratum


def _scores(values, groups=None):
    return {f"c{i}": (float(v), None if groups is None else groups[i]) for i, v in enumerate(values)}


def test_known_range_is_the_declared_one_else_zero_one_for_0_1_scores_else_unknown() -> None:
    assert known_range([0, 200], {"a": _scores([3.0, 150.0])}) == (0.0, 200.0)
    assert known_range(None, {"a": _scores([0, 1, 1]), "b": _scores([1, 1, 0])}) == (0.0, 1.0)
    assert known_range(None, {"a": _scores([0.5, 1.0])}) is None
    assert known_range([1, 1], {"a": _scores([0, 1])}) == (0.0, 1.0)  # an empty range is no range


def test_an_absolute_error_task_enters_on_its_zero_to_one_scale() -> None:
    st = task_stratum({"a": _scores([20.0, 180.0]), "b": _scores([0.0, 200.0])}, {"a": 1.0, "b": 1.0}, {},
                      higher_is_better=False, score_range=(0.0, 200.0), unit=True)
    assert st.losses["a"] == [0.1, 0.9] and st.losses["b"] == [0.0, 1.0] and st.scale == 1.0
    own = task_stratum({"a": _scores([20.0, 180.0]), "b": _scores([0.0, 200.0])}, {"a": 1.0, "b": 1.0}, {},
                       higher_is_better=False, score_range=(0.0, 200.0), unit=False)
    assert own.scale == 200.0  # the task's own objective keeps its units


def test_a_missing_case_is_nan_and_groups_follow_the_case_ids() -> None:
    st = task_stratum({"a": _scores([1, 0, 1], ["g", "g", "h"]), "b": {"c0": (1.0, "g")}}, {"a": 0, "b": 0}, {},
                      higher_is_better=True, score_range=(0.0, 1.0), unit=True)
    assert st.groups == ["g", "g", "h"]
    assert st.losses["b"][0] == 0.0 and math.isnan(st.losses["b"][1])


def _two(a, b, groups=None, **kw):
    return [task_stratum({"a": _scores(a, groups), "b": _scores(b, groups)}, {"a": 1.0, "b": 1.0}, {},
                         higher_is_better=True, score_range=(0.0, 1.0), unit=False, **kw)]


def test_a_task_without_groups_keeps_its_own_test_and_with_groups_uses_clusters() -> None:
    a, b = [1.0] * 15 + [0.0] * 5, [0.0] * 20
    plain = decide(_two(a, b), ["a", "b"], "a", alpha=1.0)
    grouped = decide(_two(a, b, [i // 5 for i in range(20)]), ["a", "b"], "a", alpha=1.0)
    assert plain.comparisons["b"].method == "tango_score" and plain.clear
    assert grouped.comparisons["b"].method == "clustered_score" and not grouped.clear
    assert grouped.shares["a"] <= 0.95 and grouped.settle is not None


def test_a_partial_run_is_never_a_clear_pick() -> None:
    out = decide(_two([1.0] * 30, [0.0] * 30), ["a", "b"], "a", alpha=1.0, partial="12 cases of b not run")
    assert not out.clear and out.reason == "partial run: 12 cases of b not run"
    assert out.shares["a"] <= 0.95


def test_one_evaluated_candidate_is_never_a_clear_pick() -> None:
    out = decide(_two([1.0] * 30, [0.0] * 30), ["a"], "a", alpha=1.0)
    assert not out.clear and "only one candidate" in out.reason and out.settle is None


def test_a_cost_the_machine_cannot_resolve_never_decides_a_clear_pick() -> None:
    # Same quality; b costs more by a margin that its (too small) standard error calls significant,
    # but the cost comparison with the machine's drift is within noise.
    st = [task_stratum({"a": _scores([1, 0] * 20), "b": _scores([1, 0] * 20)}, {"a": 1.0, "b": 2.0},
                       {"a": 0.01, "b": 0.01}, higher_is_better=True, score_range=(0.0, 1.0), unit=False)]
    assert decide(st, ["a", "b"], "a", alpha=1.0).clear
    out = decide(st, ["a", "b"], "a", alpha=1.0, cost_unresolved=["b"])
    assert not out.clear and "cannot resolve" in out.reason


def test_a_quality_win_is_clear_even_when_the_cost_is_unresolved() -> None:
    st = _two([1.0] * 40, [0.0] * 40)
    out = decide(st, ["a", "b"], "a", alpha=1.0, cost_unresolved=["b"])
    assert out.clear


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_the_selected_share_never_exceeds_the_level_when_not_clear(level: float) -> None:
    out = decide(_two([1.0] * 6 + [0.0] * 14, [0.0] * 20, [i // 4 for i in range(20)]), ["a", "b"], "a",
                 alpha=1.0, level=level)
    assert not out.clear and out.shares["a"] <= level
