"""How sure the report is of its pick: every other candidate compared with the selected
one on the objective, on quality and on cost (Bonferroni over the comparisons), the pick
probability under resampling of cases and timed rounds, whether the pick is clear, and
how many cases would settle what is still open.

Pure: no pytest, no torch, no I/O. Rows are the report's result dicts.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from pytest_llmselect.accounting import effective_scores
from pytest_llmselect.analysis_settings import AnalysisSettings
from pytest_llmselect.confidence import TaskData, objective_compare
from pytest_llmselect.decision import Stratum, compare, settle
from pytest_llmselect.costmodel import cost_difference, mean_interval
from pytest_llmselect.distributions import normal_quantile
from pytest_llmselect.overall_pick import settle_text
from pytest_llmselect.verdicts import task_stratum

__all__ = ["cost_se", "task_data"]


def _loss_of(score: float, hib: bool) -> float:
    return 1.0 - score if hib else score


def _rounds(row: Mapping[str, Any]) -> list[float] | None:
    m = row.get("measures") or {}
    rounds = m.get("round_seconds")
    if m.get("cost_model", "time") != "time" or not isinstance(rounds, list) or len(rounds) < 2:
        return None
    return [float(x) for x in rounds]


def cost_se(row: Mapping[str, Any], level: float) -> float:
    """Standard error of a row's cost: from its interval (``cost_lo``/``cost_hi`` at ``level``,
    taken as a normal interval), else from the spread of the timed rounds
    (``measures.round_seconds``: ``cost * sd / (sqrt(k) * mean)`` of the k rounds), else 0
    (the cost is taken as known)."""
    lo, hi = row.get("cost_lo"), row.get("cost_hi")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo:
        return (float(hi) - float(lo)) / (2.0 * normal_quantile(0.5 + level / 2.0))
    rounds = _rounds(row)
    if rounds and math.fsum(rounds) > 0:
        est = mean_interval(rounds, level)  # the rounds' mean and SD, as the cost interval uses them
        return float(row["cost"]) * est.sd / (math.sqrt(est.n) * est.mean)
    return 0.0


def _effective_by_candidate(cases: Sequence[Mapping[str, Any]], task: Mapping[str, Any],
                            policy: str) -> dict[str, dict[str, Mapping[str, Any]]]:
    """``{candidate: {case_id: {"score", "group"}}}`` of one task as the estimates use them:
    errored cases at the worst value, or left out (accounting.effective_scores)."""
    return {cname: {cid: {"score": score, "group": group} for cid, (score, group) in rows.items()}
            for cname, rows in effective_scores(cases, task, policy).items() if rows}


def task_data(rows: Sequence[Mapping[str, Any]], by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]],
              hib: bool, level: float, min_quality: float | None = None) -> TaskData:
    """The resampling inputs of one task: per-case losses over the union of case ids, and
    the task's ``min_quality`` as the largest eligible loss."""
    ids = sorted({cid for r in rows for cid in by_cand[r["candidate"]]})
    losses = {r["candidate"]: [_loss_of(by_cand[r["candidate"]][c]["score"], hib)
                               if c in by_cand[r["candidate"]] else math.nan for c in ids] for r in rows}
    return TaskData(losses=losses, costs={r["candidate"]: r["cost"] for r in rows},
                    cost_se={r["candidate"]: cost_se(r, level) for r in rows},
                    rounds={r["candidate"]: _rounds(r) or [] for r in rows},
                    max_loss=None if min_quality is None else _loss_of(min_quality, hib))


def _verdict(cmp: Any, settle: str | None) -> str:
    """About the objective ``cost + alpha * loss``, the quantity the selection minimises."""
    if cmp.worse:
        return "significantly worse on the objective"
    if cmp.better:
        return "significantly better on the objective (on the shared cases)"
    return f"not distinguishable on the objective ({settle})" if settle else "not distinguishable on the objective"


def _quality_verdict(cmp: Any, higher_is_better: bool) -> str:
    if not (cmp.worse or cmp.better):
        return "not distinguishable"
    return "higher quality" if cmp.worse == higher_is_better else "lower quality"


