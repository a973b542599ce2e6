"""The session object kept in ``config.stash[SESSION_KEY]``: it composes the run's parts and
holds no logic of its own (each method calls its parts in order).

    events      progress lines, run log, warnings, xdist outbox      (run/events.py)
    plan        items, tasks, groups, planned cases                    (run/plan.py)
    pool        one loaded model at a time                             (run/pool.py)
    demos       demonstrations per group                               (run/demonstrations.py)
    runner      batched, timed, cached model work                      (run/runner.py)
    ledger      records: scored, errored, not-run cases               (run/records.py)
    bridge      xdist worker side (None elsewhere)                     (run/xdist.py)
    racing      the race's stages and drops (None without --llm-race)  (run/racing.py)

What the session's end makes of them (``report``, ``written``, ``report_errors``) is
kept here too, for the terminal summary and the gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmselect.run.demonstrations import Demonstrations
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.inputs import figures, is_parallel, state_event
from pytest_llmselect.run.plan import Plan, candidate_of, case_id_for, task_of
from pytest_llmselect.run.pool import ModelPool
from pytest_llmselect.run.racing import RaceJudge, Racing
from pytest_llmselect.run.records import Ledger
from pytest_llmselect.run.runner import Runner
from pytest_llmselect.run.settings import Settings
from pytest_llmselect.run.startup import should_start, start
from pytest_llmselect.run.xdist import WorkerBridge

if TYPE_CHECKING:
    from pytest_llmselect.progress import Progress


class LLMSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.events = RunEvents(config, settings)
        self.racing = _racing(config, settings, self.events)
        self.plan = Plan(config, settings, self.events, self.racing)
        self.pool = ModelPool(config, settings, self.events)
        self.demos = Demonstrations(settings, self.plan)
        self.runner = Runner(config, settings, self.events, self.plan, self.pool, self.demos,
                             on_measured=self.log_state)
        self.pool.judges.cache = self.runner.cache  # judges' requests are cached like the candidates'
        self.ledger = Ledger(settings, self.events, self.plan, self.pool, self.runner, self.demos)
        if self.racing is not None:
            self.racing.decide = RaceJudge(self, self.racing).decide
        self.bridge = WorkerBridge(self.events, self.plan, self.runner) if self.events.is_worker else None
        self.report: dict[str, Any] | None = None
        self.written: list[str] = []
        self.report_errors: list[tuple[str, str]] = []

    # Read by the hooks, the fixtures and the gate: where each lives.
    @property
    def records(self) -> list[dict[str, Any]]:
        return self.ledger.records

    @property
    def warnings(self) -> list[str]:
        return self.events.warnings

    @property
    def progress(self) -> Progress:
        return self.events.progress

    def start(self, session: pytest.Session) -> None:
        """Before the first item: torch, the header line, the zoo build (run/startup.py)."""
        if should_start(session, self.plan):
            try:
                start(self.plan, self.pool, self.events)
            except Exception as exc:  # noqa: BLE001  each candidate's load reports its own problem
                self.events.warnings.append(f"start-up failed: {type(exc).__name__}: {exc}")

    def after_item(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if candidate_of(item) is None:
            return
        self.plan.scheduling.mark_complete(item)
        if self.bridge is not None:
            self.bridge.flush(item)
        if nextitem is None and any(self.settings.retimable(c) for c in self.settings.candidates):
            return  # the last item: the model stays for timing again at session end, which releases it
        if not self.plan.scheduling.keep_model(item, nextitem):
            self.pool.release()

    def skip_after_interrupt(self, item: pytest.Item) -> bool:
        """After Ctrl-C cancelled a group's requests: True for an item that must not run (its
        case is then not run, the reason named), and the session stops at the first item past
        the group; the group's answered cases still run and are scored."""
        reason = self.runner.interrupted
        if reason is None or self.runner.runs_after_interrupt(item):
            return False
        if item.nodeid in self.plan.cases and item.nodeid not in self.ledger.recorded:
            self.ledger.not_run(item.nodeid, f"not run: {reason}")
        if item not in (self.runner.interrupted_group.items if self.runner.interrupted_group else ()):
            item.session.shouldstop = reason
        return True

    def follow_up_timing(self, session: pytest.Session, exitstatus: int | pytest.ExitCode, stop: str) -> None:
        """Before the report: more timed rounds for the groups whose cost can change a pick
        (run/retiming.py); not after Ctrl-C, -x or --maxfail, nor without a case recorded."""
        stopped = exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail
        if self.records and not stopped and self.runner.interrupted is None:
            from pytest_llmselect.run.retiming import follow_up

            try:
                follow_up(self, stop)
            except Exception as exc:  # noqa: BLE001  the first pass's figures still make the report
                self.events.warnings.append(f"timing again where cost can change the pick failed: "
                                            f"{type(exc).__name__}: {exc}; one timed round each stands")

    def figures(self, task: str, candidate: str) -> dict[str, Any]:
        return figures(self, task, candidate)

    def log_state(self) -> None:
        """Write the candidates, tasks and measurements so far, so a killed run can still be reported."""
        if self.events.log_writable:
            self.events.log_event("state", state_event(self))

    def close(self) -> None:
        self.pool.close()
        self.events.close()
        self.runner.close()


SESSION_KEY = pytest.StashKey[LLMSession]()


def _racing(config: pytest.Config, settings: Settings, events: RunEvents) -> Racing | None:
    """The race policy under ``--llm-race``; None otherwise, and under pytest-xdist (each worker
    would race its own share of the cases), where that is said once."""
    if not settings.race.on:
        return None
    if is_parallel(config):
        if not hasattr(config, "workerinput"):
            events.warnings.append("--llm-race does not run under pytest-xdist (-n): every case of every "
                                   "candidate runs")
        return None
    return Racing(settings.race, settings.seed, settings.candidates, candidate_of, task_of, case_id_for)


class InterruptedStop:
    """Registered with the plugin manager: after Ctrl-C cancelled a group's requests, an item
    that must not run is handled here (``True``: pytest runs nothing of it) instead of running."""

    def __init__(self, session: LLMSession) -> None:
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        return True if self.session.skip_after_interrupt(item) else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        result = yield
        reason = self.session.runner.interrupted
        if reason is not None and not session.shouldstop:  # the interrupted group was the last
            raise session.Interrupted(reason)  # the run still ends as interrupted (exit status 2)
        return result
