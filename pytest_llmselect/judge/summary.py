"""What the report says about a task's judge: its agreement with the reference metrics and
whether it grades its own outputs (self-preference). Pure: reads case records.

A case record graded by a judge carries ``judge`` (``{kind: {"score", "raw", "method"}}``) and,
where the test measured them, ``reference_scores`` (``{metric: score}``); a task whose own
metric is a reference metric adds the recorded score under that metric's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmselect.judge.agreement import agreement

__all__ = ["JUDGE_METRICS", "judge_summary", "self_preference", "task_judge_block"]

#: The metric names a judged task records its grade under.
JUDGE_METRICS = {"rubric": "judge_rubric", "correctness": "judge_correctness"}


def _reference_scores(case: Mapping[str, Any], metric: str | None) -> dict[str, float]:
    refs = dict(case.get("reference_scores") or {})
    if metric and metric not in JUDGE_METRICS.values() and isinstance(case.get("score"), (int, float)):
        refs.setdefault(metric, float(case["score"]))
    return {k: float(v) for k, v in refs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def self_preference(judge: str, candidates: Sequence[Mapping[str, Any]], judge_source: str | None = None
                    ) -> list[str]:
    """The candidates that run the judge's own model (any configuration of it): the same model
    name, or the same weights (``source``)."""
    out = []
    for c in candidates:
        model = c.get("model") or c.get("model_name") or c.get("name")
        same_source = judge_source is not None and c.get("source") == judge_source
        if model == judge or c.get("name") == judge or same_source:
            out.append(str(c["name"]))
    return sorted(out)


def judge_summary(cases: Sequence[Mapping[str, Any]], *, judge: str, judge_source: str | None = None,
                  metric: str | None, candidates: Sequence[Mapping[str, Any]] = (), level: float = 0.95,
                  seed: int = 0) -> dict[str, Any] | None:
    """The task's ``judge`` block, or None when no case of ``cases`` was graded."""
    graded = [c for c in cases if isinstance(c.get("judge"), Mapping) and c.get("status", "scored") == "scored"]
    if not graded:
        return None
    kinds = sorted({k for c in graded for k in c["judge"]})
    rows = []
    for kind in kinds:
        ref_names = sorted({r for c in graded if kind in c["judge"] for r in _reference_scores(c, metric)})
        for ref in ref_names:
            pairs = [(float(c["judge"][kind]["score"]), _reference_scores(c, metric)[ref], str(c.get("case_id")))
                     for c in graded if kind in c["judge"] and c["judge"][kind].get("score") is not None
                     and ref in _reference_scores(c, metric)]
            if not pairs:
                continue
            a = agreement([p[0] for p in pairs], [p[1] for p in pairs], groups=[p[2] for p in pairs],
                          level=level, seed=seed)
            rows.append({"kind": kind, "reference": ref, **a.to_dict()})
    mine = self_preference(judge, candidates, judge_source)
    return {"model": judge, "source": judge_source, "kinds": kinds, "graded": len(graded), "agreement": rows, "self_preference": mine,
            "warning": (f"the judge {judge} also runs as candidate {', '.join(mine)}: a model tends to "
                        "grade its own outputs higher (self-preference); judge with another model "
                        "or read its grades of itself with care") if mine else None}


def task_judge_block(task: Mapping[str, Any], cases: Sequence[Mapping[str, Any]],
                     candidates: Sequence[Mapping[str, Any]], *, level: float = 0.95, seed: int = 0
                     ) -> dict[str, Any] | None:
    """The report's ``judge`` block of one task, when a judge graded its cases (each grade names
    its judge and the judge's weights)."""
    mine = [c for c in cases if c.get("task") == task["name"] and isinstance(c.get("judge"), Mapping)]
    grades = [g for c in mine for g in c["judge"].values() if isinstance(g, Mapping) and g.get("judge")]
    if not grades:
        return None
    judge = sorted({str(g["judge"]) for g in grades})[0]
    source = next((g.get("judge_source") for g in grades if g["judge"] == judge), None)
    return judge_summary(mine, judge=judge, judge_source=source, metric=task.get("metric"),
                         candidates=candidates, level=level, seed=seed)
