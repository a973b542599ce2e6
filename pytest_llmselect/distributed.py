"""pytest-xdist: each candidate's items on one worker; results merged on the controller.

Workers attach what they measured to their test reports (``user_properties``, which
xdist sends to the controller): the case records, the model-work measurements of each
(task, candidate) group as deltas, model loads, and task metadata. The controller, which
collects no items itself, rebuilds the run from those and writes the report.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_llmselect.engine import Measures

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
    }


def snapshot(m: Measures) -> Measures:
    return dataclasses.replace(m, latencies=list(m.latencies), first_token_seconds=list(m.first_token_seconds))


def ingest(session: Any, report: pytest.TestReport) -> None:
    """On the controller: take what a worker attached to a teardown report."""
    if report.when != "teardown":  # the teardown report carries every property of the item
        return
    for key, value in report.user_properties:
        if not isinstance(key, str) or not key.startswith(PREFIX):
            continue
        kind = key[len(PREFIX):]
        if kind == "record":
            session.records.append(value)
            session._append_log(value)
        elif kind == "task":
            session.remote_tasks[value["name"]] = value
        elif kind == "model":
            name = value["name"]
            session.loads[name] = session.loads.get(name, 0) + value["loads"]
            session.load_seconds[name] = session.load_seconds.get(name, 0.0) + value["load_seconds"]
            session.model_info[name] = value["info"]
            if value.get("error"):
                session.load_errors[name] = value["error"]
        elif kind == "measures":
            key2 = (value["task"], value["candidate"])
            delta = Measures(**value["delta"])
            session.remote_measures.setdefault(key2, Measures()).merge(delta)
            session.log_state()


class XdistController:
    """Registered on the xdist controller only: schedules by candidate and merges what workers report."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ingest(self.session, report)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        # Only replace xdist's default distribution; an explicit --dist choice is the user's.
        if getattr(config.option, "dist", None) != "load":
            return None
        cands = self.session.settings.candidates
        return make_candidate_scheduler(config, log, [c.name for c in cands], {c.name: c.model_name for c in cands})


def candidate_scope(nodeid: str, names: list[str], model_of: dict[str, str] | None = None) -> str:
    """The candidate an item belongs to, read from its test id; else its module. With
    ``model_of`` (configuration name -> model name), configurations of one model share a scope."""
    params = nodeid[nodeid.find("[") + 1:-1] if nodeid.endswith("]") and "[" in nodeid else ""
    if params:
        for name in sorted(names, key=len, reverse=True):
            if params == name or params.startswith(name + "-") or params.endswith("-" + name) \
                    or f"-{name}-" in params:
                return "llm-candidate:" + (model_of or {}).get(name, name)
    return nodeid.split("::", 1)[0]


def make_candidate_scheduler(config: pytest.Config, log: Any, names: list[str],
                             model_of: dict[str, str] | None = None) -> Any:
    """Each candidate's items (and its check items) form one unit of work for one worker:
    one model load per candidate, and whole (task, candidate) groups batched together.
    (xdist's own ``loadgroup`` mode cannot do this on pytest 9: it renames node ids through
    an attribute pytest no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class CandidateScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return candidate_scope(nodeid, names, model_of)

    return CandidateScheduling(config, log)
