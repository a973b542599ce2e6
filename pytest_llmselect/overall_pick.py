"""The overall pick decided like a task pick, from the report's task blocks: every task's
loss on the [0, 1] scale of its score range, tasks as strata and groups as clusters in one
paired test of the overall objective (``verdicts.decide``), partial runs never confident.

Pure: no pytest, no torch, no I/O. Blocks and rows are the report's dicts
(docs/report-schema.md); ``scores`` maps task -> candidate -> case id -> {"score", "group"}.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from pytest_llmselect.decision import Settle, unit_loss
from pytest_llmselect.verdicts import Pick, decide, known_range, task_stratum

__all__ = ["block_range", "overall_decision", "partial_reason", "settle_text", "tie_break_text", "unit_row_loss"]

Scores = Mapping[str, Mapping[str, Mapping[str, Any]]]


def block_range(block: Mapping[str, Any], scores: Mapping[str, Mapping[str, Any]]) -> tuple[float, float] | None:
    """The task's score range: declared, the built-in metric's, or [0, 1] for 0/1 scores."""
    from pytest_llmselect.metrics import METRICS

    rng = block.get("score_range")
    if rng is None and block.get("metric") in METRICS:
        rng = METRICS[block["metric"]].score_range
    return known_range(rng, {c: {cid: (r["score"], r.get("group")) for cid, r in rows.items()}
                             for c, rows in scores.items()})


def unit_row_loss(row: Mapping[str, Any], block: Mapping[str, Any], rng: tuple[float, float]) -> float:
    """A result row's mean loss on the [0, 1] scale of the task's range."""
    return unit_loss(float(row["quality"]), rng, bool(block.get("higher_is_better", True)))


def partial_reason(blocks: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]],
                   tasks: Sequence[str] | None = None) -> str | None:
    """Why the run is partial for a decision over ``tasks`` (all when None): the candidates,
    other than those that failed to load, with cases not run (raced-out cases aside). None
    when nothing is missing."""
    failed = {c["name"] for c in candidates if c.get("status") == "load_failed"}
    missing: dict[str, int] = {}
    for b in blocks:
        if tasks is not None and b["name"] not in tasks:
            continue
        for r in b["results"]:
            # Cases a race dropped its candidate before are missing by design, not a partial run.
            left = int(r.get("n_missing") or 0) - int(r.get("n_raced_out") or 0)
            if r["candidate"] not in failed and left > 0:
                missing[r["candidate"]] = missing.get(r["candidate"], 0) + left
    if not missing:
        return None
    return ", ".join(f"{n:,} case{'s' if n != 1 else ''} of {c} not run" for c, n in sorted(missing.items()))


def settle_text(need: Settle | None, now: int | None = None) -> str | None:
    """"about 1,234 cases would likely settle it, now 200", or the reason none would."""
    if need is None:
        return None
    if need.cases is None:
        return need.reason
    return f"about {need.cases:,} cases would likely settle it, now {now if now is not None else need.now:,}"


def tie_break_text(selection: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str | None:
    """For an exact tie on the objective: who tied and what broke it."""
    ties = list(selection.get("ties") or [])
    if len(ties) < 2:
        return None
    by = {r["candidate"]: r for r in rows}
    first, others = ties[0], ties[1:]
    errs = {c: int(by.get(c, {}).get("n_errors") or 0) for c in ties}
    costs = {c: by.get(c, {}).get("cost") for c in ties}
    if any(errs[c] > errs[first] for c in others) and all(errs[c] >= errs[first] for c in others):
        why = "fewer errored cases"
    elif all(costs[c] is not None and costs[first] is not None and costs[c] > costs[first] for c in others):
        why = "lower cost"
    else:
        why = "candidate order"
    return f"exact tie on the objective between {', '.join(ties)}; broken by {why}"


def overall_decision(blocks: Sequence[Mapping[str, Any]], scores: Scores, weights: Mapping[str, float],
                     names: Sequence[str], selected: str, *, alpha: float, level: float, seed: int,
                     cost_se: Callable[[Mapping[str, Any]], float], partial: str | None,
                     cost_unresolved: Sequence[str] = ()) -> Pick:
    """Decide the overall pick among ``names`` (candidates with cases in every weighted task
    whose range is known). Every such task is a stratum on its [0, 1] scale with its weight."""
    strata = []
    for b in blocks:
        w = float(weights.get(b["name"], 0.0))
        rng = block_range(b, scores[b["name"]])
        if w <= 0 or rng is None:
            continue
        rows = {r["candidate"]: r for r in b["results"] if r["candidate"] in names}
        task_scores = {c: {cid: (float(v["score"]), v.get("group")) for cid, v in scores[b["name"]][c].items()}
                       for c in names}
        strata.append(task_stratum(task_scores, {c: float(rows[c]["cost"]) for c in names},
                                   {c: cost_se(rows[c]) for c in names},
                                   higher_is_better=bool(b.get("higher_is_better", True)), score_range=rng,
                                   unit=True, weight=w))
    return decide(strata, list(names), selected, alpha=alpha, level=level, partial=partial,
                  cost_unresolved=cost_unresolved, seed=seed)
