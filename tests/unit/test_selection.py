from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.selection import (
    Constraints,
    Point,
    Selection,
    alpha_ranges,
    apply_constraints,
    objective,
    overall,
    pareto_front,
    select,
    weighted_overall,
)

# Small integer grids make exact ties, duplicates and concurrent lines common.
grid_values = st.integers(0, 6).map(float)
float_values = st.floats(0, 100, allow_nan=False, allow_infinity=False)


@st.composite
def point_sets(draw: st.DrawFn, values: st.SearchStrategy[float] = grid_values) -> list[Point]:
    n = draw(st.integers(1, 7))
    names = draw(st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=n, max_size=n, unique=True))
    return [Point(name, cost=draw(values), loss=draw(values)) for name in names]


mixed_point_sets = point_sets(grid_values) | point_sets(float_values)


def brute_force_winner(points: list[Point], alpha: float) -> str:
    """argmin of the exact objective; ties: lowest cost, lowest loss, name."""
    a = Fraction(alpha)
    return min(points, key=lambda p: (Fraction(p.cost) + a * Fraction(p.loss), p.cost, p.loss, p.name)).name


def dominated(p: Point, points: list[Point]) -> bool:
    return any(
        q.cost <= p.cost and q.loss <= p.loss and (q.cost < p.cost or q.loss < p.loss) for q in points
    )


# ----------------------------------------------------------------- objective


def test_objective_value() -> None:
    assert objective(2.0, 0.25, 4.0) == 3.0
    assert objective(2.0, 0.25, 0) == 2.0


@pytest.mark.parametrize("alpha", [-1.0, float("nan"), float("inf"), "1", None, True])
def test_objective_rejects_bad_alpha(alpha: object) -> None:
    with pytest.raises(SpecError, match="alpha"):
        objective(1.0, 0.5, alpha)  # type: ignore[arg-type]


def test_point_validation() -> None:
    with pytest.raises(SpecError, match="cost.*-1"):
        Point("m", cost=-1.0, loss=0.0)
    with pytest.raises(SpecError, match="loss.*nan"):
        Point("m", cost=1.0, loss=float("nan"))
    with pytest.raises(SpecError, match="name"):
        Point("", cost=1.0, loss=0.0)


# -------------------------------------------------------------------- select


def test_select_simple() -> None:
    pts = [Point("cheap", 1.0, 0.5), Point("good", 5.0, 0.1)]
    assert select(pts, alpha=1.0).selected == "cheap"  # 1.5 vs 5.1
    assert select(pts, alpha=100.0).selected == "good"  # 51 vs 15
    sel = select(pts, alpha=1.0)
    assert isinstance(sel, Selection)
    assert sel.objectives == {"cheap": 1.5, "good": 5.1}
    assert sel.ties == ("cheap",) and sel.excluded == {}


def test_tie_break_lowest_cost_then_loss_then_name() -> None:
    # alpha = 4: both objectives are exactly 3.0 (binary fractions); the cheaper one wins.
    assert select([Point("b", 2.0, 0.25), Point("a", 1.0, 0.5)], 4.0).selected == "a"
    # alpha = 0: objective is cost; equal costs -> lower loss.
    assert select([Point("a", 1.0, 0.5), Point("b", 1.0, 0.25)], 0.0).selected == "b"
    # exact duplicates -> name.
    sel = select([Point("z", 1.0, 0.5), Point("y", 1.0, 0.5)], 3.0)
    assert sel.selected == "y" and sel.ties == ("y", "z")


def test_float_noise_is_reported_not_merged() -> None:
    # 0.1 + 0.2 (as floats) is larger than 0.3 exactly; flag the coin flip.
    sel = select([Point("x", 0.1, 0.2), Point("y", 0.3, 0.0)], 1.0)
    assert set(sel.ties) == {"x", "y"}


def test_near_ties() -> None:
    pts = [Point("a", 100.0, 0.0), Point("b", 100.5, 0.0), Point("c", 110.0, 0.0)]
    sel = select(pts, 1.0)
    assert sel.selected == "a" and sel.ties == ("a",) and sel.near_ties == ("a", "b")
    assert select(pts, 1.0, near_tie=0.2).near_ties == ("a", "b", "c")


