"""Build several zoo models at once, one worker process per CPU core, reporting progress.

Each model trains on one intra-op thread (see ``train.TRAIN_THREADS``), so on a
machine with N cores N models train side by side; the longest recipe starts first,
so the wall time is about that of the longest build rather than the sum of all.
Workers are ``python -m pytest_llmselect.zoo.worker NAME``: they take the same
per-model lock as any other build (a model another process is building is waited
for, never built twice) and report their steps as JSON lines on stdout.

Torch-free: the caller's process imports nothing heavy while its workers train.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from pytest_llmselect.errors import BackendError, SpecError
from pytest_llmselect.zoo.recipes import get_recipe


@dataclass(frozen=True)
class BuildEvent:
    """``kind``: "start", "step" or "end". ``step``/``steps``: optimizer steps done and
    planned; ``seconds``: wall time since this model's build started."""

    kind: str
    name: str
    step: int = 0
    steps: int = 0
    seconds: float = 0.0


EventCallback = Callable[[BuildEvent], None]


def default_jobs() -> int:
    """Worker processes for a build: ``$LLMSELECT_ZOO_JOBS`` if set, else the CPU cores
    this process may use. Raises ``SpecError`` for a value that is not a positive integer."""
    raw = os.environ.get("LLMSELECT_ZOO_JOBS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise SpecError(f"LLMSELECT_ZOO_JOBS must be a positive integer, got {raw!r}")
        return int(raw)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _work_estimate(name: str) -> int:
    # Relative cost of a build, to start the longest first; exactness does not matter.
    recipe = get_recipe(name)
    return recipe.steps * recipe.n_layer * recipe.n_embd


def build_many(names: Iterable[str], *, jobs: int | None = None,
               on_event: EventCallback | None = None) -> dict[str, Path]:
    """Build every model of ``names`` not yet cached; returns name -> directory for all.

    ``jobs``: worker processes at once (default ``default_jobs()``); with one job or one
    model to build, it trains in this process instead (no second torch import).
    Raises ``KeyError`` for an unknown name, ``BackendError`` naming the model whose
    build failed (with the end of its error output); models that finished stay cached.
    """
    from pytest_llmselect.zoo import is_built, zoo_path

    wanted = list(dict.fromkeys(names))
    for name in wanted:
        get_recipe(name)  # KeyError before anything starts
    missing = sorted((n for n in wanted if not is_built(n)), key=_work_estimate, reverse=True)
    emit = on_event or (lambda event: None)
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if len(missing) <= 1 or jobs == 1:
        for name in missing:
            _build_here(name, emit)
    else:
        _build_in_workers(missing, jobs, emit)
    return {name: zoo_path(name, build=False) for name in wanted}


def _build_here(name: str, emit: EventCallback) -> None:
    from pytest_llmselect.zoo import zoo_path

    steps = get_recipe(name).steps
    emit(BuildEvent("start", name, 0, steps))
    start = time.perf_counter()
    zoo_path(name, on_step=lambda done, total, seconds: emit(BuildEvent("step", name, done, total, seconds)))
    emit(BuildEvent("end", name, steps, steps, time.perf_counter() - start))


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # The worker must import this very copy of the package, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
    return env


def _build_in_workers(names: list[str], jobs: int, emit: EventCallback) -> None:
    pending = list(names)
    running: dict[str, tuple[subprocess.Popen[str], float, list[str]]] = {}
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()

    def pump(name: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((name, line))
        lines.put((name, None))  # end of output: the worker is exiting

    def launch(name: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_llmselect.zoo.worker", name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_worker_env(),
        )
        errors: list[str] = []
        running[name] = (proc, time.perf_counter(), errors)
        threading.Thread(target=pump, args=(name, proc), daemon=True).start()
        # stderr is read on its own thread so a chatty worker cannot block on a full pipe.
        threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True).start()
        emit(BuildEvent("start", name, 0, get_recipe(name).steps))

    try:
        while pending or running:
            while pending and len(running) < jobs:
                launch(pending.pop(0))
            name, line = lines.get()
            proc, started, errors = running[name]
            if line is None:
                code = proc.wait()
                del running[name]
                if code != 0:
                    time.sleep(0.1)  # let the stderr thread drain
                    tail = "".join(errors).strip().splitlines()[-3:]
                    raise BackendError(f"building zoo model {name!r} failed (exit code {code}): "
                                       + (" | ".join(tail) or "no error output"))
                steps = get_recipe(name).steps
                emit(BuildEvent("end", name, steps, steps, time.perf_counter() - started))
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # a stray print from a library: not ours
            if isinstance(msg, dict) and "step" in msg:
                emit(BuildEvent("step", name, int(msg["step"]), int(msg["steps"]), float(msg["seconds"])))
    finally:
        for proc, _, _ in running.values():  # interrupted or failed: stop the others too
            proc.terminate()
        for proc, _, _ in running.values():
            proc.wait()


def build_all(*, verbose: bool = False, jobs: int | None = None) -> dict[str, Path]:
    """Build (or find cached) every zoo model, ``jobs`` at a time in worker processes
    (default: one per CPU core), then the chat variants (copies, no training);
    returns name -> directory."""
    from pytest_llmselect.zoo import ZOO_NAMES, zoo_path
    from pytest_llmselect.zoo.chat import CHAT_NAMES

    def show(event: BuildEvent) -> None:
        if verbose and event.kind == "start":
            print(f"building {event.name} ...", file=sys.stderr, flush=True)

    build_many(ZOO_NAMES, jobs=jobs, on_event=show)
    return {name: zoo_path(name) for name in ZOO_NAMES + CHAT_NAMES}
