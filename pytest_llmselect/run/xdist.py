"""pytest-xdist: each candidate's items on one worker; results merged on the controller.

Workers attach what they measured to their test reports (``user_properties``, which
xdist sends to the controller): the case records, the model-work measurements of each
(task, candidate) group as deltas, model loads, and task metadata. The controller, which
collects no items itself, rebuilds the run from those and writes the report.

Scheduling is by the candidate *object* each item was parametrized with, never by reading
node ids: every worker writes, at the end of its collection, which candidate (and task and
case) each of its items belongs to into a folder the controller named
(``workerinput["llmselect_scopes"]``); the controller's scheduler reads it. Every distributing
``--dist`` mode (load, loadscope, loadfile, loadgroup, worksteal) is scheduled this way, so a
candidate loads once and each request of a group is computed once; ``each`` and ``no`` are
left alone.

A case that kills its worker (segfault, OOM kill, ``os._exit``) is reported once as crashed
and never sent to another worker; the candidate's other cases run on the replacement, which
takes what the crashed worker finished from the shared response cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_llmselect.engine import Measures
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.plan import Plan, candidate_of, case_id_for, task_of
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.records import Ledger
from pytest_llmselect.run.runner import Runner

PREFIX = "llmselect."


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not is_worker(config)


def measures_delta(now: Measures, sent: Measures) -> dict[str, Any]:
    return {
        "model_seconds": now.model_seconds - sent.model_seconds,
        "requests": now.requests - sent.requests,
        "batches": now.batches - sent.batches,
        "unbatched_requests": now.unbatched_requests - sent.unbatched_requests,
        "input_tokens": now.input_tokens - sent.input_tokens,
        "output_tokens": now.output_tokens - sent.output_tokens,
        "latencies": now.latencies[len(sent.latencies):],
        "first_token_seconds": now.first_token_seconds[len(sent.first_token_seconds):],
        "peak_memory_bytes": now.peak_memory_bytes,
        "cache_hits": now.cache_hits - sent.cache_hits,
        "memory_method": now.memory_method,
        "round_seconds": now.round_seconds[len(sent.round_seconds):],
        "warmup_seconds": now.warmup_seconds - sent.warmup_seconds,
        "request_latencies": now.request_latencies[len(sent.request_latencies):],
        "energy_joules": None if now.energy_joules is None else now.energy_joules - (sent.energy_joules or 0.0),
        "requests_timed_alone": now.requests_timed_alone,
    }


def snapshot(m: Measures) -> Measures:
    return dataclasses.replace(m, latencies=list(m.latencies), first_token_seconds=list(m.first_token_seconds),
                               round_seconds=list(m.round_seconds), request_latencies=list(m.request_latencies))


class WorkerBridge:
    """Worker side: attach pending events and measurement deltas to each case item's report."""

    def __init__(self, events: RunEvents, plan: Plan, runner: Runner) -> None:
        self.events = events
        self.plan = plan
        self.runner = runner
        self._sent_tasks: set[str] = set()

    def flush(self, item: pytest.Item) -> None:
        task = task_of(item)
        if task is not None and task.name not in self._sent_tasks:
            self._sent_tasks.add(task.name)
            item.user_properties.append(("llmselect.task", {**task.to_dict(),
                                                             "generation": self.runner.generation_of(task.name)}))
        item.user_properties.extend(self.events.outbox)
        self.events.outbox.clear()
        for key, group in self.plan.groups.items():
            if group.measures.requests != group.sent.requests:
                item.user_properties.append(("llmselect.measures", {
                    "task": key[0], "candidate": key[1], "delta": measures_delta(group.measures, group.sent)}))
                group.sent = snapshot(group.measures)
        judges = self.runner.pool.judges
        if judges.runners:  # the judges' figures so far: the controller keeps each worker's latest
            worker = str(self.runner.config.workerinput.get("workerid", "?"))  # type: ignore[attr-defined]
            item.user_properties.append(("llmselect.judge_cost", {"worker": worker,
                                                                  "costs": judges.priced(self.runner.settings)}))


def ingest(ledger: Ledger, plan: Plan, pool: ModelPool, runner: Runner, on_state: Callable[[], None],
           report: pytest.TestReport) -> None:
    """On the controller: take what a worker attached to a teardown report."""
    if report.when != "teardown":  # the teardown report carries every property of the item
        return
    for key, value in report.user_properties:
        if not isinstance(key, str) or not key.startswith(PREFIX):
            continue
        kind = key[len(PREFIX):]
        if kind == "record":
            if value.get("nodeid") not in ledger.recorded:
                ledger.add(value)
        elif kind == "plan":  # every worker collects the same plan; the controller collects nothing
            for nodeid, task, cand, case_id in value["items"]:
                plan.cases[nodeid] = (task, cand, case_id)
            plan.deselected = max(plan.deselected, int(value.get("deselected") or 0))
        elif kind == "outcome":
            ledger.outcomes[value[0]] = value[1]
        elif kind == "task":
            plan.remote_tasks[value["name"]] = value
        elif kind == "model":
            name = value["name"]
            pool.loads[name] = pool.loads.get(name, 0) + value["loads"]
            pool.load_seconds[name] = pool.load_seconds.get(name, 0.0) + value["load_seconds"]
            pool.model_info[name] = value["info"]
            if value.get("error"):
                pool.load_errors[name] = value["error"]
        elif kind == "judge_cost":
            for cost in value["costs"]:
                pool.judges.remote[(value["worker"], cost["judge"])] = cost
        elif kind == "measures":
            key2 = (value["task"], value["candidate"])
            delta = Measures(**value["delta"])
            runner.remote_measures.setdefault(key2, Measures()).merge(delta)
            on_state()


