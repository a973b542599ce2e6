"""One cause, one line: a capability error that fails every case of a (task, candidate)
group is shown once, not once per case.

A candidate that cannot do what a task asks (a server without prompt log-probabilities, a
model without a chat template) fails every case of that task the same way. The first case
fails with the error's one line; each later case of the group with the same error is still
recorded as errored (the ledger has already seen it), but pytest shows it as skipped with a
pointer to the first, and the terminal summary counts them in one line per group. The
report names the reason beside the excluded candidate (task_results: every case errored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class RepeatedCauses:
    first: dict[tuple[str, str], str] = field(default_factory=dict)  # (task, candidate) -> error line
    repeats: dict[tuple[str, str], int] = field(default_factory=dict)

    def condense(self, task: str, candidate: str, message: str, report: pytest.TestReport) -> None:
        """Leave the first failure of a group as it is; show a repeat of the same error as a skip."""
        key = (task, candidate)
        if key not in self.first:
            self.first[key] = message
            return
        if self.first[key] != message or report.when != "call":
            return
        self.repeats[key] = self.repeats.get(key, 0) + 1
        path, lineno, _ = report.location
        report.outcome = "skipped"
        report.longrepr = (str(path), (lineno or 0) + 1,
                           f"Skipped: {candidate} on {task}: the same error as its first case (counted as errored)")

    def lines(self) -> list[str]:
        """One line per group whose error repeated: the cause and how many cases it failed."""
        return [f"{cand} could not run task {task}: {self.first[(task, cand)]} ({n + 1} cases errored; "
                f"shown once, the other {n} as skipped)" for (task, cand), n in self.repeats.items()]


REPEATED_CAUSES = pytest.StashKey[RepeatedCauses]()


def repeated_causes(config: pytest.Config) -> RepeatedCauses:
    causes = config.stash.get(REPEATED_CAUSES, None)
    if causes is None:
        causes = config.stash[REPEATED_CAUSES] = RepeatedCauses()
    return causes


def condense_capability_error(item: pytest.Item, report: pytest.TestReport, excinfo: Any,
                              entry: tuple[str, str, str] | None) -> None:
    """Call after the ledger has seen ``report``: a repeat of a group's capability error is shown as a skip."""
    from pytest_llmselect.errors import CapabilityError

    if entry is None or excinfo is None or not report.failed or not excinfo.errisinstance(CapabilityError):
        return
    task, cand, _ = entry
    repeated_causes(item.config).condense(task, cand, f"{type(excinfo.value).__name__}: {excinfo.value}", report)
