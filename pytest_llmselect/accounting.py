"""Every planned case accounted for: scored, errored or not run (pure: no pytest, no I/O).

A planned (task, candidate, case) ends in exactly one state:

- **scored**: the test recorded a score (``status: "scored"``);
- **errored**: the test raised, or finished without a score (``status: "errored"``, a
  one-line ``error``); by default it counts at the metric's worst value, so a model that
  crashes on the hard cases cannot look better than one that answers them wrongly;
- **not run**: deselected cases are outside the plan; interrupted runs, skipped cases,
  candidates that failed to load and crashed workers leave cases *missing*, listed in
  the report as ``{task, candidate, count, reason}``.

For every (task, candidate) row: ``n_planned == scored + errored + n_missing``, and
``n`` (the cases in the estimate) is ``scored + errored`` under the ``worst`` policy,
``scored`` under ``exclude``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

SCORED = "scored"
ERRORED = "errored"
ERROR_POLICIES = ("worst", "exclude")
MAX_ERROR_CHARS = 300


def one_line(text: Any, limit: int = MAX_ERROR_CHARS, *, join: bool = False) -> str:
    """``text`` as a single line of at most ``limit`` characters: its first non-empty line, or
    with ``join`` all its lines joined by spaces (for messages whose reason comes last, as
    transformers' "Couldn't instantiate the backend tokenizer from one of: (1) ... You need
    to have sentencepiece installed")."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = (" ".join(lines) if join else lines[0]) if lines else str(text).strip() or "(no message)"
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def status_of(case: Mapping[str, Any]) -> str:
    """A case record's status; records written before statuses existed were all scored."""
    status = case.get("status")
    if status in (SCORED, ERRORED):
        return str(status)
    return SCORED if isinstance(case.get("score"), (int, float)) else ERRORED


def score_problem(value: Any, *, task: str, metric: str | None,
                  score_range: Sequence[float] | None) -> str | None:
    """Why ``value`` cannot be recorded as a score of ``task``, or None when it can.

    A score must be a finite real number inside the metric's declared range (built-in
    metrics: [0, 1]; binary metrics: exactly 0 or 1 is not required, only the range)."""
    what = f"task {task!r} (metric {metric or 'custom'})"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"score {value!r} of type {type(value).__name__} for {what} is not a number"
    if not math.isfinite(value):
        return f"score {value!r} for {what} is not finite"
    if score_range is not None:
        lo, hi = score_range
        if not lo <= value <= hi:
            return f"score {value!r} for {what} is outside the metric's range [{lo:g}, {hi:g}]"
    return None


def worst_score(task: Mapping[str, Any], observed: Iterable[float]) -> float | None:
    """The value an errored case counts as: the bottom of the declared range (top for a
    lower-is-better metric), else the worst score any candidate got on the task, else None."""
    hib = bool(task.get("higher_is_better", True))
    rng = task.get("score_range")
    if isinstance(rng, (list, tuple)) and len(rng) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in rng):
        return float(rng[0] if hib else rng[1])
    seen = [float(x) for x in observed if isinstance(x, (int, float)) and math.isfinite(x)]
    if not seen:
        return None
    return min(seen) if hib else max(seen)


def effective_scores(cases: Sequence[Mapping[str, Any]], task: Mapping[str, Any],
                     policy: str = "worst") -> dict[str, dict[str, tuple[float, Any]]]:
    """Per candidate, ``{case_id: (score, group)}`` of ``task`` as the estimates use them:
    errored cases at ``worst_score`` under ``policy="worst"``, left out under ``"exclude"``
    (and left out when no worst value is known)."""
    name = task.get("name")
    mine = [c for c in cases if c.get("task") == name]
    worst = worst_score(task, (c.get("score") for c in mine if status_of(c) == SCORED))
    out: dict[str, dict[str, tuple[float, Any]]] = {}
    for c in mine:
        rows = out.setdefault(str(c.get("candidate")), {})
        if status_of(c) == SCORED:
            rows[str(c.get("case_id"))] = (float(c["score"]), c.get("group"))
        elif policy == "worst" and worst is not None:
            rows[str(c.get("case_id"))] = (worst, c.get("group"))
    return out


#: The start of the not-run reason of a case a race dropped its candidate before (run/racing.py):
#: such cases are missing by design, so they leave a finished run complete.
RACED_OUT = "raced out after "


def is_raced_out(reason: object) -> bool:
    return isinstance(reason, str) and reason.startswith(RACED_OUT)


def counts(cases: Sequence[Mapping[str, Any]], missing: Sequence[Mapping[str, Any]]
           ) -> dict[tuple[str, str], dict[str, int]]:
    """``{(task, candidate): {"scored", "errored", "missing", "raced_out", "planned"}}`` over
    every pair that has a case record or a missing entry (``raced_out``: of ``missing``)."""
    tally: dict[tuple[str, str], Counter[str]] = {}
    for c in cases:
        tally.setdefault((str(c.get("task")), str(c.get("candidate"))), Counter())[status_of(c)] += 1
    for m in missing:
        n = m.get("count")
        count = int(n) if isinstance(n, int) and not isinstance(n, bool) else 0
        entry = tally.setdefault((str(m.get("task")), str(m.get("candidate"))), Counter())
        entry["missing"] += count
        if is_raced_out(m.get("reason")):
            entry["raced_out"] += count
    return {key: {"scored": t[SCORED], "errored": t[ERRORED], "missing": t["missing"], "raced_out": t["raced_out"],
                  "planned": t[SCORED] + t[ERRORED] + t["missing"]} for key, t in tally.items()}


def summarize_missing(entries: Iterable[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Group ``(task, candidate, reason)`` of each case not run into ``{task, candidate,
    count, reason}`` entries, in first-seen order."""
    grouped: Counter[tuple[str, str, str]] = Counter()
    for key in entries:
        grouped[key] += 1
    return [{"task": t, "candidate": c, "count": n, "reason": r} for (t, c, r), n in grouped.items()]
