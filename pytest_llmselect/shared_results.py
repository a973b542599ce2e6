"""Tasks without a demonstration pool in the overall of ``--llm-demos`` configurations.

Such a task runs once per model (``candidates.for_task``): its block has a row per model, a
task with a pool a row per configuration (``zoo:base+knn:4``). For the overall, where every
candidate needs a result on every weighted task, each configuration counts its model's result
on a task without a pool: the same row, the same case scores (so two configurations of one
model do not differ there, as they cannot), the same exclusions. The bare model leaves the
overall where its configurations stand in for it.

Pure: no pytest, no torch, no I/O. Blocks, rows and cases are the report's dicts
(docs/report-schema.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["SHARED_NOTE", "SharedView", "share_model_results"]

SHARED_NOTE = "each configuration counts its model's result on this task (it has no demonstration pool)"


@dataclass(frozen=True)
class SharedView:
    """The overall's view of the task blocks and cases: ``blocks`` and ``cases`` with each
    configuration's copies of its model's rows and records on a task without a pool;
    ``shared`` maps such a task to ``SHARED_NOTE``; ``replaced`` names the models whose
    configurations stand in for them."""

    blocks: list[dict[str, Any]]
    cases: list[Mapping[str, Any]]
    shared: dict[str, str]
    replaced: frozenset[str]


def _configurations(candidates: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Configuration name -> its model's name, from the report's candidates."""
    return {str(c["name"]): str(c["model"]) for c in candidates
            if c.get("demos") and c.get("model") and c.get("model") != c.get("name")}


def share_model_results(blocks: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]],
                        candidates: Sequence[Mapping[str, Any]]) -> SharedView:
    """The overall's view (``SharedView``). Without configurations that have rows of their
    own, the blocks and cases as they are."""
    own = {r["candidate"] for b in blocks for r in b["results"]}
    live = {c: m for c, m in _configurations(candidates).items() if c in own}
    if not live:
        return SharedView([dict(b) for b in blocks], list(cases), {}, frozenset())
    models = set(live.values())
    out: list[dict[str, Any]] = []
    shared: dict[str, str] = {}
    copies_of: dict[str, dict[str, list[str]]] = {}  # task -> model -> configurations standing in for it
    for b in blocks:
        rows = {r["candidate"]: r for r in b["results"]}
        stand_in = {c: m for c, m in live.items() if c not in rows and m in rows}
        if not stand_in and not models & set(rows):
            out.append(dict(b))
            continue
        results = [r for r in b["results"] if r["candidate"] not in models]
        results += [{**rows[m], "candidate": c} for c, m in stand_in.items()]
        selection = dict(b["selection"])
        excluded = {k: v for k, v in dict(selection.get("excluded") or {}).items() if k not in models}
        excluded.update({c: selection["excluded"][m] for c, m in stand_in.items()
                         if m in (selection.get("excluded") or {})})
        selection["excluded"] = excluded
        out.append({**b, "results": results, "selection": selection})
        if stand_in:
            shared[b["name"]] = SHARED_NOTE
            for c, m in stand_in.items():
                copies_of.setdefault(b["name"], {}).setdefault(m, []).append(c)
    view_cases: list[Mapping[str, Any]] = []
    for rec in cases:
        stand = copies_of.get(str(rec.get("task")), {}).get(str(rec.get("candidate")))
        if stand is None:
            view_cases.append(rec)
        else:
            view_cases.extend({**rec, "candidate": c} for c in stand)
    return SharedView(out, view_cases, shared, frozenset(models))
