"""lm-evaluation-harness task files as pytest suites: ``test_x = lmeval_suite("task.yaml")``.

Importing this package is cheap; the task files are read when ``lmeval_suite`` is called,
their data when the suite is collected.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LmevalError", "aggregate", "build_cases", "load_task", "lmeval_suite"]


def __getattr__(name: str) -> Any:
    if name == "lmeval_suite":
        from pytest_llmselect.lmeval.suite import lmeval_suite

        return lmeval_suite
    if name == "LmevalError":
        from pytest_llmselect.lmeval.yamlfile import LmevalError

        return LmevalError
    if name == "load_task":
        from pytest_llmselect.lmeval.config import load_task

        return load_task
    if name == "build_cases":
        from pytest_llmselect.lmeval.build import build_cases

        return build_cases
    if name == "aggregate":
        from pytest_llmselect.lmeval.scoring import aggregate

        return aggregate
    raise AttributeError(f"module 'pytest_llmselect.lmeval' has no attribute {name!r}")
