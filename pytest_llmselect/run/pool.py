"""The model pool: loaded models, shared by the configurations that run them, and
the judges (``judge/pool.py``), candidate-like models with a lifecycle of their own: each loads
on its first grading and stays loaded beside the candidates until the session closes.

Owns the loaded backend, each candidate's loads, load time, model facts and the weights
it was loaded from, and the candidates that failed to load (never retried per case). A
configuration of a model (``zoo:base+knn:4``) shares its model's load: every sibling's
entry says so.

Loaded models are kept least-recently-used first under ``--llm-max-memory`` (``memory_budget.py``):
before a model loads, the least recently used are freed until its footprint (its weights' bytes:
measured once loaded, estimated from its weight files before) fits beside the rest. A full run
frees each model when its items end (``Scheduling.keep_model``), so it holds one at a time; a race
keeps them, so its stages reload only what the budget could not keep.
"""

from __future__ import annotations

import gc
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from pytest_llmselect.accounting import MAX_ERROR_CHARS, one_line
from pytest_llmselect.backends.base import Backend
from pytest_llmselect.candidates import Candidate
from pytest_llmselect.errors import LLMSelectError, LoadFailed
from pytest_llmselect.memory_budget import budget_bytes, evictions
from pytest_llmselect.run.events import RunEvents
from pytest_llmselect.run.settings import Settings


