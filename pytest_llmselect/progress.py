"""What the user sees while models build, load and run: a header, then status lines.

On a terminal a status line is redrawn in place (``\\r``) at most ten times a second;
without one (CI logs, pytester) a status line is printed at most every
``PLAIN_INTERVAL_S`` seconds, and a finished step always gets its final line. With
``-q`` only the header is printed. The texts (counts, rates, time left) come from
tqdm's ``format_meter``; the writing goes through pytest's terminal reporter, with
output capturing suspended around it (as pytest's live logging does), because model
work happens inside a test's fixtures.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable

TTY_INTERVAL_S = 0.1
PLAIN_INTERVAL_S = 5.0
PREFIX = "llmselect: "


@dataclass
class _Line:
    started: float
    last_drawn: float


@dataclass
class Progress:
    """Writes progress through ``write(text, in_place)``; ``None`` makes it silent.

    ``in_place=True`` asks to redraw the current line (terminal only); ``False``
    writes a whole line. ``verbosity`` is pytest's (-1 for ``-q``).
    """

    write: Callable[[str, bool], None] | None
    tty: bool = False
    verbosity: int = 0
    width: int = 100
    clock: Callable[[], float] = time.monotonic
    _lines: dict[str, _Line] = field(default_factory=dict)

    @property
    def interval(self) -> float:
        return TTY_INTERVAL_S if self.tty else PLAIN_INTERVAL_S

    def header(self, text: str) -> None:
        """Always shown (also with ``-q``)."""
        self._line(PREFIX + text)

    def note(self, text: str) -> None:
        """A one-off event line (``loading zoo:base``); hidden with ``-q``."""
        if self.verbosity >= 0:
            self._line(PREFIX + text)

    def status(self, key: str, text: str) -> None:
        """Progress of the step ``key``; throttled, redrawn in place on a terminal."""
        if self.verbosity < 0 or self.write is None:
            return
        now = self.clock()
        line = self._lines.get(key)
        if line is None:
            # Without a terminal the first line waits a whole interval: short steps print
            # only their final line.
            line = self._lines[key] = _Line(started=now, last_drawn=now if not self.tty else -1e9)
        if now - line.last_drawn < self.interval:
            return
        line.last_drawn = now
        if self.tty:
            self.write(self._fit(PREFIX + text), True)
        else:
            self._line(PREFIX + text)

    def finish(self, key: str, text: str) -> None:
        """The final line of step ``key`` (always printed unless ``-q``)."""
        self._lines.pop(key, None)
        if self.verbosity >= 0:
            self._line(PREFIX + text)

    def relay(self, line: str) -> None:
        """A whole line another process wrote (an xdist worker's), shown as it came; hidden with ``-q``."""
        if self.verbosity >= 0:
            self._line(line)

    def _fit(self, text: str) -> str:
        return text if len(text) < self.width else text[: self.width - 2] + "…"

    def _line(self, text: str) -> None:
        if self.write is not None:
            self.write(text, False)


def meter(prefix: str, done: int, total: int, seconds: float, unit: str, *, rounds_after: int = 0,
          round_seconds: float | None = None, alone: int = 0) -> str:
    """``"addition · zoo:base: batch 5/12, 00:10 elapsed, 00:14 left"``: ``done`` of ``total``
    units of the current round after ``seconds``. The time left covers the whole group: the
    rest of this round at its rate so far, then ``rounds_after`` more rounds of
    ``round_seconds`` each (None: this round's projected length), then ``alone`` requests
    timed one at a time (the latency sample), each counted as one unit's time."""
    from tqdm import tqdm

    if done <= 0 or seconds <= 0 or total <= 0:
        left = "?"
    else:
        per_unit = seconds / done
        round_estimate = round_seconds if round_seconds is not None else per_unit * total
        later = rounds_after * round_estimate + alone * round_estimate / total
        left = tqdm.format_interval((total - done) * per_unit + later)
    return f"{prefix}: {unit} {done}/{total}, {tqdm.format_interval(seconds)} elapsed, {left} left"


def counted(n: int, noun: str) -> str:
    """``"1 batch"``, ``"2 batches"``, ``"1,200 requests"``: a count and its noun, singular for one."""
    if n == 1:
        return f"1 {noun}"
    plural = noun + ("es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s")
    return f"{n:,} {plural}"


def for_pytest(config: Any) -> Progress:
    """A ``Progress`` writing to pytest's terminal; silent where there is none (xdist workers)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput"):
        return Progress(None)
    capman = config.pluginmanager.get_plugin("capturemanager")
    # -2 is pytest's own marker for "the current line is not a file's line of results":
    # its next result, and our next whole line, start on a new line.
    status_marker = -2
    drawing = False

    def write(text: str, in_place: bool) -> None:
        def emit() -> None:
            nonlocal drawing
            drawing = drawing and reporter.currentfspath == status_marker
            if in_place:
                if not drawing:
                    reporter.ensure_newline()  # leave pytest's line of dots intact
                reporter.write("\r" + text.ljust(width - 1), flush=True)
                reporter.currentfspath = status_marker
                drawing = True
            else:
                if drawing:  # erase the status line and reuse it
                    reporter.write("\r" + " " * (width - 1) + "\r")
                    reporter.currentfspath = None
                    drawing = False
                elif getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
                    # A line of results pytest does not track (xdist's dots): end it first.
                    reporter.currentfspath = status_marker
                reporter.write_line(text)
                reporter.flush()

        if capman is not None:
            with capman.global_and_fixture_disabled():
                emit()
        else:
            emit()

    tty = bool(reporter.isatty())
    width = shutil.get_terminal_size((100, 20)).columns if tty else 10_000
    return Progress(write, tty=tty, verbosity=config.get_verbosity(), width=width)
