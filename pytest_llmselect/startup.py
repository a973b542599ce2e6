"""The start of a run's model work: the header line, then every missing zoo model built
side by side (one worker process per core) before the first candidate loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmselect.errors import LLMSelectError

if TYPE_CHECKING:
    from pytest_llmselect.session import LLMSession
    from pytest_llmselect.zoo.build import BuildEvent


def announce(session: LLMSession) -> None:
    """One line: the candidates, device, dtype and model cache folder."""
    from pytest_llmselect.zoo import cache_dir

    from pytest_llmselect.backends import _hf, is_local

    settings = session.settings
    wanted = session.candidates_in_use()
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
    session.progress.header(f"{len(wanted)} {noun} ({', '.join(c.name for c in wanted)}); {where}; "
                            f"model cache {cache_dir()}")


def build_zoo(session: LLMSession) -> None:
    """Train every zoo model this run needs and the cache lacks, side by side, up front."""
    zoo = [c for c in session.candidates_in_use() if c.kind == "zoo" and c.name not in session.load_errors]
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
    session.progress.note(f"training {len(names)} reference model(s) once, cached for later runs: "
                          + ", ".join(f"zoo:{n}" for n in names))
    try:
        build_many(names, on_event=_BuildView(session))
    except LLMSelectError as exc:
        # Each candidate's load retries its own build and reports its own error.
        session.progress.note(f"parallel build stopped: {exc}")


class _BuildView:
    """Turns build events into one status line (all running builds) and run-log events."""

    def __init__(self, session: LLMSession) -> None:
        self.session = session
        self.running: dict[str, BuildEvent] = {}

    def __call__(self, event: BuildEvent) -> None:
        from pytest_llmselect.progress import meter

        session, label = self.session, f"zoo:{event.name}"
        if event.kind == "start":
            self.running[event.name] = event
            session.log_timed("build_start", model=label, steps=event.steps)
        elif event.kind == "end":
            self.running.pop(event.name, None)
            session.log_timed("build_end", model=label, seconds=round(event.seconds, 3))
            session.progress.finish(f"build:{event.name}", f"built {label} in {event.seconds:.1f}s")
        else:
            self.running[event.name] = event
            session.progress.status("build", " | ".join(
                meter(f"building zoo:{e.name}", e.step, e.steps, e.seconds, "step") for e in self.running.values()))
