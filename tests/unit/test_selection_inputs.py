"""Bad input to selection.py, and the reasons it gives for excluding a candidate: one clear
line naming where, the argument, what it must be and what it got. Whole messages matched."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from pytest_llmselect.errors import SpecError
from pytest_llmselect.selection import (
    Constraints,
    Point,
    alpha_ranges,
    apply_constraints,
    objective,
    overall,
    pareto_front,
    select,
)

NN = "must be a finite number >= 0, got"
P = [Point("a", 1.0, 0.5), Point("b", 2.0, 0.25)]

CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("point name", lambda: Point("", 1.0, 0.0), "Point: `name` must be a non-empty str, got '' (str)"),
    ("point name type", lambda: Point(3, 1.0, 0.0), "Point: `name` must be a non-empty str, got 3 (int)"),
    ("point cost", lambda: Point("m", -1.0, 0.0), f"Point 'm': `cost` {NN} -1.0 (float)"),
    ("point cost None", lambda: Point("m", None, 0.0), f"Point 'm': `cost` {NN} None (NoneType)"),
    ("point loss", lambda: Point("m", 1.0, float("inf")), f"Point 'm': `loss` {NN} inf (float)"),
    ("point latency", lambda: Point("m", 1.0, 0.0, latency_p95=-0.5), f"Point 'm': `latency_p95` {NN} -0.5 (float)"),
    ("point memory", lambda: Point("m", 1.0, 0.0, peak_memory_bytes="1e9"),
     f"Point 'm': `peak_memory_bytes` {NN} '1e9' (str)"),
    ("point quality", lambda: Point("m", 1.0, 0.0, quality=float("nan")),
     "Point 'm': `quality` must be a finite number, got nan (float)"),
    ("point quality bool", lambda: Point("m", 1.0, 0.0, quality=True),
     "Point 'm': `quality` must be a finite number, got True (bool)"),
    ("point quality str", lambda: Point("m", 1.0, 0.0, quality="0.5"),
     "Point 'm': `quality` must be a finite number, got '0.5' (str)"),
    ("objective alpha", lambda: objective(1.0, 0.5, -1.0), f"`alpha` {NN} -1.0 (float)"),
    ("objective cost", lambda: objective(float("nan"), 0.5, 1.0), "objective: `cost` must be a finite number, got nan (float)"),
    ("objective loss", lambda: objective(1.0, True, 1.0), "objective: `loss` must be a finite number, got True (bool)"),
    ("objective loss str", lambda: objective(1.0, "x", 1.0), "objective: `loss` must be a finite number, got 'x' (str)"),
    ("constraints min_quality", lambda: Constraints(min_quality=float("inf")),
     "Constraints: `min_quality` must be a finite number, got inf (float)"),
    ("constraints min_quality bool", lambda: Constraints(min_quality=False),
     "Constraints: `min_quality` must be a finite number, got False (bool)"),
    ("constraints min_quality str", lambda: Constraints(min_quality="0.5"),
     "Constraints: `min_quality` must be a finite number, got '0.5' (str)"),
    ("constraints max_cost", lambda: Constraints(max_cost=-2.0), f"Constraints: `max_cost` {NN} -2.0 (float)"),
    ("constraints max_latency", lambda: Constraints(max_latency_p95=-1), f"Constraints: `max_latency_p95` {NN} -1 (int)"),
    ("constraints max_memory", lambda: Constraints(max_peak_memory=float("nan")),
     f"Constraints: `max_peak_memory` {NN} nan (float)"),
    ("points not a sequence", lambda: select("ab", 1.0),
     "apply_constraints: `points` must be a sequence of Point, got 'ab' (str)"),
    ("points not iterable", lambda: pareto_front(5), "pareto_front: `points` must be a sequence of Point, got 5 (int)"),
    ("point type", lambda: alpha_ranges([P[0], (1, 2)]),
     "alpha_ranges: every point must be a Point, got (1, 2) (tuple)"),
    ("names unique", lambda: apply_constraints([P[0], Point("a", 3.0, 0.0)], None),
     "apply_constraints: candidate names must be unique, got 'a' twice"),
    ("constraints type", lambda: apply_constraints(P, {"max_cost": 1}),
     "`constraints` must be a Constraints or None, got {'max_cost': 1} (dict)"),
    ("select alpha", lambda: select(P, float("nan")), f"`alpha` {NN} nan (float)"),
    ("select near_tie", lambda: select(P, 1.0, near_tie=-0.1), f"select: `near_tie` {NN} -0.1 (float)"),
    ("select tie_rel", lambda: select(P, 1.0, tie_rel=-1), f"select: `tie_rel` {NN} -1 (int)"),
    ("select tie_abs", lambda: select(P, 1.0, tie_abs=None), f"select: `tie_abs` {NN} None (NoneType)"),
    ("overall per_task", lambda: overall([P]), "`per_task` must be a mapping of task -> points, got [[" +
     repr(P[0]) + ", " + repr(P[1]) + "]] (list)"),
    ("overall task points", lambda: overall({"t": [P[0], P[0]]}), "task 't': candidate names must be unique, got 'a' twice"),
    ("overall weights tasks", lambda: overall({"t": P, "u": P}, {"t": 1.0}),
     "`weights` must map exactly the tasks ['t', 'u'] to numbers, got {'t': 1.0} (dict)"),
    ("overall weights type", lambda: overall({"t": P}, [1.0]),
     "`weights` must map exactly the tasks ['t'] to numbers, got [1.0] (list)"),
    ("overall weight", lambda: overall({"t": P, "u": P}, {"t": 1.0, "u": -1.0}), f"weights: `u` {NN} -1.0 (float)"),
    ("overall weights zero", lambda: overall({"t": P, "u": P}, {"t": 0.0, "u": 0}),
     "`weights` must not all be 0, got {'t': 0.0, 'u': 0} (dict)"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(SpecError, match="^" + re.escape(message) + "$"):
        call()


def test_exclusion_reasons_name_the_value_and_the_limit() -> None:
    pts = [
        Point("low", 0.5, 0.6, quality=0.4, latency_p95=0.25, peak_memory_bytes=2e9),
        Point("dear", 3.0, 0.1, quality=0.9, latency_p95=0.25, peak_memory_bytes=2e9),
        Point("slow", 0.5, 0.1, quality=0.9, latency_p95=1.5, peak_memory_bytes=2e9),
        Point("big", 0.5, 0.1, quality=0.9, latency_p95=0.25, peak_memory_bytes=8e9),
        Point("blind", 0.5, 0.1),
        Point("ok", 1.0, 0.1, quality=0.7, latency_p95=1.0, peak_memory_bytes=4e9),
    ]
    c = Constraints(min_quality=0.7, max_cost=1.0, max_latency_p95=1.0, max_peak_memory=4e9)
    eligible, excluded = apply_constraints(pts, c)
    # Limits are inclusive: a value exactly at its limit passes.
    assert [p.name for p in eligible] == ["ok"]
    assert excluded == {
        "big": "peak_memory_bytes 8e+09 > max_peak_memory 4e+09",
        "blind": "quality unknown (min_quality=0.7)",
        "dear": "cost 3 > max_cost 1",
        "low": "quality 0.4 < min_quality 0.7",
        "slow": "latency_p95 1.5 > max_latency_p95 1",
    }
    assert list(excluded) == sorted(excluded)  # reported in name order
    # Each unknown quantity is named by its own constraint.
    only = [Point("q", 0.5, 0.1, quality=0.9)]
    assert apply_constraints(only, Constraints(max_latency_p95=1.0))[1] == {
        "q": "latency_p95 unknown (max_latency_p95=1)"}
    assert apply_constraints(only, Constraints(max_peak_memory=4e9))[1] == {
        "q": "peak_memory_bytes unknown (max_peak_memory=4e+09)"}
