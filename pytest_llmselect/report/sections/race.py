"""The race's notes (``--llm-race``): the guarantee in words, who was raced out of which task,
when and on how many cases their figures rest, and the compute the race saved against
running every case. Formats the report's ``race`` block; computes nothing."""

from __future__ import annotations

from typing import Any, Mapping

from .formatting import num
from .model import Note, Report


def _share(value: Any) -> str:
    return f"{value * 100:.0f}%" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


def race_notes(report: Report) -> list[Note]:
    race = report.get("race")
    if not isinstance(race, Mapping):
        return []
    notes = [Note("Race", f"--llm-race={race.get('setting')}: {race.get('guarantee')}")]
    for task in race.get("tasks") or []:
        if not isinstance(task, Mapping):
            continue
        out = [r for r in task.get("raced_out") or [] if isinstance(r, Mapping)]
        stages = "+".join(str(n) for n in task.get("stages") or [])
        if not out:
            notes.append(Note(f"Race: {task.get('task')}", f"no candidate raced out (stages {stages} cases)"))
            continue
        said = "; ".join(f"{r.get('candidate')} after stage {num(r.get('stage'))}, on {num(r.get('cases'))} cases "
                         f"({r.get('reason')}; {num(r.get('not_run'))} not run)" for r in out)
        notes.append(Note(f"Race: {task.get('task')}", f"raced out: {said}; stages {stages} cases; their figures "
                          "rest on the cases they ran"))
    saved, share = race.get("saved") or {}, race.get("share_of_full") or {}
    if isinstance(saved, Mapping) and isinstance(share, Mapping):
        notes.append(Note("Race saved", f"{num(saved.get('requests'))} requests, {num(saved.get('model_seconds'))} s "
                          f"of model time, {num(saved.get('tokens'))} tokens; the race used "
                          f"{_share(share.get('requests'))} of the requests and {_share(share.get('model_seconds'))} "
                          f"of the model time of running every case ({race.get('saved_method')})"))
    return notes
