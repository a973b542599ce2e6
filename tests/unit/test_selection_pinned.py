"""selection.py: decisions mutation testing found unpinned (docs/mutation-testing.md)."""

from __future__ import annotations

import math

import pytest

from pytest_llmselect.selection import Constraints, Point, alpha_ranges, overall, select


def test_a_crossing_beyond_the_largest_float_alpha_never_happens() -> None:
    # b overtakes a only at alpha = 1e300 / 2e-308 = 5e607, past every float: a wins on [0, inf).
    pts = [Point("a", 0.0, 2e-308), Point("b", 1e300, 0.0)]
    assert alpha_ranges(pts) == {"a": (0.0, math.inf), "b": None}
    assert select(pts, 1.7e308).selected == "a"


def test_exact_ties_with_zero_tolerance_are_still_ties() -> None:
    # Equal objectives (difference exactly 0) are ties whatever the tolerance.
    pts = [Point("x", 1.0, 0.5), Point("y", 1.0, 0.5), Point("z", 1.5, 0.5)]
    sel = select(pts, 2.0, tie_rel=0.0, tie_abs=0.0, near_tie=0.0)
    assert sel.ties == ("x", "y") and sel.near_ties == ("x", "y")
    assert sel.alpha == 2.0


def test_nothing_eligible_keeps_the_reasons_and_alpha() -> None:
    pts = [Point("a", 1.0, 0.5, quality=0.5), Point("b", 2.0, 0.2, quality=0.8)]
    sel = select(pts, 3.0, Constraints(min_quality=0.9))
    assert sel.selected is None and sel.objectives == {} and sel.ties == () and sel.near_ties == ()
    assert sel.excluded == {"a": "quality 0.5 < min_quality 0.9", "b": "quality 0.8 < min_quality 0.9"}
    assert sel.alpha == 3.0


def test_overall_latency_and_memory_are_the_worst_task() -> None:
    per_task = {
        "t1": [Point("m", 1.0, 0.2, quality=0.8, latency_p95=0.5, peak_memory_bytes=3e9)],
        "t2": [Point("m", 3.0, 0.4, quality=0.6, latency_p95=0.25, peak_memory_bytes=5e9)],
    }
    (p,) = overall(per_task, {"t1": 1.0, "t2": 3.0}).points
    assert (p.latency_p95, p.peak_memory_bytes) == (0.5, 5e9)
    assert (p.cost, p.loss, p.quality) == pytest.approx((2.5, 0.35, 0.65))
    # Unknown on any weighted task: unknown overall.
    per_task["t2"] = [Point("m", 3.0, 0.4, quality=0.6, latency_p95=0.25)]
    (p,) = overall(per_task).points
    assert p.latency_p95 == 0.5 and p.peak_memory_bytes is None


def test_overall_names_every_task_a_candidate_is_missing_from() -> None:
    per_task = {"t1": [Point("a", 1.0, 0.1)], "t2": [Point("b", 1.0, 0.1)], "t3": [Point("b", 1.0, 0.1)]}
    result = overall(per_task)
    assert result.excluded == {"a": "missing from task(s) 't2', 't3'", "b": "missing from task(s) 't1'"}
    assert result.weights == pytest.approx({"t1": 1 / 3, "t2": 1 / 3, "t3": 1 / 3})
