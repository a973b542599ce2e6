"""Which (task, candidate) groups need more timing rounds: only those whose cost can change
the pick. Pure: no pytest, no torch, no I/O; it reads the report's task blocks (and the
overall block) of a first analysis made with one timing round per group.

The objective is ``cost + alpha * loss``. For the selected candidate L of a task and each
other eligible candidate R, the cost difference's interval has the half-width
``h = hypot(half_R, half_L)`` (each cost's interval half-width; independent timing errors,
as ``costmodel.alpha_boundaries`` adds them). Moving the costs within their intervals
moves the objective difference ``D = objective_R - objective_L`` by up to ``h``:

* the pick can change hands when ``D - h <= 0`` (R could come out cheaper overall);
* the verdict (clear or not) can change when the lower end of the objective comparison
  (``comparison.lo``, R minus L: "significantly worse" when above 0) lies within ``h`` of 0.

Only then are L and R timed again; every other group keeps its one timed pass. The overall
pick is checked the same way on its rows (the pick only: the overall rows carry no paired
comparison), and a change there marks L's and R's groups in every weighted task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

__all__ = ["TimingNeed", "groups_to_retime"]


@dataclass(frozen=True)
class TimingNeed:
    """One group to time again, and why (the report's ``measures.timing_rounds_reason``)."""

    task: str
    candidate: str
    reason: str


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _half(row: Mapping[str, Any]) -> float:
    """The half-width of a row's cost interval (0 where exact or unknown)."""
    cost, lo, hi = _number(row.get("cost")), _number(row.get("cost_lo")), _number(row.get("cost_hi"))
    if cost is None:
        return 0.0
    return max(0.0, cost - lo if lo is not None else 0.0, hi - cost if hi is not None else 0.0)


def _rivals(rows: Sequence[Mapping[str, Any]], selection: Mapping[str, Any]
            ) -> tuple[Mapping[str, Any] | None, list[tuple[Mapping[str, Any], str]]]:
    """The selected row and each rival whose cost could change the pick or its verdict, with how."""
    selected = selection.get("selected")
    excluded = selection.get("excluded") or {}
    by_name = {r.get("candidate"): r for r in rows}
    leader = by_name.get(selected)
    if leader is None or _number(leader.get("objective")) is None:
        return None, []
    out = []
    for row in rows:
        name = row.get("candidate")
        if name == selected or name in excluded or not row.get("n", 1):
            continue
        objective = _number(row.get("objective"))
        if objective is None:
            continue
        h = math.hypot(_half(row), _half(leader))
        gap = objective - float(leader["objective"])  # type: ignore[arg-type]
        if gap - h <= 0:
            out.append((row, "pick"))
            continue
        cmp = row.get("comparison")
        lo = _number(cmp.get("lo")) if isinstance(cmp, Mapping) else None
        if lo is not None and h > 0 and abs(lo) <= h:
            out.append((row, "verdict"))
    return leader, out


def _task_needs(block: Mapping[str, Any], where: str) -> dict[str, str]:
    leader, rivals = _rivals(block.get("results") or [], block.get("selection") or {})
    if leader is None or not rivals:
        return {}
    name = str(leader["candidate"])
    picks = [str(r["candidate"]) for r, how in rivals if how == "pick"]
    verdicts = [str(r["candidate"]) for r, how in rivals if how == "verdict"]
    parts = ([f"cost could hand the pick to {', '.join(picks)}"] if picks else []) + \
        ([f"cost could change the verdict against {', '.join(verdicts)}"] if verdicts else [])
    out = {name: f"{where}: the pick; {'; '.join(parts)}"}
    for r, how in rivals:
        out[str(r["candidate"])] = (f"{where}: cost could make it the pick over {name}" if how == "pick"
                                    else f"{where}: cost could change whether {name}'s pick is clear")
    return out


def groups_to_retime(tasks: Sequence[Mapping[str, Any]], overall: Mapping[str, Any] | None,
                     retimable: Collection[tuple[str, str]]) -> list[TimingNeed]:
    """The groups among ``retimable`` ((task, candidate) pairs timed in one round that more
    rounds could measure) whose cost can change a task's pick or verdict, or the overall
    pick; in task order, each once, with its reason."""
    wanted = set(retimable)
    reasons: dict[tuple[str, str], str] = {}
    for block in tasks:
        task = str(block.get("name"))
        for cand, why in _task_needs(block, f"task {task!r}").items():
            reasons.setdefault((task, cand), why)
    if overall:
        weights = overall.get("weights") or {}
        for cand, why in _task_needs(overall, "overall").items():
            for block in tasks:
                task = str(block.get("name"))
                if (_number(weights.get(task)) or 0.0) > 0:
                    reasons.setdefault((task, cand), why)
    order = {str(b.get("name")): i for i, b in enumerate(tasks)}
    keys = sorted((k for k in reasons if k in wanted), key=lambda k: (order.get(k[0], 0), k[1]))
    return [TimingNeed(task, cand, reasons[(task, cand)]) for task, cand in keys]
