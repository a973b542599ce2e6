"""Per-(task, candidate) check items. A candidate under a task's minimum quality or over
one of its budgets fails one clearly named item, not the individual cases."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmselect.budgets import check_budgets
from pytest_llmselect.candidates import Candidate
from pytest_llmselect.run.plan import ITEM_CANDIDATE, ITEM_TASK, Plan, candidate_of, task_of
from pytest_llmselect.run.session import SESSION_KEY, LLMSession
from pytest_llmselect.stats import estimate
from pytest_llmselect.tasks import TaskSpec


class CheckFailed(Exception):
    """A declared minimum or budget was not met; the message says by how much."""


class LLMCheckItem(pytest.Item):
    """Runs after the last case of its (task, candidate) group."""

    kind = "check"

    def __init__(self, *, task: TaskSpec, candidate: Candidate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.candidate = candidate

    @property
    def llm_session(self) -> LLMSession:
        return self.config.stash[SESSION_KEY]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def not_met(self, message: str) -> None:
        """A declared minimum or budget was not met: the item fails, or under ``--llm-checks=report``
        is xfailed with the same line (the report states it either way)."""
        if self.llm_session.settings.checks == "report":
            pytest.xfail(message)
        raise CheckFailed(message)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.name}"


class MinQualityItem(LLMCheckItem):
    kind = "min_quality"

    def runtest(self) -> None:
        session = self.llm_session
        scores = session.ledger.estimate_scores(self.task.name, self.candidate.name)
        if not scores:
            pytest.skip(f"no case of task {self.task.name!r} was recorded for {self.candidate.name}")
        est = estimate(scores, level=session.settings.level, seed=session.settings.seed)
        minimum = self.task.min_quality
        assert minimum is not None
        below = est.mean < minimum if self.task.higher_is_better else est.mean > minimum
        if below:
            word = "below the minimum" if self.task.higher_is_better else "above the maximum"
            self.not_met(
                f"{self.task.name}: {self.candidate.name} quality {est.mean:.4f} "
                f"[{est.lo:.4f}, {est.hi:.4f}] ({est.level:.0%} {est.method} interval, n={est.n}) "
                f"is {word} {minimum:g} declared by llm_task(min_quality=...)"
            )


class BudgetItem(LLMCheckItem):
    kind = "budget"

    def runtest(self) -> None:
        session = self.llm_session
        figures = session.figures(self.task.name, self.candidate.name)
        if not figures.get("requests"):
            pytest.skip(f"no model work of task {self.task.name!r} was measured for {self.candidate.name}")
        results = check_budgets(self.task.budgets, figures)
        failed = [r for r in results if r.passed is False]
        unmeasured = [r for r in results if r.passed is None]
        if failed:
            self.not_met(f"{self.task.name}: {self.candidate.name} over budget: "
                         + "; ".join(r.message() for r in failed))
        if unmeasured:
            pytest.skip("; ".join(r.message() for r in unmeasured))


def make_check_items(items: list[pytest.Item]) -> list[pytest.Item]:
    """Insert the min-quality and budget checks after each group's last case."""
    last_of: dict[tuple[str, str], pytest.Item] = {}
    for item in items:
        cand, task = candidate_of(item), task_of(item)
        if cand is not None and task is not None and (task.min_quality is not None or task.budgets):
            last_of[(task.name, cand.name)] = item
    after: dict[int, list[pytest.Item]] = {}
    for (task_name, cand_name), last in last_of.items():
        task, cand = task_of(last), candidate_of(last)
        assert task is not None and cand is not None
        made: list[pytest.Item] = []
        # An explicit node id: pytest 9 compares structured ids, and a parsed "name[param]" id
        # must equal this item's own, or --lf / --ff never recognise a failed check.
        if task.min_quality is not None:
            name = f"llm_min_quality[{task_name}-{cand_name}]"
            made.append(MinQualityItem.from_parent(last.parent, name=name, nodeid=f"{last.parent.nodeid}::{name}",
                                                   task=task, candidate=cand))
        if task.budgets:
            name = f"llm_budget[{task_name}-{cand_name}]"
            made.append(BudgetItem.from_parent(last.parent, name=name, nodeid=f"{last.parent.nodeid}::{name}",
                                               task=task, candidate=cand))
        for check in made:
            check.stash[ITEM_CANDIDATE] = cand
            check.stash[ITEM_TASK] = task
        after[id(last)] = made
    out: list[pytest.Item] = []
    for item in items:
        out.append(item)
        out.extend(after.get(id(item), ()))
    return out


def rerun_groups_of_failed_checks(config: pytest.Config, plan: Plan, items: list[pytest.Item]) -> None:
    """Make ``--lf`` / ``--ff`` re-run the cases a failed check item needs.

    A min-quality or budget check measures its whole (task, candidate) group: re-run
    alone it has nothing to measure. pytest's last-failed plugin filters the items
    after every other ``pytest_collection_modifyitems`` (it wraps them), so the group's
    cases are added to its set of last failures; each is removed again as it passes.
    """
    if not (config.getoption("lf", False) or config.getoption("failedfirst", False)):
        return
    lf = config.pluginmanager.get_plugin("lfplugin")
    failed = getattr(lf, "lastfailed", None)
    if not getattr(lf, "active", False) or not isinstance(failed, dict):
        return
    for check in items:
        if isinstance(check, LLMCheckItem) and _lf_key(check) in failed:
            group = plan.groups.get((check.task.name, check.candidate.name))
            for case in group.items if group is not None else ():
                failed.setdefault(_lf_key(case), True)


def _lf_key(item: pytest.Item) -> Any:
    # pytest 9 keys its last failures by the item's NodeId object, pytest 8 by the node id string.
    return getattr(item, "id", None) or item.nodeid


def regroup_after_reordering(config: pytest.Config, plan: Plan, items: list[pytest.Item]) -> None:
    """After ``--ff`` / ``--nf`` reordered the items (they do it after every other plugin),
    put each candidate's items together again, stably (their order holds within a candidate),
    each check after its group's last case: otherwise each candidate is loaded twice."""
    if not (config.getoption("failedfirst", False) or config.getoption("newfirst", False)):
        return
    checks = [i for i in items if isinstance(i, LLMCheckItem)]
    cases = plan.scheduling.order([i for i in items if not isinstance(i, LLMCheckItem)])
    last = {}
    for index, item in enumerate(cases):
        cand, task = candidate_of(item), task_of(item)
        if cand is not None and task is not None:
            last[(task.name, cand.name)] = index
    after: dict[int, list[pytest.Item]] = {}
    for check in checks:
        after.setdefault(last.get((check.task.name, check.candidate.name), len(cases) - 1), []).append(check)
    out: list[pytest.Item] = list(after.get(-1, ()))
    for index, item in enumerate(cases):
        out.append(item)
        out.extend(after.get(index, ()))
    items[:] = out


class ItemOrder:
    """Registered during configure, after pytest's cache plugin registered its --ff/--nf
    reordering, as an outer wrapper: it runs after them (they reorder after every other
    implementation, which undid the grouping by candidate: each candidate loaded twice)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> Any:
        result = yield
        llm_session = config.stash.get(SESSION_KEY, None)
        if llm_session is not None and llm_session.settings.candidates:
            regroup_after_reordering(config, llm_session.plan, items)
        return result
