"""Per-(task, candidate) check items: a candidate under a task's minimum quality (or,
later, over a budget) fails one clearly named item, not the individual cases."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmselect.candidates import Candidate
from pytest_llmselect.stats import estimate
from pytest_llmselect.tasks import TaskSpec


class CheckFailed(Exception):
    """A declared minimum or budget was not met; the message says by how much."""


class LLMCheckItem(pytest.Item):
    """Runs after the last case of its (task, candidate) group."""

    def __init__(self, *, task: TaskSpec, candidate: Candidate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.candidate = candidate

    def runtest(self) -> None:
        from pytest_llmselect.plugin import SESSION_KEY

        session = self.config.stash[SESSION_KEY]
        scores = session.scores(self.task.name, self.candidate.name)
        if not scores:
            pytest.skip(f"no case of task {self.task.name!r} was recorded for {self.candidate.name}")
        est = estimate(scores, level=session.settings.level, seed=session.settings.seed)
        minimum = self.task.min_quality
        assert minimum is not None
        below = est.mean < minimum if self.task.higher_is_better else est.mean > minimum
        if below:
            word = "below the minimum" if self.task.higher_is_better else "above the maximum"
            raise CheckFailed(
                f"{self.task.name}: {self.candidate.name} quality {est.mean:.4f} "
                f"[{est.lo:.4f}, {est.hi:.4f}] ({est.level:.0%} {est.method} interval, n={est.n}) "
                f"is {word} {minimum:g} declared by llm_task(min_quality=...)"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.task.name} min_quality [{self.candidate.name}]"


def make_check_items(session: Any, items: list[pytest.Item]) -> list[pytest.Item]:
    """Insert a min-quality check after each group whose task declares one."""
    from pytest_llmselect.session import candidate_of, task_of

    last_of: dict[tuple[str, str], pytest.Item] = {}
    for item in items:
        cand, task = candidate_of(item), task_of(item)
        if cand is not None and task is not None and task.min_quality is not None:
            last_of[(task.name, cand.name)] = item
    after: dict[int, pytest.Item] = {}
    from pytest_llmselect.session import ITEM_CANDIDATE, ITEM_TASK

    for (task_name, cand_name), last in last_of.items():
        task, cand = task_of(last), candidate_of(last)
        check = LLMCheckItem.from_parent(
            last.parent, name=f"llm_min_quality[{task_name}-{cand_name}]", task=task, candidate=cand,
        )
        check.stash[ITEM_CANDIDATE] = cand
        check.stash[ITEM_TASK] = task
        after[id(last)] = check
    out: list[pytest.Item] = []
    for item in items:
        out.append(item)
        if id(item) in after:
            out.append(after[id(item)])
    return out
