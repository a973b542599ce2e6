"""From a report's per-case scores to a decided pick: the strata ``decision`` tests, the
comparisons, the clear-pick verdict, the pick probability and the cases that would settle it,
for one task or for the overall pick. Pure: no pytest, no torch, no I/O.

A task without groups keeps its own paired test (``confidence.objective_compare``: Tango's
score test for 0/1 losses, paired t otherwise); a task with groups and the overall pick use
``decision.compare``, which treats groups as clusters and tasks as strata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

from pytest_llmselect.confidence import ObjectiveComparison, objective_compare
from pytest_llmselect.decision import Settle, Stratum, compare, settle
from pytest_llmselect.pick_chance import pick_shares

__all__ = ["Pick", "Verdict", "clear_pick", "cost_decides", "decide", "known_range", "task_stratum"]

Scores = Mapping[str, Mapping[str, "tuple[float, Hashable | None]"]]


def known_range(score_range: Sequence[float] | None, scores: Scores) -> tuple[float, float] | None:
    """A task's score range for the overall: the declared one (or the built-in metric's),
    else [0, 1] when every score is 0 or 1 (a 0/1 score is its own scale), else None."""
    if score_range is not None and len(score_range) == 2 and float(score_range[1]) > float(score_range[0]):
        return float(score_range[0]), float(score_range[1])
    values = [s for rows in scores.values() for s, _ in rows.values()]
    if values and all(v in (0.0, 1.0) for v in values):
        return 0.0, 1.0
    return None


def task_stratum(scores: Scores, costs: Mapping[str, float], cost_se: Mapping[str, float], *,
                 higher_is_better: bool, score_range: tuple[float, float] | None, unit: bool,
                 weight: float = 1.0) -> Stratum:
    """One task's stratum over the union of its case ids (NaN where a candidate lacks a case).

    ``unit``: losses on the [0, 1] scale of ``score_range`` (the overall); else on the task's
    own loss scale (``1 - score`` or ``score``), with ``scale`` the range's width so that the
    0/1 and floor rules still see [0, 1] losses."""
    lo, hi = score_range if score_range is not None else (0.0, 1.0)
    width = hi - lo
    ids = sorted({cid for rows in scores.values() for cid in rows})
    groups: dict[str, Hashable | None] = {}
    for rows in scores.values():
        for cid, (_, g) in rows.items():
            if groups.get(cid) is None:
                groups[cid] = g
    losses = {}
    for cand, rows in scores.items():
        out = []
        for cid in ids:
            if cid not in rows:
                out.append(math.nan)
                continue
            s = float(rows[cid][0])
            out.append((hi - s) / width if higher_is_better else (s - lo) / width)
        losses[cand] = out
    grouped = any(g is not None for g in groups.values())
    # Scale, and the cost's place beside it: the objective is cost + alpha * loss on the task's
    # own scale, i.e. alpha * width per unit of [0, 1] loss. The loss for higher-is-better
    # scores on their own scale is 1 - score, which is (hi - s) only when hi == 1; the shift
    # is the same for every candidate, so differences are unaffected.
    return Stratum(losses=losses, costs=dict(costs), cost_se=dict(cost_se),
                   groups=[groups[c] for c in ids] if grouped else None, weight=weight,
                   scale=1.0 if unit else width)


@dataclass(frozen=True)
class Verdict:
    """Whether a pick is clear, and the first reason it is not."""

    clear: bool
    reason: str | None


def clear_pick(comparisons: Mapping[str, ObjectiveComparison], *, evaluated: int, partial: str | None = None,
               cost_unresolved: Sequence[str] = ()) -> Verdict:
    """The clear-pick rule shared by a task and the overall pick. Clear only when at least two
    candidates were evaluated, the run is complete (``partial``: why it is not), and every
    other candidate in ``comparisons`` is significantly worse on the objective, none of them
    by a cost difference the machine could not resolve (``cost_unresolved``: the rivals whose
    cost difference with the selected is within timing noise and whose quality alone would
    not make them worse; see ``cost_decides``)."""
    if evaluated < 2:
        return Verdict(False, "only one candidate was evaluated: nothing to pick between")
    if partial:
        return Verdict(False, f"partial run: {partial}")
    for name, cmp in comparisons.items():
        if not cmp.worse:
            return Verdict(False, f"{name} is not distinguishable on the objective")
    for name in cost_unresolved:
        if name in comparisons:
            return Verdict(False, f"only the cost difference with {name} decides, and this machine cannot "
                                  "resolve it (within timing noise)")
    return Verdict(True, None)


def cost_decides(cmp: ObjectiveComparison, alpha: float) -> bool:
    """Whether ``cmp``'s verdict rests on the cost: without the cost difference, the quality
    difference alone (``alpha * loss_diff``) would not be beyond the test's margin."""
    margin = cmp.diff - cmp.lo  # the interval's lower half-width, in objective units
    return not alpha * cmp.loss_diff > margin


