"""Timing model work through pytest-benchmark, so the figures land in its table, its
``--benchmark-json`` / ``--benchmark-autosave`` files and ``pytest-benchmark compare``.

A (task, candidate) group's batched model work is one benchmark: group = the task,
param = the candidate. Model calls are slow and must not be recalibrated into many
rounds, so it runs in pedantic mode with explicit rounds and warm-up rounds. Model
loading is a separate benchmark in the group ``llm-load``.

When pytest-benchmark is disabled (``--benchmark-disable``, or automatically under
``pytest -n``) the same warm-up and timed rounds run without it, so the report's own
per-round timings (and the cost interval built on them) do not depend on it; under
xdist the report marks them as taken in parallel.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import pytest

T = TypeVar("T")


class _Callspec:
    def __init__(self, id: str, params: dict[str, Any]) -> None:
        self.id = id
        self.params = params


class BenchNode:
    """What pytest-benchmark's BenchmarkFixture reads from a test node."""

    def __init__(self, name: str, nodeid: str, param: str, params: dict[str, Any], item: pytest.Item) -> None:
        self.name = name
        self.nodeid = nodeid
        self.callspec = _Callspec(param, params)
        self._item = item

    def warn(self, warning: Warning) -> None:
        self._item.warn(warning)  # type: ignore[arg-type]


def benchmark_session(config: pytest.Config) -> Any | None:
    # pytest-benchmark keeps its session on the config; there is no public accessor.
    return getattr(config, "_benchmarksession", None)


def timed_by_benchmark(
    config: pytest.Config,
    item: pytest.Item,
    *,
    group: str,
    name: str,
    param: str,
    params: dict[str, Any],
    target: Callable[[], T],
    rounds: int = 1,
    warmup_rounds: int = 0,
    extra_info: dict[str, Any] | None = None,
) -> T:
    """Run ``target`` ``warmup_rounds`` times, then ``rounds`` timed times, through a
    pytest-benchmark fixture in pedantic mode when one is active; return the last result."""
    bs = benchmark_session(config)
    if bs is None or bs.disabled or bs.skip:
        for _ in range(warmup_rounds + rounds - 1):
            target()
        return target()
    from pytest_benchmark.fixture import BenchmarkFixture

    node = BenchNode(name=f"{name}[{param}]", nodeid=f"{item.nodeid.split('::')[0]}::{name}[{param}]",
                     param=param, params=params, item=item)
    fixture = BenchmarkFixture(
        node, add_stats=bs.benchmarks.append, logger=bs.logger, warner=node.warn,
        disabled=bs.disabled, **dict(bs.options, group=group),
    )
    try:
        result = fixture.pedantic(target, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
        if extra_info and fixture.stats is not None:
            fixture.extra_info.update(extra_info)
        return result
    finally:
        fixture._cleanup()


LOAD_GROUP = "llm-load"
TASK_GROUP_PREFIX = "llm: "


def hide_llm_benchmark_tables(config: pytest.Config) -> None:
    """Leave this plugin's groups (``llm-load``, ``llm: TASK``) out of pytest-benchmark's
    terminal tables, so a CI log ends on the selection report, which shows these timings
    with their intervals. Their figures stay in ``--benchmark-json``, ``--benchmark-save``
    and ``--benchmark-compare`` (saved before this runs), and other benchmarks keep their tables.

    Call after pytest-benchmark's ``finish`` (its ``pytest_sessionfinish`` wrapper runs it
    before any plain ``pytest_sessionfinish``) and before its terminal summary."""
    bs = benchmark_session(config)
    groups = getattr(bs, "groups", None)
    if not groups:
        return
    bs.groups = [(name, benches) for name, benches in groups
                 if not (name == LOAD_GROUP or str(name or "").startswith(TASK_GROUP_PREFIX))]
