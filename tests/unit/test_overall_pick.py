"""The overall pick's pure parts: partial runs, the tie line, the settle line, the scale rule."""

from __future__ import annotations

from pytest_llmselect.decision import Settle
from pytest_llmselect.overall_pick import block_range, overall_decision, partial_reason, settle_text, tie_break_text


def _row(c, n_missing=0, n_errors=0, cost=1.0, quality=0.5):
    return {"candidate": c, "n_missing": n_missing, "n_errors": n_errors, "cost": cost, "quality": quality, "n": 10}


def test_partial_reason_names_the_cases_not_run_and_ignores_failed_loads() -> None:
    blocks = [{"name": "t1", "results": [_row("a"), _row("b", n_missing=1200), _row("c", n_missing=40)]},
              {"name": "t2", "results": [_row("a"), _row("b", n_missing=3)]}]
    cands = [{"name": "a"}, {"name": "b"}, {"name": "c", "status": "load_failed"}]
    assert partial_reason(blocks, cands) == "1,203 cases of b not run"
    assert partial_reason(blocks, cands, tasks=["t2"]) == "3 cases of b not run"
    assert partial_reason([{"name": "t", "results": [_row("a")]}], cands) is None


def test_settle_line_has_thousands_separators_and_the_current_n() -> None:
    assert settle_text(Settle(12_345, 200, 61.7, None)) == "about 12,345 cases would likely settle it, now 200"
    assert settle_text(Settle(None, 200, None, "practically a tie: more than 100,000 cases would be needed")) \
        == "practically a tie: more than 100,000 cases would be needed"
    assert settle_text(None) is None


def test_tie_line_says_what_broke_the_tie() -> None:
    rows = [_row("x", n_errors=0, cost=2.0), _row("y", n_errors=5, cost=1.0), _row("z", cost=2.0)]
    assert tie_break_text({"ties": ["x", "y"]}, rows).endswith("broken by fewer errored cases")
    assert tie_break_text({"ties": ["y", "x"]}, [_row("x", cost=2.0), _row("y", cost=1.0)]).endswith("lower cost")
    assert tie_break_text({"ties": ["x", "z"]}, rows).endswith("candidate order")
    assert tie_break_text({"ties": ["x"]}, rows) is None


def _scores(values):
    return {f"c{i}": {"score": float(v), "group": None} for i, v in enumerate(values)}


def test_a_task_without_a_known_range_has_none_and_a_0_1_task_is_its_own_scale() -> None:
    assert block_range({"metric": None, "score_range": None}, {"a": _scores([0.5, 3.0])}) is None
    assert block_range({"metric": None, "score_range": None}, {"a": _scores([0, 1])}) == (0.0, 1.0)
    assert block_range({"metric": "token_f1", "score_range": None}, {"a": _scores([0.5])}) == (0.0, 1.0)


def test_an_absolute_error_task_does_not_outweigh_accuracy_tasks() -> None:
    # Three accuracy tasks favour "good" by 0.3 each; an absolute-error task (0-200) favours "bad"
    # by 30 units, i.e. 0.15 of its range. In raw units "bad" would win overall; on [0, 1] "good" does.
    acc = {"good": _scores([1] * 8 + [0] * 2), "bad": _scores([1] * 5 + [0] * 5)}
    err = {"good": _scores([60.0] * 10), "bad": _scores([30.0] * 10)}
    blocks = [{"name": f"acc{i}", "metric": "exact_match", "higher_is_better": True,
               "results": [_row("good", quality=0.8), _row("bad", quality=0.5)]} for i in range(3)]
    blocks.append({"name": "err", "metric": None, "score_range": [0, 200], "higher_is_better": False,
                   "results": [_row("good", quality=60.0), _row("bad", quality=30.0)]})
    scores = {**{f"acc{i}": acc for i in range(3)}, "err": err}
    pick = overall_decision(blocks, scores, {b["name"]: 1.0 for b in blocks}, ["good", "bad"], "good", alpha=1.0,
                            level=0.95, seed=0, cost_se=lambda r: 0.0, partial=None)
    assert pick.comparisons["bad"].diff > 0  # bad is worse on the [0, 1]-scaled objective
    assert abs(pick.comparisons["bad"].diff - (3 * 0.3 - 0.15) / 4) < 1e-9