def test_constraints() -> None:
    pts = [
        Point("tiny", 0.1, 0.6, quality=0.4, latency_p95=0.01, peak_memory_bytes=1e6),
        Point("mid", 1.0, 0.2, quality=0.8, latency_p95=0.5, peak_memory_bytes=1e8),
        Point("huge", 9.0, 0.1, quality=0.9, latency_p95=3.0, peak_memory_bytes=1e10),
        Point("unknown", 0.5, 0.1),
    ]
    c = Constraints(min_quality=0.7, max_latency_p95=1.0)
    sel = select(pts, alpha=0.0, constraints=c)
    assert sel.selected == "mid"
    assert set(sel.excluded) == {"tiny", "huge", "unknown"}
    assert "min_quality" in sel.excluded["tiny"] and "max_latency_p95" in sel.excluded["huge"]
    assert "unknown" in sel.excluded["unknown"]
    assert set(sel.objectives) == {"mid"}
    assert select(pts, 0.0, Constraints(max_cost=0.05)).selected is None
    assert select(pts, 0.0, Constraints(max_peak_memory=1e7)).excluded.keys() == {"mid", "huge", "unknown"}
    eligible, excluded = apply_constraints(pts, Constraints(max_cost=1.0))
    assert [p.name for p in eligible] == ["tiny", "mid", "unknown"] and list(excluded) == ["huge"]


def test_constraints_validation() -> None:
    with pytest.raises(SpecError, match="max_cost.*-2"):
        Constraints(max_cost=-2.0)
    with pytest.raises(SpecError, match="unique"):
        select([Point("a", 1, 1), Point("a", 2, 2)], 1.0)


def test_select_empty() -> None:
    sel = select([], 1.0)
    assert sel.selected is None and sel.objectives == {} and sel.ties == ()


@given(mixed_point_sets, st.floats(0, 1e3), st.randoms(use_true_random=False))
def test_select_is_exact_argmin_and_order_free(points: list[Point], alpha: float, rnd) -> None:
    sel = select(points, alpha)
    assert sel.selected == brute_force_winner(points, alpha)
    shuffled = list(points)
    rnd.shuffle(shuffled)
    assert select(shuffled, alpha) == sel
    assert sel.selected in pareto_front(points)
    assert sel.ties[0] == sel.selected and set(sel.ties) <= set(sel.near_ties)


# -------------------------------------------------------------- pareto front


def test_pareto_front_example() -> None:
    pts = [
        Point("a", 1.0, 0.5),
        Point("b", 2.0, 0.5),  # dominated by a
        Point("c", 3.0, 0.1),
        Point("d", 3.0, 0.1),  # duplicate of c: both stay
        Point("e", 0.5, 0.9),
        Point("f", 3.0, 0.2),  # dominated by c
    ]
    assert pareto_front(pts) == ("e", "a", "c", "d")


@given(mixed_point_sets)
def test_pareto_front_definition(points: list[Point]) -> None:
    front = pareto_front(points)
    assert set(front) == {p.name for p in points if not dominated(p, points)}
    costs = [next(p.cost for p in points if p.name == n) for n in front]
    assert costs == sorted(costs)
    assert pareto_front(list(reversed(points))) == front


# -------------------------------------------------------------- alpha ranges


def test_alpha_ranges_example() -> None:
    pts = [
        Point("cheap", 1.0, 0.5),
        Point("mid", 2.0, 0.2),
        Point("best", 6.0, 0.1),
        Point("bad", 7.0, 0.5),  # dominated
        Point("hullless", 4.0, 0.19),  # on the front, never on the lower envelope
    ]
    ranges = alpha_ranges(pts)
    # cheap/mid cross at (2 - 1) / (0.5 - 0.2) = 10/3; mid/best at 4 / 0.1 = 40.
    assert ranges["cheap"] == pytest.approx((0.0, 10 / 3))
    assert ranges["mid"] == pytest.approx((10 / 3, 40.0))
    assert ranges["best"][0] == pytest.approx(40.0) and ranges["best"][1] == math.inf
    assert ranges["bad"] is None and ranges["hullless"] is None


def test_alpha_ranges_concurrent_lines() -> None:
    # All three tie at alpha = 1; the middle one never wins outright.
    pts = [Point("a", 0.0, 2.0), Point("b", 1.0, 1.0), Point("c", 2.0, 0.0)]
    ranges = alpha_ranges(pts)
    assert ranges == {"a": (0.0, 1.0), "b": None, "c": (1.0, math.inf)}
    assert select(pts, 1.0).selected == "a"
    assert select(pts, 1.0).ties == ("a", "b", "c")


def test_alpha_ranges_with_constraints() -> None:
    pts = [Point("a", 0.0, 2.0, quality=0.1), Point("c", 2.0, 0.0, quality=0.9)]
    assert alpha_ranges(pts, Constraints(min_quality=0.5)) == {"a": None, "c": (0.0, math.inf)}


