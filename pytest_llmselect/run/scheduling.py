"""The order items run in, and when a model may be released: a small ``Scheduling`` protocol.

Like pytest-xdist's ``scheduler/protocol.py``, each policy is one class behind one small
protocol. ``CandidateMajor`` (today's order) runs each candidate's items together, so a
model loads once and every (task, candidate) group is batched whole; ``run/racing.Racing``
(``--llm-race``), which stages cases and drops candidates as they fall behind, is the second.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import pytest

from pytest_llmselect.candidates import Candidate


class Scheduling(Protocol):
    def order(self, items: Sequence[pytest.Item]) -> list[pytest.Item]:
        """The run order of the collected items (each already bound to its candidate, if any)."""

    def mark_complete(self, item: pytest.Item) -> None:
        """``item`` has run (its teardown is done)."""

    def keep_model(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Whether the model ``item`` used stays loaded for ``nextitem``."""

    def restrict(self, keep: set[str]) -> None:
        """Only the node ids in ``keep`` run (after -k/-m/--lf)."""

    def batch_scope(self, item: pytest.Item) -> set[str] | None:
        """The node ids whose requests are batched with ``item``'s (None: its whole group)."""


class CandidateMajor:
    """Non-LLM items first, then each candidate's items together, in the order the candidates
    were given (stable within); a model stays loaded while the next item uses the same one."""

    def __init__(self, candidates: Sequence[Candidate], candidate_of: Callable[[pytest.Item], Candidate | None]) -> None:
        self.rank = {c.name: i for i, c in enumerate(candidates)}
        self.candidate_of = candidate_of

    def order(self, items: Sequence[pytest.Item]) -> list[pytest.Item]:
        rank, candidate_of = self.rank, self.candidate_of
        decorated = sorted(
            enumerate(items),
            key=lambda pair: (rank[c.name] if (c := candidate_of(pair[1])) else -1, pair[0]),
        )
        return [item for _, item in decorated]

    def mark_complete(self, item: pytest.Item) -> None:
        return None

    def restrict(self, keep: set[str]) -> None:
        return None

    def batch_scope(self, item: pytest.Item) -> set[str] | None:
        return None

    def keep_model(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        cand = self.candidate_of(item)
        nxt = self.candidate_of(nextitem) if nextitem is not None else None
        return cand is not None and nxt is not None and nxt.model_name == cand.model_name


def worker_scheduled(config: pytest.Config) -> set[str] | None:
    """On an xdist worker, the node ids it is running or has queued; ``None`` elsewhere.

    A worker prefetches only these: a replacement for a crashed worker, or a worker given part
    of a group, must not compute (or count) the requests of cases another worker runs."""
    if not hasattr(config, "workerinput"):
        return None
    worker = next((p for p in config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"), None)
    items = getattr(getattr(worker, "session", None), "items", None)
    if worker is None or items is None:
        return None
    with worker.torun.lock() as queued:
        indices = {i for i in queued if isinstance(i, int)}
    indices.update(i for i in (getattr(worker, "item_index", None), getattr(worker, "nextitem_index", None))
                   if isinstance(i, int))
    return {items[i].nodeid for i in indices if 0 <= i < len(items)}
