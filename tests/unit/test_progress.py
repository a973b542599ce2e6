"""Progress lines: throttling, in-place redraw on a terminal, -q keeps only the header."""

from __future__ import annotations

import pytest

from pytest_llmselect.progress import PLAIN_INTERVAL_S, Progress, counted, meter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(tty: bool, verbosity: int = 0) -> tuple[Progress, list[tuple[str, bool]], Clock]:
    out: list[tuple[str, bool]] = []
    clock = Clock()
    return Progress(lambda text, in_place: out.append((text, in_place)), tty=tty, verbosity=verbosity,
                    width=80, clock=clock), out, clock


def test_without_a_terminal_a_status_line_at_most_every_interval() -> None:
    progress, out, clock = make(tty=False)
    for step in range(100):  # 100 updates over 30 s
        progress.status("g", f"batch {step}")
        clock.now += 0.3
    progress.finish("g", "done")
    status = [text for text, _ in out if "batch" in text]
    assert 1 <= len(status) <= 30 / PLAIN_INTERVAL_S
    assert out[-1] == ("llmselect: done", False)
    assert not any(in_place for _, in_place in out)


def test_a_short_step_without_a_terminal_prints_only_its_final_line() -> None:
    progress, out, clock = make(tty=False)
    progress.status("g", "batch 1")
    clock.now += 0.5
    progress.status("g", "batch 2")
    progress.finish("g", "2 batches")
    assert out == [("llmselect: 2 batches", False)]


def test_on_a_terminal_status_redraws_in_place() -> None:
    progress, out, clock = make(tty=True)
    for step in range(10):
        progress.status("g", f"batch {step}")
        clock.now += 0.2
    progress.finish("g", "done")
    redraws = [text for text, in_place in out if in_place]
    assert len(redraws) == 10 and redraws[0] == "llmselect: batch 0"
    assert out[-1] == ("llmselect: done", False)


def test_a_status_line_never_exceeds_the_terminal_width() -> None:
    progress, out, _ = make(tty=True)
    progress.status("g", "x" * 500)
    assert len(out[0][0]) < 80


@pytest.mark.parametrize("tty", [True, False])
def test_quiet_keeps_only_the_header(tty: bool) -> None:
    progress, out, clock = make(tty=tty, verbosity=-1)
    progress.header("2 candidates")
    progress.note("loading zoo:tiny")
    for _ in range(5):
        progress.status("g", "batch")
        clock.now += 10
    progress.finish("g", "done")
    assert out == [("llmselect: 2 candidates", False)]


def test_silent_without_a_terminal_writer() -> None:
    progress = Progress(None)
    progress.header("h")
    progress.status("g", "s")
    progress.finish("g", "f")  # nothing to write to, nothing raised


def test_meter_says_counts_and_time_left() -> None:
    text = meter("addition · zoo:base", 5, 12, 10.0, "batch")
    assert text.startswith("addition · zoo:base: batch 5/12")
    assert "00:10 elapsed" in text and "00:14 left" in text  # 2 s a batch, 7 to go


def test_time_left_covers_the_rounds_after_this_one_and_the_latency_sample() -> None:
    # Round 1 of 3: 5 of 10 batches in 10 s (2 s a batch). Left: 5 batches of this round (10 s),
    # two more rounds projected at 20 s each (40 s), 4 requests timed alone at a batch's time (8 s).
    text = meter("addition · zoo:base, round 1/3", 5, 10, 10.0, "batch", rounds_after=2, alone=4)
    assert text == "addition · zoo:base, round 1/3: batch 5/10, 00:10 elapsed, 00:58 left"
    # Round 3 of 3, the earlier rounds took 30 s each: only the rest of this round and the sample.
    text = meter("x, round 3/3", 5, 10, 10.0, "batch", rounds_after=0, round_seconds=30.0, alone=4)
    assert text.endswith("00:10 elapsed, 00:22 left")  # 10 s + 4 x (30 s / 10 batches)
    # A warm-up round with three rounds to come, each as long as the rounds before took.
    text = meter("x, warm-up round 1/1", 1, 2, 3.0, "batch", rounds_after=3, round_seconds=5.0)
    assert text.endswith("00:03 elapsed, 00:18 left")  # 3 s + 3 x 5 s


def test_time_left_is_unknown_before_the_first_batch() -> None:
    assert meter("x", 0, 10, 0.0, "batch", rounds_after=2, alone=8).endswith("00:00 elapsed, ? left")


@pytest.mark.parametrize("n, noun, text", [
    (1, "batch", "1 batch"), (2, "batch", "2 batches"), (0, "batch", "0 batches"),
    (1, "request", "1 request"), (1200, "request", "1,200 requests"), (3, "pass", "3 passes"),
])
def test_counted_is_singular_for_one(n: int, noun: str, text: str) -> None:
    assert counted(n, noun) == text