@given(mixed_point_sets, st.lists(st.floats(0.001, 0.999), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_alpha_ranges_partition_and_agree_with_argmin(points: list[Point], fractions: list[float], rnd) -> None:
    ranges = alpha_ranges(points)
    assert set(ranges) == {p.name for p in points}
    spans = sorted(r for r in ranges.values() if r is not None)
    # Cover [0, inf) with no gaps and no overlap beyond shared endpoints.
    assert spans[0][0] == 0.0 and spans[-1][1] == math.inf
    for (lo1, hi1), (lo2, hi2) in zip(spans, spans[1:]):
        assert hi1 == lo2
    for lo, hi in spans:
        assert lo <= hi  # == only for a range narrower than float spacing
    for name, r in ranges.items():
        p = next(q for q in points if q.name == name)
        if dominated(p, points):
            assert r is None
        if r is None:
            continue
        lo, hi = r
        if hi == math.inf:
            samples = [lo + 1.0, lo * 2 + 1, lo * 1e6 + 1e6]
        else:
            samples = [lo + f * (hi - lo) for f in fractions]
        for alpha in samples:
            if lo < alpha < hi:
                assert brute_force_winner(points, alpha) == name
                assert select(points, alpha).selected == name
    shuffled = list(points)
    rnd.shuffle(shuffled)
    assert alpha_ranges(shuffled) == ranges


@given(mixed_point_sets, st.floats(0, 1e4))
def test_alpha_ranges_contain_the_selected(points: list[Point], alpha: float) -> None:
    # At any alpha (endpoints included) the selected candidate's range contains it.
    winner = select(points, alpha).selected
    r = alpha_ranges(points)[winner]
    assert r is not None and r[0] <= alpha <= r[1]


# ---------------------------------------------------------- weighted overall


def test_weighted_overall_equal_weights() -> None:
    per_task = {
        "qa": [Point("m1", 2.0, 0.2, quality=0.8), Point("m2", 4.0, 0.1, quality=0.9)],
        "sum": [Point("m1", 4.0, 0.4, quality=0.6), Point("m2", 6.0, 0.3, quality=0.7)],
    }
    pts = {p.name: p for p in weighted_overall(per_task, None)}
    assert pts["m1"].cost == pytest.approx(3.0) and pts["m1"].loss == pytest.approx(0.3)
    assert pts["m2"].quality == pytest.approx(0.8)


def test_weighted_overall_weights_and_missing() -> None:
    per_task = {
        "qa": [Point("m1", 2.0, 0.2, latency_p95=1.0), Point("m2", 4.0, 0.1), Point("m3", 1.0, 0.9)],
        "sum": [Point("m1", 4.0, 0.4, latency_p95=3.0), Point("m2", 6.0, 0.3)],
        "free": [Point("m1", 0.0, 0.0)],  # weight 0: absences here do not count
    }
    result = overall(per_task, {"qa": 3.0, "sum": 1.0, "free": 0.0})
    pts = {p.name: p for p in result.points}
    assert set(pts) == {"m1", "m2"}
    assert pts["m1"].cost == pytest.approx(0.75 * 2 + 0.25 * 4)
    assert pts["m1"].loss == pytest.approx(0.75 * 0.2 + 0.25 * 0.4)
    assert pts["m1"].latency_p95 == 3.0 and pts["m2"].latency_p95 is None
    assert pts["m1"].quality is None
    assert "sum" in result.excluded["m3"]
    assert result.weights == pytest.approx({"free": 0.0, "qa": 0.75, "sum": 0.25})
    assert weighted_overall(per_task, {"qa": 3.0, "sum": 1.0, "free": 0.0}) == list(result.points)


@pytest.mark.parametrize(
    "weights", [{"qa": 1.0}, {"qa": 1.0, "sum": 1.0, "x": 1.0}, {"qa": -1.0, "sum": 1.0}, {"qa": 0, "sum": 0}]
)
def test_weighted_overall_bad_weights(weights: dict[str, float]) -> None:
    per_task = {"qa": [Point("m", 1.0, 0.1)], "sum": [Point("m", 1.0, 0.1)]}
    with pytest.raises(SpecError, match="weights|qa"):
        weighted_overall(per_task, weights)


@given(st.dictionaries(st.sampled_from(["t1", "t2", "t3"]), point_sets(grid_values), min_size=1))
def test_weighted_overall_is_within_task_range(per_task: dict[str, list[Point]]) -> None:
    result = overall(per_task)
    for p in result.points:
        costs = [q.cost for pts in per_task.values() for q in pts if q.name == p.name]
        assert len(costs) == len(per_task)
        assert min(costs) - 1e-9 <= p.cost <= max(costs) + 1e-9
    everyone = {q.name for pts in per_task.values() for q in pts}
    assert {p.name for p in result.points} | set(result.excluded) == everyone
    reordered = {t: list(reversed(per_task[t])) for t in reversed(list(per_task))}
    assert overall(reordered).points == result.points
