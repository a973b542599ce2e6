"""How sure the report is of a pick, per task and overall: the clear-pick verdict with its
reason, the pick probability and the cases that would settle an open pick, all from one
test (``verdicts.decide``); and the overall pick's scale.

Pure: no pytest, no torch, no I/O. Rows and blocks are the report's dicts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pytest_llmselect.analysis_settings import AnalysisSettings
from pytest_llmselect.comparisons import _effective_by_candidate, _min_quality_settled, cost_se
from pytest_llmselect.overall_pick import block_range, overall_decision, partial_reason, settle_text
from pytest_llmselect.verdicts import decide, task_stratum

__all__ = ["NO_CONFIDENCE", "overall_confidence", "overall_scale", "task_confidence"]

NO_CONFIDENCE = {"pick_probability": None, "clear_pick": None, "clear_reason": None, "runner_up": None,
                 "cases_needed": None, "settle": None}


def _scores(by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]], names: Sequence[str]
            ) -> dict[str, dict[str, tuple[float, Any]]]:
    return {c: {cid: (float(r["score"]), r.get("group")) for cid, r in by_cand[c].items()} for c in names}


def task_confidence(block_rows: Sequence[dict[str, Any]], live: Sequence[dict[str, Any]],
                    by_cand: Mapping[str, Mapping[str, Mapping[str, Any]]], selected: str, task: Mapping[str, Any],
                    candidates: Sequence[Mapping[str, Any]], cost_within_noise: Sequence[str],
                    s: AnalysisSettings) -> dict[str, Any]:
    """One task's pick: clear when every other candidate is significantly worse on the
    objective (or below min_quality beyond doubt), the selected passes min_quality beyond
    doubt, the run is complete for this task, at least two candidates were evaluated, and no
    cost difference the machine cannot resolve decides it."""
    hib = bool(task.get("higher_is_better", True))
    min_q = task.get("min_quality")
    out_for_sure = {r["candidate"] for r in live if r["candidate"] != selected
                    and r["min_quality_passed"] is False and _min_quality_settled(r, min_q, hib)}
    names = [r["candidate"] for r in live if r["candidate"] not in out_for_sure]
    rows = {r["candidate"]: r for r in live}
    rng = task.get("score_range")
    stratum = task_stratum(_scores(by_cand, names), {c: float(rows[c]["cost"]) for c in names},
                           {c: cost_se(rows[c], s.level) for c in names}, higher_is_better=hib,
                           score_range=(float(rng[0]), float(rng[1])) if rng else None, unit=False)
    partial = partial_reason([{"name": task["name"], "results": block_rows}], candidates)
    pick = decide([stratum], names, selected, alpha=s.alpha, level=s.level, partial=partial,
                  cost_unresolved=cost_within_noise, seed=s.seed, evaluated=len(live))
    sel_row = rows[selected]
    clear = pick.clear and _min_quality_settled(sel_row, min_q, hib)
    reason = pick.reason if not pick.clear else (
        None if clear else "the selected candidate's quality is not beyond doubt on the right side of min_quality")
    shares = {r["candidate"]: pick.shares.get(r["candidate"], 0.0) for r in live}
    if min_q is not None:
        shares = _min_quality_shares(shares, rows, selected, min_q, hib, s.level, clear)
    return {"pick_probability": shares, "clear_pick": clear, "clear_reason": reason, "runner_up": pick.runner_up,
            "cases_needed": None if pick.settle is None else pick.settle.cases,
            "settle": settle_text(pick.settle)}


def _min_quality_shares(shares: dict[str, float], rows: Mapping[str, Mapping[str, Any]], selected: str,
                        min_q: float, hib: bool, level: float, clear: bool) -> dict[str, float]:
    """A candidate wins only where it also passes min_quality: each share times the chance
    that the candidate's true quality is on the right side of min_quality (normal, with the
    standard error its quality interval implies); the mass taken goes to the selected, the
    best of those that pass. The selected's share stays at most ``level`` unless clear."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    out = dict(shares)
    for c, share in shares.items():
        r = rows.get(c)
        if c == selected or r is None or r.get("lo") is None or r.get("hi") is None:
            continue
        se = (float(r["hi"]) - float(r["lo"])) / (2.0 * z)
        gap = (float(r["quality"]) - min_q) if hib else (min_q - float(r["quality"]))
        p_pass = (1.0 if gap >= 0 else 0.0) if se <= 0 else NormalDist().cdf(gap / se)
        out[c] = share * p_pass
        out[selected] += share - out[c]
    if not clear and out[selected] > level:
        runner = max((c for c in out if c != selected), key=lambda c: out[c], default=None)
        if runner is not None:
            out[runner] += out[selected] - level
            out[selected] = level
    return out


def overall_scale(blocks: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]],
                  weights: Mapping[str, float], policy: str) -> tuple[dict[str, tuple[float, float] | None],
                                                                      dict[str, str]]:
    """Each weighted task's score range, and the tasks left out of the overall because their
    range is unknown (with several weighted tasks the overall weighs each task's loss on the
    [0, 1] scale of its range; a single weighted task is the overall on its own scale)."""
    active = [b for b in blocks if weights.get(b["name"], 0.0) > 0]
    ranges = {b["name"]: block_range(b, _effective_by_candidate(cases, b, policy)) for b in active}
    left_out: dict[str, str] = {}
    if len(active) > 1:
        for name, rng in ranges.items():
            if rng is None:
                left_out[name] = ("left out of the overall: its score range is unknown, so its loss cannot be put "
                                  "on the [0, 1] scale of the others; declare llm_task(score_range=(low, high))")
    return ranges, left_out


def overall_confidence(blocks: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]],
                       weights: Mapping[str, float], selection: Mapping[str, Any],
                       candidates: Sequence[Mapping[str, Any]], s: AnalysisSettings) -> dict[str, Any]:
    """The overall pick decided by the stratified test over the weighted tasks (``blocks``:
    those in the overall). With one weighted task the overall is that task's pick, verdict
    and all."""
    selected = selection["selected"]
    active = [b for b in blocks if weights.get(b["name"], 0.0) > 0]
    if selected is None or not active:
        return dict(NO_CONFIDENCE)
    if len(active) == 1 and active[0]["selection"]["selected"] == selected:
        return {k: active[0].get(k) for k in NO_CONFIDENCE}
    present = [{r["candidate"] for r in b["results"] if r["n"] > 0} for b in active]
    names = sorted(set.intersection(*present) - set(selection["excluded"]))
    if selected not in names:
        return dict(NO_CONFIDENCE)
    scores = {b["name"]: _effective_by_candidate(cases, b, s.errors) for b in active}
    noisy = sorted({c for b in active for c in b["selection"].get("cost_within_noise", [])
                    if b["selection"]["selected"] == selected})
    pick = overall_decision(active, scores, weights, names, selected, alpha=s.alpha, level=s.level, seed=s.seed,
                            cost_se=lambda r: cost_se(r, s.level), partial=partial_reason(active, candidates),
                            cost_unresolved=noisy)
    return {"pick_probability": pick.shares, "clear_pick": pick.clear, "clear_reason": pick.reason,
            "runner_up": pick.runner_up, "cases_needed": None if pick.settle is None else pick.settle.cases,
            "settle": settle_text(pick.settle)}
