"""What the run tells the outside while it runs.

Owns the progress lines (made on first use), the run log of this run (only the
controller writes one), the warnings shown once in the terminal summary, and, on an
xdist worker, the events waiting to ride on the next test report (the outbox).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmselect.runlog import RunLogWriter, new_run_id
from pytest_llmselect.run.settings import Settings

if TYPE_CHECKING:
    from pytest_llmselect.progress import Progress


class RunEvents:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.is_worker = hasattr(config, "workerinput")
        self.run_id = new_run_id()
        # Only the controller writes the log (workers' records reach it through their reports).
        self.run_log = RunLogWriter(settings.run_log, self.run_id) \
            if settings.run_log is not None and not self.is_worker else None
        self._log_started = False
        self.warnings: list[str] = []  # one line each, shown once in the terminal summary
        self.outbox: list[tuple[str, Any]] = []  # xdist worker: events waiting for the next report
        self._progress: Progress | None = None

    @property
    def progress(self) -> Progress:
        # Made on first use: the terminal reporter registers after this session is created.
        if self._progress is None:
            from pytest_llmselect.progress import Progress, for_pytest

            if self.is_worker:
                # No terminal here: whole lines go to the controller with the next report
                # (run/progress_relay.py); redraw-in-place lines would be stale on arrival.
                def to_controller(text: str, in_place: bool) -> None:
                    if not in_place:
                        self.send("progress", text)

                self._progress = Progress(to_controller, tty=False, verbosity=self.config.get_verbosity())
            else:
                self._progress = for_pytest(self.config)
        return self._progress

    def send(self, kind: str, value: Any) -> None:
        """On an xdist worker, queue ``llmselect.<kind>`` for the controller; elsewhere nothing."""
        if self.is_worker:
            self.outbox.append((f"llmselect.{kind}", value))

    def log_timed(self, event: str, **fields: Any) -> None:
        """A lifecycle event (build/load/group start and end) in the run log, stamped with
        ``time`` (UNIX seconds); goes through ``log_event`` like every other line."""
        self.log_event(event, {"time": round(time.time(), 3), **fields})

    def log_event(self, event: str, payload: dict[str, Any]) -> None:
        """Append one event of this run to the run log (see runlog.py); a failure is one warning."""
        log = self.run_log
        if log is None or log.problem is not None:
            return
        if not self._log_started:
            self._log_started = True
            s = self.settings
            log.write("start", {"time": round(time.time(), 3),
                                "settings": {"alpha": s.alpha, "level": s.level, "seed": s.seed},
                                "args": [str(a) for a in self.config.args]})
        log.write(event, payload)
        if log.problem is not None:
            self.warnings.append(log.problem)

    @property
    def logged_anything(self) -> bool:
        return self._log_started

    @property
    def log_writable(self) -> bool:
        return self.run_log is not None and self.run_log.problem is None

    def close(self) -> None:
        if self.run_log is not None:
            self.run_log.close()
