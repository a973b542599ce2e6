"""The few-shot demonstrations of each case, chosen for its whole (task, configuration) group
at once on first use, and the sentence-embedding model that knn and mmr choices share."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmselect.candidates import Candidate
from pytest_llmselect.errors import LLMSelectError
from pytest_llmselect.run.plan import Plan, case_id_for
from pytest_llmselect.run.settings import Settings
from pytest_llmselect.tasks import TaskSpec


class Demonstrations:
    def __init__(self, settings: Settings, plan: Plan) -> None:
        self.settings = settings
        self.plan = plan
        self.embedder: Any = None  # demos.embed.Embedder, loaded on the first knn/mmr choice

    def demo_config(self, task: TaskSpec, cand: Candidate) -> Any:
        """The candidate's demonstration configuration, else the task pool's default."""
        from pytest_llmselect.demos import parse_demo_config

        if cand.demos is not None:
            return cand.demos
        return parse_demo_config(task.demos.default, option=f"task {task.name!r}: DemoPool default")

    def demos_for(self, item: pytest.Item) -> Any:
        """The demonstrations (demos.Shots) of this item's case, chosen for its whole
        (task, configuration) group on first use. A task without a pool gets empty Shots."""
        from pytest_llmselect.demos import Shots, choose_shots

        group = self.plan.group_of(item)
        pool = group.task.demos
        if pool is None:
            return Shots("none", (), "", ())
        if group.shots is None or item.nodeid not in group.shots:
            config = self.demo_config(group.task, group.candidate)
            items = [it for it in group.items if it.nodeid not in (group.shots or {})] or [item]
            if item not in items:
                items.append(item)
            cases = []
            for it in items:
                case = _case_of(it)
                cases.append((case_id_for(it, group.candidate), pool.query_of(case)))
            if config.strategy in ("knn", "mmr") and self.embedder is None:
                from pytest_llmselect.demos.embed import Embedder

                self.embedder = Embedder()
            chosen = choose_shots(pool, config, cases, seed=self.settings.seed, embedder=self.embedder)
            group.shots = {**(group.shots or {}), **{it.nodeid: shots for it, shots in zip(items, chosen)}}
        return group.shots[item.nodeid]


def _case_of(item: pytest.Item) -> Any:
    """The case parameter of an item: the one named ``case``, else the first dict parameter."""
    params = getattr(item, "callspec").params
    if "case" in params:
        return params["case"]
    for name, value in params.items():
        if name != "llm" and isinstance(value, dict):
            return value
    raise LLMSelectError(f"{item.nodeid}: a task with demonstrations needs a `case` parameter (a dict) "
                         "to compare with the pool")
