"""Choosing a candidate: ``argmin cost + alpha * loss`` under constraints.

Pure: no pytest, no I/O. Comparisons between objectives are made in exact
rational arithmetic on the given floats (``fractions.Fraction``), so the
selected candidate is the true argmin for those inputs, it never depends on
the order of the candidates, and ``alpha_ranges`` agrees with ``select`` at
every alpha strictly inside a range. Exact ties are broken by fewest errored
cases (when given), lowest cost, then lowest loss, then candidate order and name. Objectives that differ only by float noise are
*not* silently merged: they are reported in ``Selection.ties``.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from pytest_llmselect.cost import check_non_negative
from pytest_llmselect.errors import SpecError

__all__ = [
    "Constraints",
    "Overall",
    "Point",
    "Selection",
    "alpha_ranges",
    "apply_constraints",
    "objective",
    "overall",
    "pareto_front",
    "select",
    "weighted_overall",
]


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _non_negative(value: object, where: str, arg: str, *, optional: bool = False) -> None:
    if not (optional and value is None):
        check_non_negative(value, where, arg)


@dataclass(frozen=True)
class Point:
    """One candidate on one task (or overall).

    ``cost``: dollars per 1,000 cases. ``loss``: >= 0, lower is better (for a
    higher-is-better metric in [0, 1], ``loss = 1 - quality``). ``quality``,
    ``latency_p95`` (seconds) and ``peak_memory_bytes`` are optional and only
    used by ``Constraints``.
    """

    name: str
    cost: float
    loss: float
    quality: float | None = None
    latency_p95: float | None = None
    peak_memory_bytes: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"Point: `name` must be a non-empty str, got {_describe(self.name)}")
        where = f"Point {self.name!r}"
        _non_negative(self.cost, where, "cost")
        _non_negative(self.loss, where, "loss")
        _non_negative(self.latency_p95, where, "latency_p95", optional=True)
        _non_negative(self.peak_memory_bytes, where, "peak_memory_bytes", optional=True)
        if self.quality is not None and (
            isinstance(self.quality, bool)
            or not isinstance(self.quality, numbers.Real)
            or not math.isfinite(self.quality)
        ):
            raise SpecError(f"{where}: `quality` must be a finite number, got {_describe(self.quality)}")


def _check_alpha(alpha: object) -> float:
    return check_non_negative(alpha, "", "alpha")


def objective(cost: float, loss: float, alpha: float) -> float:
    """``cost + alpha * loss``; alpha is the price of one unit of loss in cost units."""
    alpha = _check_alpha(alpha)
    for arg, value in (("cost", cost), ("loss", loss)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise SpecError(f"objective: `{arg}` must be a finite number, got {_describe(value)}")
    return float(cost) + alpha * float(loss)


_MAX_ALPHA = Fraction(sys.float_info.max)


def _exact_objective(p: Point, alpha: float) -> Fraction:
    return Fraction(p.cost) + Fraction(alpha) * Fraction(p.loss)


@dataclass(frozen=True)
class Constraints:
    """Hard limits; a candidate failing any of them is excluded before the argmin.

    A candidate whose value for a constrained quantity is unknown (None) fails
    that constraint: a limit the team set is not waived for missing data.
    """

    min_quality: float | None = None
    max_cost: float | None = None
    max_latency_p95: float | None = None
    max_peak_memory: float | None = None

    def __post_init__(self) -> None:
        if self.min_quality is not None and (
            isinstance(self.min_quality, bool)
            or not isinstance(self.min_quality, numbers.Real)
            or not math.isfinite(self.min_quality)
        ):
            raise SpecError(
                f"Constraints: `min_quality` must be a finite number, got {_describe(self.min_quality)}"
            )
        for arg in ("max_cost", "max_latency_p95", "max_peak_memory"):
            _non_negative(getattr(self, arg), "Constraints", arg, optional=True)

    def violation(self, p: Point) -> str | None:
        """Why ``p`` is excluded, or None if it satisfies every constraint."""
        checks = (
            ("quality", p.quality, self.min_quality, "min_quality", False),
            ("cost", p.cost, self.max_cost, "max_cost", True),
            ("latency_p95", p.latency_p95, self.max_latency_p95, "max_latency_p95", True),
            ("peak_memory_bytes", p.peak_memory_bytes, self.max_peak_memory, "max_peak_memory", True),
        )
        for what, value, limit, option, is_max in checks:
            if limit is None:
                continue
            if value is None:
                return f"{what} unknown ({option}={limit:g})"
            if (value > limit) if is_max else (value < limit):
                return f"{what} {value:g} {'>' if is_max else '<'} {option} {limit:g}"
        return None


def _check_points(points: object, where: str) -> list[Point]:
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise SpecError(f"{where}: `points` must be a sequence of Point, got {_describe(points)}")
    pts = list(points)
    seen: set[str] = set()
    for p in pts:
        if not isinstance(p, Point):
            raise SpecError(f"{where}: every point must be a Point, got {_describe(p)}")
        if p.name in seen:
            raise SpecError(f"{where}: candidate names must be unique, got {p.name!r} twice")
        seen.add(p.name)
    return pts


def apply_constraints(
    points: Sequence[Point], constraints: Constraints | None
) -> tuple[tuple[Point, ...], dict[str, str]]:
    """Split ``points`` into (eligible points, {excluded name: reason})."""
    pts = _check_points(points, "apply_constraints")
    if constraints is None:
        return tuple(pts), {}
    if not isinstance(constraints, Constraints):
        raise SpecError(f"`constraints` must be a Constraints or None, got {_describe(constraints)}")
    eligible, excluded = [], {}
    for p in pts:
        reason = constraints.violation(p)
        if reason is None:
            eligible.append(p)
        else:
            excluded[p.name] = reason
    return tuple(eligible), dict(sorted(excluded.items()))


@dataclass(frozen=True)
class Selection:
    """The outcome of ``select``.

    ``selected``: the winner's name, or None when every candidate is excluded.
    ``objectives``: objective of every *eligible* candidate, by name.
    ``excluded``: name -> reason for candidates removed by constraints.
    ``ties`` / ``near_ties``: eligible candidates whose objective is within the
    tie tolerance / within ``near_tie`` (relative) of the best, the selected
    one first, then in selection order; a length above 1 means the choice is a
    coin flip (ties) or fragile (near ties).
    """

    selected: str | None
    objectives: dict[str, float]
    excluded: dict[str, str]
    ties: tuple[str, ...]
    near_ties: tuple[str, ...]
    alpha: float


def select(
    points: Sequence[Point],
    alpha: float,
    constraints: Constraints | None = None,
    *,
    near_tie: float = 0.01,
    tie_rel: float = 1e-9,
    tie_abs: float = 1e-12,
    errors: Mapping[str, int] | None = None,
    order: Sequence[str] | None = None,
) -> Selection:
    """Pick the eligible candidate with the lowest ``cost + alpha * loss``.

    Constraints filter first. Exact ties: fewest errored cases (``errors``: name ->
    count, 0 when absent), then lowest cost, then lowest loss, then the candidates'
    ``order`` (as given on the command line), then name. A candidate is in ``ties`` when its objective exceeds the best by at
    most ``tie_rel * |best| + tie_abs``, in ``near_ties`` when by at most
    ``near_tie * |best| + tie_abs``.
    """
    alpha = _check_alpha(alpha)
    for arg, value in (("near_tie", near_tie), ("tie_rel", tie_rel), ("tie_abs", tie_abs)):
        _non_negative(value, "select", arg)
    eligible, excluded = apply_constraints(points, constraints)
    if not eligible:
        return Selection(None, {}, excluded, (), (), alpha)
    errs = dict(errors or {})
    rank = {name: i for i, name in enumerate(order or ())}
    ranked = sorted(eligible, key=lambda p: (_exact_objective(p, alpha), errs.get(p.name, 0), p.cost, p.loss,
                                             rank.get(p.name, len(rank)), p.name))
    objectives = {p.name: objective(p.cost, p.loss, alpha) for p in ranked}
    best = objectives[ranked[0].name]

    def within(rel: float) -> tuple[str, ...]:
        return tuple(p.name for p in ranked if objectives[p.name] - best <= rel * abs(best) + tie_abs)

    return Selection(
        selected=ranked[0].name,
        objectives=dict(sorted(objectives.items())),
        excluded=excluded,
        ties=within(tie_rel),
        near_ties=within(near_tie),
        alpha=alpha,
    )


def pareto_front(points: Sequence[Point]) -> tuple[str, ...]:
    """Names of the points no other point dominates (<= in cost and loss, < in
    one), sorted by cost, then loss, then name. Exact duplicates all stay."""
    pts = _check_points(points, "pareto_front")
    front = [
        p
        for p in pts
        if not any(
            q.cost <= p.cost and q.loss <= p.loss and (q.cost < p.cost or q.loss < p.loss)
            for q in pts
        )
    ]
    return tuple(p.name for p in sorted(front, key=lambda p: (p.cost, p.loss, p.name)))


def alpha_ranges(
    points: Sequence[Point], constraints: Constraints | None = None
) -> dict[str, tuple[float, float] | None]:
    """For each candidate, the closed interval [lo, hi] of alpha >= 0 on which
    ``select`` picks it, or None if it never wins (dominated, excluded by
    ``constraints``, or only ever tied with a lower-cost winner).

    Walks the lower envelope of the lines ``cost + alpha * loss`` from alpha =
    0 in exact arithmetic. Consecutive ranges share an endpoint, the last has
    ``hi == math.inf``; at a shared endpoint ``select`` picks the lower-cost
    candidate (the one whose range ends there). Endpoints are the nearest
    floats to the exact breakpoints, so a range narrower than a float's
    spacing shows as ``lo == hi``.
    """
    pts = _check_points(points, "alpha_ranges")
    eligible, _ = apply_constraints(pts, constraints)
    ranges: dict[str, tuple[float, float] | None] = {p.name: None for p in sorted(pts, key=lambda p: p.name)}
    if not eligible:
        return ranges
    lines = [(Fraction(p.cost), Fraction(p.loss), p.name) for p in eligible]
    winner = min(lines)  # alpha = 0: lowest cost, then loss, then name
    start = Fraction(0)
    while True:
        cost, loss, name = winner
        # Only a line with a lower loss can overtake as alpha grows; it ties
        # the winner at alpha = (c - cost) / (loss - l), never before `start`.
        crossings = [((c - cost) / (loss - l), l, n, (c, l, n)) for c, l, n in lines if l < loss]
        first = min(crossings, default=None)
        if first is None or first[0] > _MAX_ALPHA:  # nothing overtakes at a finite float alpha
            ranges[name] = (float(start), math.inf)
            return ranges
        at, nxt = first[0], first[3]
        ranges[name] = (float(start), float(at))
        winner, start = nxt, at


@dataclass(frozen=True)
class Overall:
    """Weighted overall points plus the candidates left out, with reasons."""

    points: tuple[Point, ...]
    excluded: dict[str, str]
    weights: dict[str, float]  # normalised to sum to 1


def overall(
    per_task: Mapping[str, Sequence[Point]], weights: Mapping[str, float] | None = None
) -> Overall:
    """Combine per-task points into one point per candidate.

    Cost, loss and quality are weighted means over tasks (equal weights by
    default; given weights must name every task exactly, be >= 0 and not all
    0, and are normalised). Quality is None unless known on every weighted
    task. ``latency_p95`` and ``peak_memory_bytes`` are the maximum over tasks
    (the max of per-task p95s bounds the pooled p95), None unless known on
    every weighted task. A candidate missing from any task with weight > 0 is
    excluded (an average over fewer tasks is not comparable); the reason names
    the tasks. Points are sorted by name.
    """
    if not isinstance(per_task, Mapping):
        raise SpecError(f"`per_task` must be a mapping of task -> points, got {_describe(per_task)}")
    tasks = {task: {p.name: p for p in _check_points(pts, f"task {task!r}")} for task, pts in per_task.items()}
    if weights is None:
        raw = {task: 1.0 for task in tasks}
    else:
        if not isinstance(weights, Mapping) or set(weights) != set(tasks):
            raise SpecError(
                f"`weights` must map exactly the tasks {sorted(tasks)} to numbers, got {_describe(weights)}"
            )
        for task, w in weights.items():
            _non_negative(w, "weights", str(task))
        raw = {task: float(w) for task, w in weights.items()}
    total = math.fsum(raw.values())
    if tasks and total <= 0:
        raise SpecError(f"`weights` must not all be 0, got {_describe(weights)}")
    norm = {task: w / total for task, w in sorted(raw.items())} if tasks else {}
    active = [task for task in norm if norm[task] > 0]
    names = sorted({name for pts in tasks.values() for name in pts})
    out, excluded = [], {}
    for name in names:
        missing = [task for task in active if name not in tasks[task]]
        if missing:
            excluded[name] = "missing from task(s) " + ", ".join(repr(t) for t in missing)
            continue
        mine = [(norm[task], tasks[task][name]) for task in active]
        qualities = [p.quality for _, p in mine]
        latencies = [p.latency_p95 for _, p in mine]
        memories = [p.peak_memory_bytes for _, p in mine]
        out.append(
            Point(
                name=name,
                cost=math.fsum(w * p.cost for w, p in mine),
                loss=math.fsum(w * p.loss for w, p in mine),
                quality=None
                if None in qualities
                else math.fsum(w * q for (w, _), q in zip(mine, qualities)),
                latency_p95=None if None in latencies else max(latencies),
                peak_memory_bytes=None if None in memories else max(memories),
            )
        )
    return Overall(points=tuple(out), excluded=excluded, weights=norm)


def weighted_overall(
    per_task: Mapping[str, Sequence[Point]], weights: Mapping[str, float] | None = None
) -> list[Point]:
    """The points of ``overall(per_task, weights)``; see ``overall`` for the
    candidates it leaves out and why."""
    return list(overall(per_task, weights).points)
