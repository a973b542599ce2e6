"""The run log: one JSON line per event, appended as it happens, every line tagged with its run.

Design (one file, many runs): each pytest session appends to the log (default
``.llmselect/run-log.jsonl``) and never truncates it; every line carries the session's
``run_id``, so two jobs sharing the file, or a re-run after a kill, keep every line they
wrote and stay apart. Each line is written with one ``write`` on a file opened in append
mode (``O_APPEND``), so lines of concurrent writers do not interleave.

Lines (``event`` names the kind):

- ``start``: when (``time``), the run's settings (alpha, level, seed) and the command-line arguments;
- ``plan``: every planned case as ``[task, candidate, case_id]`` (after -k/-m selection);
- ``state``: the candidates, tasks and measurements so far (written after each group's
  model work; the last one of a run wins);
- ``case``: one case record, exactly as in the report's ``cases``;
- ``finish``: the session ended (a run without one was killed), with its ``exitstatus`` and
  the planned cases that never ran (``missing``: task, candidate, count, reason);
- ``build_start`` / ``build_end`` (``model``, ``steps`` / ``seconds``): a zoo model trained
  for this run; ``load_start`` / ``load_end`` (``candidate``, ``seconds`` or ``error``);
  ``group_start`` / ``group_end`` (``task``, ``candidate``, ``requests``, ``batches``,
  ``seconds`` of model time): each carries ``time``, UNIX seconds when it happened;
- ``retimed`` (``task``, ``candidate``, ``round_seconds``, ``reason``): a group timed again at the
  session's end because its cost could change a pick (run/retiming.py; a ``state`` follows).

``report_inputs`` turns one run of a log back into report inputs, so
``python -m pytest_llmselect report run-log.jsonl`` can build a report of a run that never
finished, marked partial. A log that cannot be written is one warning; the run goes on.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

from pytest_llmselect.errors import DataError

EVENTS = ("start", "state", "case", "finish", "build_start", "build_end", "load_start", "load_end",
          "group_start", "group_end")


def new_run_id() -> str:
    """``YYYYmmddTHHMMSSZ-<8 hex>``: sortable by start time and unique across machines."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


class RunLogWriter:
    """Appends events of one run to ``path``; the first failure to write disables it and is kept
    in ``problem`` (one line naming the path), which the session shows as a single warning."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.problem: str | None = None
        self._fd: int | None = None

    def write(self, event: str, payload: Mapping[str, Any]) -> None:
        if self.problem is not None:
            return
        from pytest_llmselect.report.jsonio import plain

        # Standard JSON only: no Infinity/NaN tokens, no lone surrogates, whatever a test recorded.
        line = json.dumps(plain({"run_id": self.run_id, "event": event, **payload}), allow_nan=False,
                          ensure_ascii=False) + "\n"
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            data = line.encode("utf-8")
            written = os.write(self._fd, data)  # one write: lines of concurrent writers stay whole
            while written < len(data):  # only on a full disk or a signal; finish the line
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            self.problem = (f"cannot write the run log {os.fspath(self.path)} ({exc.strerror or exc}); "
                            "the run goes on without it")
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every well-formed line of a run log; ``DataError`` (naming file and line) for a bad one,
    except a last line cut short by a kill, which is skipped."""
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{name}: no such run log") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: cannot read the run log ({getattr(exc, 'strerror', None) or exc})") from None
    lines = text.split("\n")
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # no newline after it: the writer was killed mid-line
                continue
            raise DataError(f"{name}:{number}: not a JSON line ({exc.msg})") from None
        if not isinstance(event, dict):
            raise DataError(f"{name}:{number}: expected a JSON object, got {type(event).__name__}")
        if "event" not in event:  # logs of older versions: bare case records, one run
            event = {"run_id": event.get("run_id", "unknown"), "event": "case", **event}
        events.append(event)
    return events


def run_ids(events: list[dict[str, Any]]) -> list[str]:
    """The runs in a log, in the order they first appear."""
    return list(dict.fromkeys(str(e.get("run_id")) for e in events))


def report_inputs(path: Path, run_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(inputs, about)`` for one run of the log (default: the last one started).

    ``inputs`` is what ``analysis.analyze`` takes (candidates, tasks, cases, measures);
    ``about`` has ``run_id``, ``finished`` (a ``finish`` line was written), ``settings`` from
    the ``start`` line, and ``runs`` (every run id in the log). ``DataError`` when the log has
    no such run or the run has no case yet.
    """
    events = read_events(path)
    ids = run_ids(events)
    if not ids:
        raise DataError(f"{os.fspath(path)}: the run log is empty")
    chosen = ids[-1] if run_id is None else run_id
    if chosen not in ids:
        raise DataError(f"{os.fspath(path)}: no run {chosen!r} in the run log (runs: {', '.join(ids[-5:])})")
    mine = [e for e in events if str(e.get("run_id")) == chosen]
    cases = [{k: v for k, v in e.items() if k not in ("run_id", "event")} for e in mine if e["event"] == "case"]
    if not cases:
        raise DataError(f"{os.fspath(path)}: run {chosen!r} recorded no case yet")
    for case in cases:
        absent = [k for k in ("task", "candidate", "case_id", "score") if k not in case]
        if absent:
            raise DataError(f"{os.fspath(path)}: a case line of run {chosen!r} lacks {', '.join(absent)}")
    # A case run again (a rerun plugin) logs each attempt: its last line is its outcome.
    cases = list({c.get("nodeid") or (c["task"], c["candidate"], c["case_id"]): c for c in cases}.values())
    states = [e for e in mine if e["event"] == "state"]
    start = next((e for e in mine if e["event"] == "start"), {})
    state = states[-1] if states else {}
    candidates = state.get("candidates") or [{"name": n} for n in dict.fromkeys(c["candidate"] for c in cases)]
    tasks = state.get("tasks") or [{"name": t, "metric": None, "higher_is_better": True}
                                   for t in dict.fromkeys(c["task"] for c in cases)]
    measures = {(m["task"], m["candidate"]): m["measures"] for m in state.get("measures", [])}
    inputs = {"candidates": candidates, "tasks": tasks, "cases": cases, "measures": measures}
    finish = next((e for e in mine if e["event"] == "finish"), None)
    about = {"run_id": chosen, "finished": finish is not None, "settings": start.get("settings", {}), "runs": ids,
             "missing": _missing(mine, cases, finish), "started": start.get("time")}
    return inputs, about


def _missing(mine: list[dict[str, Any]], cases: list[dict[str, Any]],
             finish: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``{task, candidate, count, reason}`` of planned cases with no record: as the ``finish``
    line states them, else (a killed run) the ``plan`` line's cases that no ``case`` line has."""
    from pytest_llmselect.accounting import summarize_missing

    if finish is not None and isinstance(finish.get("missing"), list):
        return [m for m in finish["missing"] if isinstance(m, dict)]
    plan = next((e for e in mine if e["event"] == "plan"), None)
    if plan is None or not isinstance(plan.get("cases"), list):
        return []
    done = {(str(c["task"]), str(c["candidate"]), str(c["case_id"])) for c in cases}
    reason = "not run: the run stopped before it" if finish is not None else \
        "not run: the run was killed before it (its log has no finish line)"
    return summarize_missing((str(t), str(c), reason) for t, c, case_id in
                             (e for e in plan["cases"] if isinstance(e, list) and len(e) == 3)
                             if (str(t), str(c), str(case_id)) not in done)
