"""The plan: which items are LLM cases, their tasks, the (task, candidate) groups, and every
planned case that must end scored, errored or not run.

Owns the binding of an item to its candidate and task (in the item's stash), the tasks
declared, the groups in run order (through a ``Scheduling`` policy), the planned cases
left after -k/-m/--lf (``cases``: node id -> (task, candidate, case id)) and the count of
deselected ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pytest

from pytest_llmselect.candidates import Candidate
from pytest_llmselect.engine import Measures, Request, RequestFailed, Result
from pytest_llmselect.errors import SpecError
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.scheduling import CandidateMajor, Scheduling
from pytest_llmselect.run.settings import Settings
from pytest_llmselect.tasks import MARKER, TaskSpec, task_from_marker

ITEM_CANDIDATE = pytest.StashKey[Candidate]()
ITEM_TASK = pytest.StashKey[TaskSpec]()


@dataclass
class Group:
    task: TaskSpec
    candidate: Candidate
    items: list[pytest.Item] = field(default_factory=list)
    prefetched: bool = False
    fetched: set[str] = field(default_factory=set)  # node ids whose announced requests have run
    cache: dict[Request, Result | RequestFailed] = field(default_factory=dict)
    measures: Measures = field(default_factory=Measures)
    sent: Measures = field(default_factory=Measures)  # what a worker already reported to the controller
    shots: dict[str, Any] | None = None  # nodeid -> demos.Shots, chosen for the whole group at once
    # A race batches one stage at a time: (model seconds, requests) of each stage's timed pass.
    stage_rounds: list[tuple[float, int]] = field(default_factory=list)


def candidate_of(item: pytest.Item) -> Candidate | None:
    return item.stash.get(ITEM_CANDIDATE, None)


def task_of(item: pytest.Item) -> TaskSpec | None:
    return item.stash.get(ITEM_TASK, None)


def _default_task_name(item: pytest.Item) -> str:
    name = getattr(item, "originalname", item.name)
    return name[5:] if name.startswith("test_") else name


class Plan:
    def __init__(self, config: pytest.Config, settings: Settings, events: RunEvents,
                 scheduling: Scheduling | None = None) -> None:
        self.config = config
        self.settings = settings
        self.events = events
        self.scheduling: Scheduling = scheduling or CandidateMajor(settings.candidates, candidate_of)
        self.tasks: dict[str, TaskSpec] = {}
        self.remote_tasks: dict[str, dict[str, Any]] = {}  # xdist controller: the tasks workers reported
        self.groups: dict[tuple[str, str], Group] = {}
        # Accounting (accounting.py): the plan is every case item left after deselection,
        # nodeid -> (task, candidate, case id).
        self.cases: dict[str, tuple[str, str, str]] = {}
        self.deselected: int = 0

    def candidates_in_use(self, named: set[str] | None = None) -> list[Candidate]:
        """The candidates with items in this run (``named``: those an xdist controller learnt
        from its workers, which it does not collect; all of them before collection)."""
        used = {key[1] for key in self.groups} | (named or set())
        return [c for c in self.settings.candidates if c.name in used] or list(self.settings.candidates)

    # ---- collection -------------------------------------------------------------

    def attach(self, item: pytest.Item) -> None:
        """Record the candidate and task of an item that uses the ``llm`` fixture."""
        callspec = getattr(item, "callspec", None)
        if callspec is None or "llm" not in callspec.params:
            return
        cand = callspec.params["llm"]
        if not isinstance(cand, Candidate):
            return
        item.stash[ITEM_CANDIDATE] = cand
        marker = item.get_closest_marker(MARKER)
        try:
            spec = task_from_marker(marker.args if marker else (), marker.kwargs if marker else {},
                                    _default_task_name(item))
        except SpecError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
        if marker is None:  # allowed, but what it assumes must be said once per test function
            where = item.nodeid.split("[", 1)[0]
            warning = (f"{where} uses the llm fixture without @pytest.mark.llm_task: task {spec.name!r}, "
                       "metric not named, higher scores taken as better")
            if warning not in self.events.warnings:
                self.events.warnings.append(warning)
        known = self.tasks.setdefault(spec.name, spec)
        if known != spec:
            raise pytest.UsageError(
                f"{item.nodeid}: task {spec.name!r} is declared twice with different settings "
                f"({known.to_dict()} vs {spec.to_dict()})"
            )
        item.stash[ITEM_TASK] = known

    def order_items(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """Bind every item, then put them in the scheduling policy's order and group them."""
        for item in items:
            self.attach(item)
        ordered = self.scheduling.order(items)
        self.groups.clear()
        for item in ordered:
            cand, task = candidate_of(item), task_of(item)
            if cand is not None and task is not None:
                key = (task.name, cand.name)
                if key not in self.groups:
                    self.groups[key] = Group(task, cand)
                self.groups[key].items.append(item)
        return ordered

    def group_of(self, item: pytest.Item) -> Group:
        cand, task = candidate_of(item), task_of(item)
        assert cand is not None and task is not None, "llm fixture used on an item without a candidate"
        key = (task.name, cand.name)
        if key not in self.groups:  # item run outside the normal collection (e.g. a plugin re-run)
            self.groups[key] = Group(task, cand, [item])
        return self.groups[key]

    # ---- accounting: what must end scored, errored or not run ---------------------

    def set_plan(self, items: Sequence[pytest.Item]) -> None:
        """The final item list (after -k/-m/--lf): each case item is one planned case."""
        keep = {item.nodeid for item in items}
        self.scheduling.restrict(keep)
        for group in self.groups.values():  # --lf filters after our ordering: batch only what runs
            group.items = [it for it in group.items if it.nodeid in keep]
        self.cases = {}
        seen: dict[tuple[str, str, str], str] = {}
        for item in items:
            cand, task = candidate_of(item), task_of(item)
            if cand is not None and task is not None and isinstance(item, pytest.Function):
                entry = (task.name, cand.name, case_id_for(item, cand))
                if entry in seen:  # the records would collapse into one: refuse before any model loads
                    raise pytest.UsageError(
                        f"task {entry[0]!r}: case id {entry[2]!r} belongs to two tests ({seen[entry]} and "
                        f"{item.nodeid}); give every case a distinct id (an \"id\" key or pytest ids=)")
                seen[entry] = item.nodeid
                self.cases[item.nodeid] = entry
        if self.events.is_worker:
            self.events.send("plan", {"items": [[k, *v] for k, v in self.cases.items()],
                                      "deselected": self.deselected})
        elif self.cases and not self.config.option.collectonly:
            # In the run log, so a report rebuilt from it knows what never ran, also after a kill.
            self.events.log_event("plan", {"cases": [list(entry) for entry in self.cases.values()]})


def case_id_for(item: pytest.Item, cand: Candidate) -> str:
    """The case's id without the candidate, so records pair across candidates.

    Derived from the item's whole parametrization: when every parameter is a dict with an
    ``"id"`` key, those ids joined with ``-``; otherwise pytest's own id of the item with
    the candidate's part removed (so two templates x four cases are eight distinct ids)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.name
    params = {k: v for k, v in callspec.params.items() if k != "llm"}
    if params and all(isinstance(v, dict) and "id" in v for v in params.values()):
        return "-".join(str(v["id"]) for v in params.values())
    ids = callspec.id
    token = cand.name
    if ids == token:
        return getattr(item, "originalname", item.name)
    for prefix, suffix in ((token + "-", ""), ("", "-" + token)):
        if prefix and ids.startswith(prefix):
            return ids[len(prefix):]
        if suffix and ids.endswith(suffix):
            return ids[: -len(suffix)]
    return ids.replace(f"-{token}-", "-", 1)
