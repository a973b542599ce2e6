"""The start of a run's model work, in a pytest hook before the first item: torch imported
(for local models), the header line, then every missing zoo model built side by side (one
worker process per core) before the first candidate loads."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from pytest_llmselect.costmodel import threads_for
from pytest_llmselect.errors import LLMSelectError
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.plan import Plan
from pytest_llmselect.run.pool import ModelPool, frozen_after

if TYPE_CHECKING:
    from pytest_llmselect.candidates import Candidate
    from pytest_llmselect.zoo.build import BuildEvent


def should_start(session: pytest.Session, plan: Plan) -> bool:
    """Whether this process runs case items now: not the xdist controller (it runs none),
    not --collect-only, not a run pytest stops for collection errors, and a case is planned."""
    config = session.config
    if config.option.collectonly or not plan.cases:
        return False
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return False
    return not (session.testsfailed and not config.option.continue_on_collection_errors)


def _load_average() -> float | None:
    """The 1-minute load average, where the platform has one."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def start(plan: Plan, pool: ModelPool, events: RunEvents) -> None:
    """Import torch once (frozen, see ``pool.frozen_after``) when a local model is in use, set
    its threads, print the header and build the zoo models this run needs."""
    from pytest_llmselect.backends import _hf, is_local

    if any(is_local(c) for c in plan.candidates_in_use()):
        try:
            with frozen_after():
                _hf()  # torch and transformers
            threads = threads_for(plan.settings.cpu_threads, _load_average(), os.cpu_count())
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
        except LLMSelectError:
            pass  # each local candidate's load reports it
    if not events.is_worker:  # under xdist the controller prints it, once
        announce(plan, events)
    build_zoo(plan, pool, events)


def announce(plan: Plan, events: RunEvents, named: set[str] | None = None) -> None:
    """One line: the candidates (``named``: those the xdist workers collected), device, dtype
    and model cache folder."""
    from pytest_llmselect.zoo import cache_dir

    from pytest_llmselect.backends import _hf, is_local

    settings = plan.settings
    wanted = plan.candidates_in_use(named)
    if not any(is_local(c) or c.kind == "vllm" for c in wanted):
        # Served models only: no device or dtype of ours applies, and resolving them would
        # import torch (seconds) in a run that never touches it.
        where = "served models only, no local device"
    else:
        try:
            hf = _hf()
            device = hf.resolve_device(settings.device)
            dtype = str(hf.resolve_dtype(settings.dtype, device)).replace("torch.", "")
            where = f"device {device}, dtype {dtype}"
        except LLMSelectError:  # the load reports it properly; the header just shows the setting
            where = f"device {settings.device or 'default'}, dtype {settings.dtype or 'default'}"
        if any(c.served is not None for c in wanted):
            where += " for local models"  # a served model's device and dtype are its server's
    own = [c.name for c in wanted if c.device or c.dtype]
    if own:
        where += f" ({', '.join(own)}: own device/dtype)"
    noun = "candidate" if len(wanted) == 1 else "candidates"
    events.progress.header(f"{len(wanted)} {noun} ({', '.join(c.name for c in wanted)}); {where}; "
                            f"model cache {cache_dir()}")


def build_zoo(plan: Plan, pool: ModelPool, events: RunEvents) -> None:
    """Train every zoo model this run needs and the cache lacks, side by side, up front, while
    the GGUF candidates the cache lacks are converted in a thread beside them: the zoo's
    longest build keeps one core busy for most of the time, the conversion fills the other."""
    import threading

    pending = gguf_to_convert(plan, pool)
    if pending:
        events.progress.note(f"converting {', '.join(c.name for c in pending)} from GGUF once (dequantising "
                             "to float32), cached for later runs")
    converting = threading.Thread(target=convert_gguf, args=(pending,), name="llmselect-gguf", daemon=True)
    converting.start()
    try:
        _build_zoo(plan, pool, events)
    finally:
        converting.join()


def _build_zoo(plan: Plan, pool: ModelPool, events: RunEvents) -> None:
    zoo = [c for c in plan.candidates_in_use() if c.kind == "zoo" and c.name not in pool.load_errors]
    if not zoo:  # the builder's imports are not free; a run without zoo models skips them
        return
    from pytest_llmselect.zoo import is_built
    from pytest_llmselect.zoo.build import build_many
    from pytest_llmselect.zoo.chat import CHAT_MODELS

    # A chat variant copies its base model's weights when it loads: only the base trains.
    wanted = [CHAT_MODELS.get(c.source, c.source) for c in zoo]
    names = [name for name in dict.fromkeys(wanted) if not is_built(name)]
    if not names:
        return
    events.progress.note(f"training {len(names)} reference model(s) once, cached for later runs: "
                          + ", ".join(f"zoo:{n}" for n in names))
    try:
        build_many(names, on_event=_BuildView(events))
    except LLMSelectError as exc:
        # Each candidate's load retries its own build and reports its own error.
        events.progress.note(f"parallel build stopped: {exc}")


def gguf_to_convert(plan: Plan, pool: ModelPool) -> list[Candidate]:
    """The GGUF candidates of this run whose converted folder the cache lacks."""
    from pytest_llmselect.backends.gguf import is_converted

    out = []
    for cand in plan.candidates_in_use():
        if cand.kind == "gguf" and cand.name not in pool.load_errors and cand.source not in {c.source for c in out}:
            try:
                if not is_converted(cand.source):
                    out.append(cand)
            except OSError:
                continue  # the load reports an unreadable file
    return out


def convert_gguf(candidates: list[Candidate]) -> None:
    """Convert each candidate's GGUF file (tens of seconds each). A failure is left to the
    candidate's load, which reports it in one line."""
    from pytest_llmselect.backends.gguf import converted_path

    for cand in candidates:
        try:
            converted_path(cand.source)
        except Exception:  # noqa: BLE001 - the candidate's load reports it in one line
            continue


class _BuildView:
    """Turns build events into one status line (all running builds) and run-log events."""

    def __init__(self, events: RunEvents) -> None:
        self.events = events
        self.running: dict[str, BuildEvent] = {}

    def __call__(self, event: BuildEvent) -> None:
        from pytest_llmselect.progress import meter

        events, label = self.events, f"zoo:{event.name}"
        if event.kind == "start":
            self.running[event.name] = event
            events.log_timed("build_start", model=label, steps=event.steps)
        elif event.kind == "end":
            self.running.pop(event.name, None)
            events.log_timed("build_end", model=label, seconds=round(event.seconds, 3))
            events.progress.finish(f"build:{event.name}", f"built {label} in {event.seconds:.1f}s")
        else:
            self.running[event.name] = event
            events.progress.status("build", " | ".join(
                meter(f"building zoo:{e.name}", e.step, e.steps, e.seconds, "step") for e in self.running.values()))
