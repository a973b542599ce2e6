"""The ledger: every planned case ends scored, errored or not run, exactly once.

Owns the case records (one dict each, as in the report's ``cases``, each also a ``case``
line of the run log), the reason each case without a record did not run, and the cases
that killed their xdist worker; says which planned cases are missing and why.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import pytest

from pytest_llmselect.accounting import ERRORED, SCORED, is_raced_out, one_line, score_problem, summarize_missing
from pytest_llmselect.bounds import cap_stored
from pytest_llmselect.errors import JudgeError, LLMSelectError, LoadFailed, ServerFailed
from pytest_llmselect.run.demonstrations import Demonstrations
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.graded import case_extras
from pytest_llmselect.run.plan import Plan, candidate_of, case_id_for, task_of
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.runner import Runner
from pytest_llmselect.run.settings import Settings


class Ledger:
    def __init__(self, settings: Settings, events: RunEvents, plan: Plan, pool: ModelPool, runner: Runner,
                 demos: Demonstrations) -> None:
        self.settings = settings
        self.events = events
        self.plan = plan
        self.pool = pool
        self.runner = runner
        self.demos = demos
        self.records: list[dict[str, Any]] = []
        self.recorded: set[str] = set()  # node ids with a record
        self.outcomes: dict[str, str] = {}  # nodeid -> reason it is missing (skipped, load failed)
        self.crashed: list[dict[str, Any]] = []  # xdist: cases that killed their worker (controller)
        self._case_keys: dict[tuple[str, str, str], str] = {}

    # ---- a case's score or error --------------------------------------------------

    def record(self, item: pytest.Item, score: float | None, *, output: Any, case_id: str,
               group: Any = None, extra: dict[str, Any] | None = None, samples: Sequence[float] | None = None,
               reference_scores: dict[str, float] | None = None) -> dict[str, Any]:
        cand, task = candidate_of(item), task_of(item)
        if cand is None or task is None:
            raise LLMSelectError(f"{item.nodeid}: llm_record needs the test to use the `llm` fixture")
        if item.nodeid in self.recorded:
            if not self._retried(item.nodeid):
                raise LLMSelectError(f"{item.nodeid}: llm_record was called twice for one case")
        # a sampled case's score is its reduced samples; judges' grades and reference scores join the record
        score, graded = case_extras(self.settings, self.pool.judges, item, task, case_id_for(item, cand), score,
                                    samples, output, reference_scores)
        problem = score_problem(score, task=task.name, metric=task.metric, score_range=task.score_range)
        if problem is not None:
            raise LLMSelectError(f"{problem} (case {case_id!r}, candidate {cand.name})")
        self._claim(task.name, cand.name, case_id, item.nodeid)
        from pytest_llmselect.report.jsonio import plain

        # Whatever a test hands over becomes plain JSON data here, so no value can later
        # cost the report, the stored run or the run log.
        shown: Any = output if output is None or isinstance(output, (str, int, float, bool)) \
            or (isinstance(output, (list, tuple)) and all(isinstance(o, str) for o in output)) else repr(output)
        full = None
        if isinstance(shown, str):  # one huge answer must not make every file huge
            shown, full = cap_stored(shown)
        elif isinstance(shown, (list, tuple)):  # a sampled case's answers: each capped alike
            capped = [cap_stored(o) for o in shown]
            shown = [text for text, _ in capped]
            full = sum(n if n is not None else len(t) for t, n in capped) if any(n for _, n in capped) else None
        rec = {
            "task": task.name, "case_id": case_id, "candidate": cand.name, "score": float(score),
            "status": SCORED,
            "output": plain(shown),
            "group": plain(group if group is None or isinstance(group, (str, int, float)) else repr(group)),
            "nodeid": item.nodeid,
        }
        if extra:
            for key, value in extra.items():
                try:
                    json.dumps(value, allow_nan=True)
                except (TypeError, ValueError):
                    raise LLMSelectError(
                        f"{item.nodeid}: llm_record({key}=...) must be JSON data (str, number, bool, None, "
                        f"list, dict), got {value!r} of type {type(value).__name__}") from None
            rec["extra"] = plain(extra)  # NaN and inf become null: the run log stays standard JSON
        if full is not None:
            rec["output_chars"] = full  # the stored output is its first STORED_OUTPUT_CHARS
        if task.demos is not None:
            shots = self.demos.demos_for(item)
            rec["demos"] = {"config": shots.config, "ids": list(shots.ids)}
            if shots.clipped:
                rec["demos"]["clipped"] = shots.clipped
                if shots.clipped not in self.events.warnings:
                    self.events.warnings.append(shots.clipped)
        if self.runner.truncated.get(item.nodeid):
            rec["truncated_tokens"] = self.runner.truncated[item.nodeid]
        if self.runner.cut.get(item.nodeid):
            rec["cut"] = self.runner.cut[item.nodeid]
        rec.update(plain(graded))
        self.add(rec)
        return rec

    def _retried(self, nodeid: str) -> bool:
        """A case run again (a rerun plugin) after an attempt that errored: the earlier error
        gives way to this attempt. True when it did."""
        earlier = [r for r in self.records if r["nodeid"] == nodeid]
        if not earlier or any(r.get("status", SCORED) != ERRORED for r in earlier):
            return False
        self.records[:] = [r for r in self.records if r["nodeid"] != nodeid]
        self.recorded.discard(nodeid)
        return True

    def _claim(self, task: str, candidate: str, case_id: str, nodeid: str) -> None:
        """Two items may not record the same (task, candidate, case): one would hide the other."""
        key = (task, candidate, case_id)
        other = self._case_keys.get(key)
        if other is not None and other != nodeid:
            raise LLMSelectError(
                f"task {task!r}, candidate {candidate}: case id {case_id!r} is recorded by two tests "
                f"({other} and {nodeid}); give each case a distinct id (llm_record(case_id=...))")
        self._case_keys[key] = nodeid

    def add(self, rec: dict[str, Any]) -> None:
        self.recorded.add(rec["nodeid"])
        self.records.append(rec)
        self.events.log_event("case", rec)
        self.events.send("record", rec)

    def record_error(self, nodeid: str, task: str, candidate: str, case_id: str, error: str) -> None:
        if nodeid in self.recorded:
            return
        if self._case_keys.get((task, candidate, case_id), nodeid) != nodeid:
            case_id = f"{case_id} ({nodeid})"  # a duplicate id's error: keep it apart, and counted
        rec = {"task": task, "case_id": case_id, "candidate": candidate, "score": None,
               "status": ERRORED, "error": one_line(error), "output": None, "group": None, "nodeid": nodeid}
        if self.runner.truncated.get(nodeid):
            rec["truncated_tokens"] = self.runner.truncated[nodeid]
        self.add(rec)

    # ---- every planned case scored, errored or not run ------------------------------

    def not_run(self, nodeid: str, reason: str) -> None:
        """The case of ``nodeid`` did not run, for ``reason`` (the report's "not run" line)."""
        self._not_run(nodeid, reason)

    def _not_run(self, nodeid: str, reason: str) -> None:
        self.outcomes[nodeid] = reason
        self.events.send("outcome", [nodeid, reason])

    def observe(self, item: pytest.Item, report: pytest.TestReport, excinfo: Any) -> None:
        """After each phase of a case item: a failure without a score is an errored case; a
        skip, or a candidate that failed to load, leaves the case missing (not run)."""
        entry = self.plan.cases.get(item.nodeid)
        if entry is None or item.nodeid in self.recorded or report.when == "teardown":
            return
        task, cand, case_id = entry
        load_errors = self.pool.load_errors
        if excinfo is not None and isinstance(excinfo.value, ServerFailed):
            # An outage is not the model's quality: the case is not run, as for a failed load.
            self._not_run(item.nodeid, f"not run: {excinfo.value.reason}")
            return
        if excinfo is not None and isinstance(excinfo.value, JudgeError):
            report.longrepr = f"{case_id}: {excinfo.value}"  # the judge's one line, not a traceback
        if excinfo is not None and isinstance(excinfo.value, LoadFailed):
            self._not_run(item.nodeid, "candidate failed to load")
            report.longrepr = str(excinfo.value)  # one line, not a traceback per case
            return
        if report.skipped and is_raced_out(self.outcomes.get(item.nodeid)):
            return  # run/racing.RaceSkip named the reason before skipping
        if report.skipped:
            self._not_run(item.nodeid, "candidate failed to load" if cand in load_errors
                          else "skipped: " + one_line(_skip_reason(report)))
            return
        if report.failed and cand in load_errors:  # e.g. out of memory even one request at a time
            self._not_run(item.nodeid, "candidate failed to load")
            return
        if report.failed:
            error = one_line(f"{excinfo.typename}: {excinfo.value}" if excinfo is not None else report.longreprtext)
        elif report.when == "call":
            error = "the test finished without recording a score (call llm_record)"
            # The case is errored in the report: pytest's own summary must not count it passed.
            report.outcome, report.longrepr = "failed", f"{case_id}: {error}"
        else:
            return
        self.record_error(item.nodeid, task, cand, case_id, error)

    def missing(self, stop_reason: str) -> list[dict[str, Any]]:
        """``{task, candidate, count, reason}`` of the planned cases that have no record."""
        entries = []
        crashed = {c.get("nodeid") for c in self.crashed}
        for nodeid, (task, cand, _) in self.plan.cases.items():
            if nodeid in self.recorded:
                continue
            reason = "worker crashed" if nodeid in crashed else self.outcomes.get(nodeid)
            if reason is None:
                reason = "candidate failed to load" if cand in self.pool.load_errors else stop_reason
            entries.append((task, cand, reason))
        return summarize_missing(entries)

    def candidate_status(self, name: str) -> str:
        if name in self.pool.load_errors:
            return "load_failed"
        return "evaluated" if any(r["candidate"] == name for r in self.records) else "not_run"

    def estimate_scores(self, task: str, candidate: str) -> list[float]:
        """The scores the quality estimate of one group uses: errored cases at the metric's
        worst value under the default policy (accounting.effective_scores)."""
        from pytest_llmselect.accounting import effective_scores

        spec = self.plan.tasks.get(task)
        block = spec.to_dict() if spec is not None else self.plan.remote_tasks.get(task, {"name": task})
        rows = effective_scores(self.records, block, self.settings.errors).get(candidate, {})
        return [score for score, _ in rows.values()]

    def scores(self, task: str, candidate: str) -> list[float]:
        """The scored (not errored) cases' scores of one group."""
        return [r["score"] for r in self.records
                if r["task"] == task and r["candidate"] == candidate and r.get("status", SCORED) == SCORED]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)
