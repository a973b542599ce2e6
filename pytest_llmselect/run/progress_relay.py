"""Progress under pytest-xdist: workers' progress lines shown by the controller.

A worker has no terminal of its own, so its progress lines (loads, each group's batches and
its final line) ride to the controller on the worker's next test report, the way its
records do (``llmselect.progress``), and the controller prints them prefixed with the
worker's id. The controller also prints the header line the workers would have printed.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

KEY = "llmselect.progress"


class ProgressRelay:
    """Registered on the xdist controller only."""

    def __init__(self, events: Any, plan: Any, scopes: Callable[[], dict[str, Any]]) -> None:
        self.events = events  # its progress is made on first use, once the terminal exists
        self.plan = plan
        self.scopes = scopes  # the llm items the workers collected (run/xdist.py)
        self.announced = False

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The header, once, as soon as a worker has collected llm items (none: no header)."""
        if self.announced:
            return
        scopes = self.scopes()
        if any(i in scopes for i in ids):
            self.announced = True
            from pytest_llmselect.run.startup import announce

            # With --llm-demos a task without a pool runs the bare models: name only what runs.
            announce(self.plan, self.events, {str(s.get("candidate")) for s in scopes.values()})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":  # the teardown report carries every property of the item
            return
        worker = getattr(report, "node", None)
        gw = getattr(worker, "gateway", None)
        tag = f"[{gw.id}] " if gw is not None and getattr(gw, "id", None) else ""
        for key, value in report.user_properties:
            if key == KEY and isinstance(value, str):
                self.events.progress.relay(tag + value)