@dataclass(frozen=True)
class Pick:
    """A decided pick. ``reason``: why it is not clear (None when it is). ``settle``: the
    cases that would likely settle an unclear pick (None when clear or not computable)."""

    selected: str
    clear: bool
    reason: str | None
    shares: dict[str, float]
    runner_up: str | None
    settle: Settle | None
    comparisons: dict[str, ObjectiveComparison]


def _ungrouped_compare(st: Stratum, rival: str, selected: str, alpha: float, level: float,
                       m: int) -> ObjectiveComparison:
    import numpy as np

    a = np.asarray(st.losses[rival], dtype=float)
    b = np.asarray(st.losses[selected], dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    return objective_compare((a[keep] * st.scale).tolist(), (b[keep] * st.scale).tolist(), alpha=alpha,
                             cost_a=float(st.costs[rival]), cost_b=float(st.costs[selected]),
                             cost_se_a=float(st.cost_se.get(rival, 0.0) or 0.0),
                             cost_se_b=float(st.cost_se.get(selected, 0.0) or 0.0), level=level, m=m)


def decide(strata: Sequence[Stratum], candidates: Sequence[str], selected: str, *, alpha: float,
           level: float = 0.95, partial: str | None = None, cost_unresolved: Sequence[str] = (),
           seed: int = 0, n_draws: int = 4000, evaluated: int | None = None) -> Pick:
    """Compare ``selected`` with every other of ``candidates`` (Bonferroni over them), apply the
    clear-pick rule, and give the pick probability and the cases to settle.

    One stratum without groups: the task's own test (``objective_compare``); otherwise
    ``decision.compare``. ``partial``: why the run is incomplete (never clear then).
    ``cost_unresolved``: rivals whose cost difference with the selected the machine could not
    resolve; they keep the pick from being clear where the cost decides their comparison.
    ``evaluated``: candidates evaluated, when more than ``candidates`` (some already ruled out,
    e.g. below min_quality beyond doubt)."""
    rivals = [c for c in candidates if c != selected]
    m = max(1, len(rivals))
    own_test = len(strata) == 1 and strata[0].groups is None
    cmps = {r: (_ungrouped_compare(strata[0], r, selected, alpha, level, m) if own_test
                else compare(strata, r, selected, alpha=alpha, level=level, m=m)) for r in rivals}
    unresolved = [r for r in cost_unresolved if r in cmps and cost_decides(cmps[r], alpha)]
    verdict = clear_pick(cmps, evaluated=max(len(rivals) + 1, evaluated or 0), partial=partial,
                         cost_unresolved=unresolved)
    shares = pick_shares(strata, list(candidates), selected, alpha=alpha, level=level, clear=verdict.clear,
                         seed=seed, n_draws=n_draws) if rivals else {selected: 1.0}
    runner_up = max(rivals, key=lambda r: (shares[r], -cmps[r].diff), default=None)
    open_ = [r for r in rivals if not cmps[r].worse]
    need = settle(strata, selected, open_, alpha=alpha, level=level, m=m) if open_ else None
    return Pick(selected=selected, clear=verdict.clear, reason=verdict.reason, shares=shares, runner_up=runner_up,
                settle=need, comparisons=cmps)