@contextmanager
def frozen_after() -> Iterator[None]:
    """Run an import of torch / transformers / model code without the cyclic garbage
    collector, then freeze what it created.

    They leave about a million long-lived objects. Collections triggered during the
    import walked the growing heap again and again, and every full collection later in
    the run walked all of it: seconds over a long run, most of the per-item overhead.
    Frozen objects are skipped by the collector (they are never freed, as modules never
    are). A model loads after this, so releasing it still frees its memory.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class ModelPool:
    def __init__(self, config: pytest.Config, settings: Settings, events: RunEvents) -> None:
        self.config = config
        self.settings = settings
        self.events = events
        self.loads: dict[str, int] = {c.name: 0 for c in settings.candidates}
        self.load_seconds: dict[str, float] = {c.name: 0.0 for c in settings.candidates}
        self.load_errors: dict[str, str] = {}
        self.model_info: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, str] = {}   # candidate -> the weights it was loaded from
        # Configurations (zoo:base+knn:4) share their model: name -> the names loaded with it.
        self.siblings: dict[str, list[str]] = {}
        for c in settings.candidates:
            self.siblings.setdefault(c.model_name, []).append(c.name)
        # model name -> (candidate, backend), least recently used first
        self._loaded: OrderedDict[str, tuple[Candidate, Backend]] = OrderedDict()
        self.footprints: dict[str, int | None] = {}  # model name -> weights' bytes (measured, else estimated)
        self.peak_loaded = 0                          # most models held at once
        self.unloads = 0                              # models freed to make room (or released)
        from pytest_llmselect.judge.pool import JudgePool

        # The response cache is the runner's: the session hands it over (JudgePool.cache).
        self.judges = JudgePool(settings.judge, batch_size=settings.batch_size if isinstance(settings.batch_size, int)
                                else 32, device=settings.device, dtype=settings.dtype,
                                base_dir=Path(str(config.rootpath)))

    def backend_for(self, cand: Candidate, item: pytest.Item | None = None) -> Backend:
        """The loaded backend of ``cand``'s model, loading it (and releasing another) if needed;
        with ``item``, the load is timed through pytest-benchmark."""
        held = self._loaded.get(cand.model_name)
        if held is not None:
            self._loaded.move_to_end(cand.model_name)
            return held[1]
        if cand.name in self.load_errors:
            raise LoadFailed(f"{cand.name} failed to load: {self.load_errors[cand.name]}")
        self._make_room(cand)
        from pytest_llmselect.backends import _hf, is_local, load_backend, resolve_source

        def load() -> tuple[Backend, float]:
            start = time.perf_counter()
            loaded = load_backend(cand, device=self.settings.device, dtype=self.settings.dtype, source=source)
            return loaded, time.perf_counter() - start

        self.events.progress.note(f"loading {cand.model_name}")  # the model, not a configuration of it
        self.events.log_timed("load_start", candidate=cand.name)
        try:
            # Outside the timed load: importing torch is paid once per process, and a zoo
            # model's first-use training is not part of loading it.
            source = resolve_source(cand) if is_local(cand) else None
            if source is not None:
                with frozen_after():
                    _hf().import_model_class(source, revision=cand.revision,
                                             trust_remote_code=cand.trust_remote_code)
            if item is None:
                backend, seconds = load()
            else:
                from pytest_llmselect.timing import timed_by_benchmark

                backend, seconds = timed_by_benchmark(
                    self.config, item, group="llm-load", name="load", param=cand.model_name,
                    params={"candidate": cand.model_name}, target=load,
                )
        except Exception as exc:  # any load failure: one line, remembered, no retry per case
            error = one_line(str(exc) if isinstance(exc, LLMSelectError) else f"{type(exc).__name__}: {exc}",
                             2 * MAX_ERROR_CHARS, join=True)
            for name in self.siblings.get(cand.model_name, [cand.name]):  # every configuration of the model
                self.load_errors[name] = error
                self.events.send("model", {"name": name, "loads": 0, "load_seconds": 0.0, "info": {},
                                           "error": error})
            self.events.log_timed("load_end", candidate=cand.name, error=error)
            raise LoadFailed(f"{cand.name} failed to load: {error}") from None
        for name in self.siblings.get(cand.model_name, [cand.name]):
            self.sources[name] = source or cand.source
        self.events.log_timed("load_end", candidate=cand.name, seconds=round(seconds, 3))
        info = backend.info
        # One load serves every configuration of this model; each one's entry says so.
        for name in self.siblings.get(cand.model_name, [cand.name]):
            self.load_seconds[name] = self.load_seconds.get(name, 0.0) + seconds
            self.loads[name] = self.loads.get(name, 0) + 1
            self.model_info[name] = {
                "num_parameters": info.num_parameters, "device": info.device, "dtype": info.dtype,
                "source": info.extra.get("source", cand.source),
                "parameter_bytes": info.extra.get("parameter_bytes"), "buffer_bytes": info.extra.get("buffer_bytes"),
                "quantization": info.extra.get("quantization"),  # a model converted from a GGUF file
            }
            if "identity" in info.extra:  # a served model: base URL, model name, server (never the key)
                self.model_info[name]["identity"] = info.extra["identity"]
            self.events.send("model", {"name": name, "loads": 1, "load_seconds": seconds,
                                       "info": self.model_info[name]})
        weights = info.extra.get("parameter_bytes")
        if weights is not None:
            self.footprints[cand.model_name] = int(weights) + int(info.extra.get("buffer_bytes") or 0)
        elif cand.served is not None:
            self.footprints[cand.model_name] = 0  # its memory is its server's
        self._loaded[cand.model_name] = (cand, backend)
        self.peak_loaded = max(self.peak_loaded, len(self._loaded))
        return backend

    def footprint(self, cand: Candidate) -> int | None:
        """``cand``'s model's weights in bytes: measured once loaded, else the size of its weight
        files (a local directory or a built zoo model); None when unknown."""
        if cand.model_name not in self.footprints:
            self.footprints[cand.model_name] = 0 if cand.served is not None else _weight_file_bytes(cand)
        return self.footprints[cand.model_name]

    def _make_room(self, cand: Candidate) -> None:
        """Free the least recently used models until ``cand``'s fits within the budget."""
        budget = budget_bytes(self.settings.max_memory, (self.footprint(c) for c in self.settings.candidates))
        loaded = [(name, self.footprint(c)) for name, (c, _) in self._loaded.items()]
        for name in evictions(loaded, self.footprint(cand), budget):
            self._unload(name)

    def _unload(self, model_name: str) -> None:
        held = self._loaded.pop(model_name, None)
        if held is None:
            return
        self.unloads += 1
        self.events.log_timed("unload", candidate=held[0].name)
        held[1].close()

    @property
    def loaded(self) -> list[str]:
        """The model names held now, least recently used first."""
        return list(self._loaded)

    def fail(self, name: str, reason: str) -> None:
        """``name`` cannot go on (out of memory even one request at a time): the others do."""
        self.load_errors[name] = reason
        self.release()

    def release(self) -> None:
        """Free every loaded model."""
        for name in list(self._loaded):
            self._unload(name)

    def close(self) -> None:
        """The candidate's model and every judge: the session is over."""
        self.release()
        self.judges.close()


def _weight_file_bytes(cand: Candidate) -> int | None:
    """The bytes of a local model's weight files (``*.safetensors``, ``*.bin``), without loading or
    building it; None where there are none to read (a hub id, a zoo model not built yet)."""
    if cand.kind == "zoo":
        from pytest_llmselect.zoo import zoo_path

        try:
            folder = zoo_path(cand.source, build=False)
        except (KeyError, LLMSelectError, OSError):
            return None
    elif cand.kind == "local":
        folder = Path(cand.source)
    else:
        return None
    try:
        sizes = [f.stat().st_size for f in folder.iterdir() if f.suffix in (".safetensors", ".bin")]
    except OSError:
        return None
    return sum(sizes) or None