def _compare(results: list[dict[str, Any]], by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]],
             selected: str, task: Mapping[str, Any], s: AnalysisSettings) -> dict[str, Any]:
    """Objective comparison (``comparison``) and quality comparison (``quality_comparison``)
    of every other candidate with the selected one, Bonferroni over the m comparisons. A task
    with groups is compared with its groups as clusters (``decision.compare``); the cases
    that would settle a comparison come from ``decision.settle`` either way."""
    hib = bool(task.get("higher_is_better", True))
    base = by_cand[selected]
    base_row = next(r for r in results if r["candidate"] == selected)
    pairs = []
    for row in results:
        if row["candidate"] == selected:
            continue
        mine = by_cand.get(row["candidate"])
        if not mine or not row["n"]:
            continue  # no case in the estimate (or no usable loss): nothing to compare
        shared = sorted(set(mine) & set(base))
        if len(shared) >= 2:
            pairs.append((row, shared))
    m = max(1, len(pairs))
    grouped = any(r.get("group") is not None for rows in by_cand.values() for r in rows.values())
    rng = task.get("score_range")
    rng = (float(rng[0]), float(rng[1])) if rng else None
    out = {}
    for row, shared in pairs:
        mine = by_cand[row["candidate"]]
        c, sel = row["candidate"], selected
        pair = {c: {k: (float(mine[k]["score"]), mine[k].get("group")) for k in shared},
                sel: {k: (float(base[k]["score"]), base[k].get("group")) for k in shared}}
        stratum = task_stratum(pair, {c: row["cost"], sel: base_row["cost"]},
                               {c: cost_se(row, s.level), sel: cost_se(base_row, s.level)},
                               higher_is_better=hib, score_range=rng, unit=False)
        qa, qb = [mine[k]["score"] for k in shared], [base[k]["score"] for k in shared]
        if grouped:
            cmp = compare([stratum], c, sel, alpha=s.alpha, level=s.level, m=m)
            scores = Stratum(losses={c: qa, sel: qb}, costs={c: 0.0, sel: 0.0}, groups=stratum.groups)
            q = compare([scores], c, sel, alpha=1.0, level=s.level, m=m)
        else:
            cmp = objective_compare([_loss_of(x, hib) for x in qa], [_loss_of(x, hib) for x in qb], alpha=s.alpha,
                                    cost_a=row["cost"], cost_b=base_row["cost"], cost_se_a=cost_se(row, s.level),
                                    cost_se_b=cost_se(base_row, s.level), level=s.level, m=m)
            q = objective_compare(qa, qb, alpha=1.0, level=s.level, m=m)
        need = None if cmp.worse or cmp.better else settle([stratum], sel, [c], alpha=s.alpha, level=s.level, m=m)
        out[c] = cmp
        row["comparison"] = {
            "vs": selected, "n": cmp.n, "diff": cmp.diff, "lo": cmp.lo, "hi": cmp.hi,
            "p_value": cmp.p_value, "p_adjusted": cmp.p_adjusted, "adjustment": f"bonferroni x{m}",
            "method": cmp.method, "mde": cmp.mde, "loss_diff": cmp.loss_diff, "cost_diff": cmp.cost_diff,
            "cost_se": cmp.cost_se, "cases_needed": None if need is None else need.cases,
            "verdict": _verdict(cmp, settle_text(need)),
        }
        row["quality_comparison"] = {
            "vs": selected, "n": q.n, "diff": q.diff, "lo": q.lo, "hi": q.hi, "p_value": q.p_value,
            "p_adjusted": q.p_adjusted, "adjustment": f"bonferroni x{m}", "method": q.method, "mde": q.mde,
            "verdict": _quality_verdict(q, hib),
        }
    return out


def _cost_noise(rows: Sequence[dict[str, Any]], selected: str | None, level: float) -> list[str]:
    """Fill each row's ``cost_comparison`` with the selected; the names whose difference is noise."""
    base = next((r for r in rows if r["candidate"] == selected), None)
    if base is None:
        return []
    noisy = []
    for row in rows:
        if row is base or row.get("cost") is None or base.get("cost") is None:  # no case: no cost
            continue
        diff = cost_difference(
            (row["cost"], row.get("cost_lo"), row.get("cost_hi"), len(row["measures"].get("round_seconds") or [])),
            (base["cost"], base.get("cost_lo"), base.get("cost_hi"), len(base["measures"].get("round_seconds") or [])),
            level)
        if diff is None:
            continue
        row["cost_comparison"] = {"vs": selected, "diff": diff.diff, "lo": diff.lo, "hi": diff.hi,
                                  "within_noise": diff.within_noise, "method": diff.method}
        if diff.within_noise:
            noisy.append(row["candidate"])
    return noisy


def _min_quality_settled(row: Mapping[str, Any], min_quality: float | None, hib: bool) -> bool:
    """Whether the whole quality interval lies on the side of ``min_quality`` the row's mean is on."""
    if min_quality is None:
        return True
    above = row["lo"] >= min_quality if hib else row["hi"] <= min_quality
    below = row["hi"] < min_quality if hib else row["lo"] > min_quality
    return above if row["min_quality_passed"] else below