SCOPES_KEY = "llmselect_scopes"
DISTRIBUTING = ("load", "loadscope", "loadfile", "loadgroup", "worksteal")


def item_scopes(items: list[pytest.Item], model_of: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{nodeid: {"candidate", "task", "case_id"}}`` for every item bound to a candidate: the
    case items (by the ``llm`` parameter's object) and the items added per candidate (check and
    gate items, by the candidate object or name they were made with). ``model`` is the model the
    candidate runs (``model_of``: name -> model name): configurations of one model share a worker."""
    from pytest_llmselect.candidates import Candidate

    out: dict[str, dict[str, str]] = {}
    for item in items:
        cand = candidate_of(item)
        if cand is not None:
            task = task_of(item)
            out[item.nodeid] = {"candidate": cand.name, "model": model_of.get(cand.name, cand.name),
                                "task": task.name if task else "", "case_id": case_id_for(item, cand)}
            continue
        bound = getattr(item, "candidate", None)
        name = bound.name if isinstance(bound, Candidate) else bound if isinstance(bound, str) else None
        if name in model_of:
            task = getattr(item, "task", None)
            out[item.nodeid] = {"candidate": name, "model": model_of[name], "task": getattr(task, "name", task) or "",
                                "case_id": ""}
    return out


def write_scopes(config: pytest.Config, items: list[pytest.Item], model_of: dict[str, str]) -> None:
    """Worker side, at the end of collection: tell the controller's scheduler each item's candidate."""
    folder = getattr(config, "workerinput", {}).get(SCOPES_KEY)
    if not folder:
        return
    worker = config.workerinput.get("workerid", "gw")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{worker}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(item_scopes(items, model_of), fh)
    os.replace(tmp, Path(folder) / f"{worker}.json")  # the scheduler never reads half a file


class XdistController:
    """Registered on the xdist controller only: schedules by candidate and merges what workers report."""

    def __init__(self, ledger: Ledger, plan: Plan, pool: ModelPool, runner: Runner, on_state: Callable[[], None]) -> None:
        self.parts = (ledger, plan, pool, runner, on_state)
        self.ledger = ledger
        self.folder = tempfile.mkdtemp(prefix="llmselect-scopes-")
        self._scopes: dict[str, dict[str, str]] | None = None

    def scopes(self) -> dict[str, dict[str, str]]:
        """What the workers wrote at collection (they all collect the same items)."""
        if self._scopes is None:
            found: dict[str, dict[str, str]] = {}
            for path in sorted(Path(self.folder).glob("*.json")):
                try:
                    found.update(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
            if not found:
                return found  # not written yet: read again next time
            self._scopes = found
        return self._scopes

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[SCOPES_KEY] = self.folder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ingest(*self.parts, report)

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        scope = self.scopes().get(crashitem, {})
        self.ledger.crashed.append({
            "nodeid": crashitem, "task": scope.get("task") or None, "candidate": scope.get("candidate"),
            "case_id": scope.get("case_id") or None,
            "reason": str(report.longrepr) if report.longrepr else "worker crashed",
        })

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if getattr(config.option, "dist", None) not in DISTRIBUTING:
            return None  # each / no: every item everywhere, or no distribution, as the user asked
        return make_candidate_scheduler(config, log, self.scopes)

    def pytest_unconfigure(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def scope_of(nodeid: str, scopes: dict[str, dict[str, str]]) -> str:
    """The unit of work of an item: the model its candidate runs on, looked up in what the workers
    reported (never read from the node id); an item of no candidate goes with its module."""
    scope = scopes.get(nodeid)
    if scope is not None:
        return "llm-candidate:" + scope.get("model", scope["candidate"])
    return nodeid.split("::", 1)[0]


def make_candidate_scheduler(config: pytest.Config, log: Any, scopes: Any) -> Any:
    """Each candidate's items (and its check items) form one unit of work for one worker:
    one model load per candidate, and whole (task, candidate) groups batched together.
    (xdist's own ``loadgroup`` mode cannot do this on pytest 9: it renames node ids through
    an attribute pytest no longer reads.) Other items are scheduled by module."""
    from xdist.scheduler import LoadScopeScheduling

    class CandidateScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid, scopes())

        def remove_node(self, node: Any) -> str | None:
            # LoadScopeScheduling puts a crashed item back with the rest of its unit, so a case that
            # kills its worker kills every replacement in turn. Mark it done before the re-queueing.
            crashed = None
            for unit in (self.assigned_work.get(node) or {}).values():
                pending = [nodeid for nodeid, done in unit.items() if not done]
                if pending:
                    crashed = pending[0]
                    unit[crashed] = True
                    break
            requeued_crash = super().remove_node(node)  # names the next pending item, if any
            return crashed if crashed is not None else requeued_crash

    return CandidateScheduling(config, log)
