"""The run's accounting lines: partial run and cases not run, subset, load failures, truncation, errors."""

from __future__ import annotations

from typing import Mapping

from .formatting import num
from .model import Note, Report


def accounting_notes(report: Report) -> list[Note]:
    """Partial runs, the cases not run (by task and candidate), subsets, load failures, errors."""
    notes = []
    # Cases a finished race did not run are its design, not a partial run (sections/race.py says them).
    missing = [m for m in report.get("missing") or [] if isinstance(m, Mapping)
               and not str(m.get("reason") or "").startswith("raced out after ")]
    if report.get("complete") is False or missing:
        total = sum(m.get("count") or 0 for m in missing if isinstance(m.get("count"), int))
        listed = "; ".join(f"{m.get('task')} \u00d7 {m.get('candidate')}: {num(m.get('count'))} "
                           f"({m.get('reason')})" for m in missing)
        notes.append(Note("PARTIAL RUN", f"{total} planned case(s) not run: {listed}" if missing else
                          "interrupted or still running: results cover only the cases recorded so far",
                          warning=True))
    subset = report.get("subset")
    if isinstance(subset, Mapping):
        filters = subset.get("filters") or {}
        how = ", ".join(f"{k} {v!r}" if not isinstance(v, bool) else str(k) for k, v in filters.items()) \
            if isinstance(filters, Mapping) else ""
        notes.append(Note("Subset", f"a subset of the suite's cases was chosen{(' with ' + how) if how else ''}"
                          f" ({num(subset.get('deselected'))} case item(s) deselected); figures cover "
                          "the chosen cases only", warning=True))
    failed = [c for c in report.get("candidates") or [] if isinstance(c, Mapping) and c.get("load_error")]
    for c in failed:
        notes.append(Note("Not evaluated", f"{c.get('name')} failed to load: {c.get('load_error')}",
                          warning=True))
    cut = [(t.get("name"), r.get("candidate"), r.get("n_truncated"), r.get("truncated_tokens"))
           for t in report.get("tasks") or [] if isinstance(t, Mapping)
           for r in t.get("results") or [] if isinstance(r, Mapping) and r.get("n_truncated")]
    if cut:
        notes.append(Note("Truncated prompts", "; ".join(
            f"{t} \u00d7 {c}: {num(n)} case(s), {num(k)} token(s) dropped from the left to fit the context window"
            for t, c, n, k in cut), warning=True))
    errors = sum(r.get("n_errors") or 0 for t in report.get("tasks") or [] if isinstance(t, Mapping)
                 for r in t.get("results") or [] if isinstance(r, Mapping) and isinstance(r.get("n_errors"), int))
    if errors:
        policy = (report.get("settings") or {}).get("errors", "worst")
        how = ("left out of the estimates (--llm-errors=exclude)" if policy == "exclude"
               else "counted at the metric's worst value")
        notes.append(Note("Errored cases", f"{errors} case(s) raised or finished without recording a score: {how}",
                          warning=True))
    return notes
