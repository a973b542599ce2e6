"""Backends behind one protocol, looked up lazily so importing the package stays cheap."""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Iterator, Sequence

from pytest_llmselect.errors import MissingDependency

if TYPE_CHECKING:
    from pytest_llmselect.backends.base import Backend
    from pytest_llmselect.candidates import Candidate


def _backend_module(name: str, needs: str, install: str) -> ModuleType:
    """``pytest_llmselect.backends.NAME``, or one ``MissingDependency`` line: what ``needs`` what, and how
    to ``install`` it."""
    try:
        return importlib.import_module(f"pytest_llmselect.backends.{name}")
    except ImportError as exc:
        raise MissingDependency(f"{needs} ({exc.name or exc} is missing): {install}") from None


def _hf() -> ModuleType:
    return _backend_module("hf", "the transformers backend needs torch and transformers",
                           "pip install 'pytest-llmselect[hf]'")


def resolve_source(cand: "Candidate") -> str:
    """Where the weights are; for a zoo model this trains it on first use (cached by recipe)."""
    if cand.kind == "zoo":
        from pytest_llmselect.zoo import zoo_path

        return str(zoo_path(cand.source))
    if cand.kind == "gguf":  # converted on first use, cached by the file's content hash
        from pytest_llmselect.backends.gguf import converted_path

        return str(converted_path(cand.source))
    return cand.source


def _openai() -> ModuleType:
    return _backend_module("openai", "served models (openai:MODEL@URL) need httpx and tenacity",
                           "pip install 'pytest-llmselect[openai]'")


def _vllm() -> ModuleType:
    return _backend_module("vllm", "vllm: candidates need vLLM", "install vllm for your CUDA version")


def check_served(candidates: "Sequence[Candidate]") -> None:
    """Before anything runs: every served candidate's key variable is set and its server answers
    ``GET /models``; otherwise one SpecError line naming the candidate and the URL."""
    served = [c for c in candidates if c.served is not None]
    if not served:
        return
    openai = _openai()
    for cand in served:
        assert cand.served is not None
        openai.probe_server(cand.served, name=cand.name, api_key=cand.served.api_key())


def is_local(cand: "Candidate") -> bool:
    """True for models run by the transformers backend in this process (zoo, directory, hub id)."""
    return cand.kind in ("zoo", "local", "gguf", "hub")


def load_backend(cand: "Candidate", *, device: str | None = None, dtype: str | None = None,
                 source: str | None = None) -> "Backend":
    """Load ``cand``'s model; candidate settings win over session-wide ``device``/``dtype``."""
    if cand.served is not None:
        return _openai().OpenAIBackend.load(cand.served, display_name=cand.name)
    if cand.kind == "vllm":
        backend = _vllm()
        target = cand.source
        if target.startswith("zoo:"):
            from pytest_llmselect.zoo import zoo_path

            target = str(zoo_path(target[4:]))
        return backend.VLLMBackend.load(target, display_name=cand.name, dtype=cand.dtype or dtype)
    hf = _hf()
    if cand.kind == "gguf":
        from pytest_llmselect.backends.gguf import load_converted

        return load_converted(cand, source or resolve_source(cand), device=cand.device or device,
                              dtype=cand.dtype or dtype)
    return hf.HFBackend.load(
        source or resolve_source(cand),
        display_name=cand.name,
        device=cand.device or device,
        dtype=cand.dtype or dtype,
        revision=cand.revision,
        trust_remote_code=cand.trust_remote_code,
    )


@dataclass
class Peak:
    bytes: int | None = None
    method: str | None = None


#: How the candidate's memory was measured (``measures.memory_method`` in the report).
MEMORY_METHODS = {
    "cuda_allocator_peak": "weights + CUDA allocator peak (torch.cuda.max_memory_allocated) during the work "
                           "above what was allocated just before it",
    "rss_peak_growth": "weights + resident-set peak during the work (VmHWM, reset just before it) above the "
                       "resident set just before it",
    "rss_growth": "weights + resident set after the work above the resident set just before it "
                  "(this system cannot reset its peak)",
}


def memory_baseline(device: str, *, release: bool = True) -> int:
    """Just before some model work: hand freed memory back (``release``; a garbage collection,
    so not before every unbatched request), return the bytes held now (0 for a served model)."""
    if device == "remote":
        return 0
    hf = _hf()
    if release:
        hf.release_freed_memory()
    return hf.current_memory(device)


@contextlib.contextmanager
def peak_memory(device: str, baseline: int = 0, weights: int = 0) -> Iterator[Peak]:
    """The candidate's own peak memory over the work inside the block, in bytes: ``weights``
    (its parameter and buffer bytes) plus the peak (reset at the start where the system
    allows) above ``baseline``, the bytes held just before the work (``memory_baseline``).
    Neither part depends on which candidates ran before. With the defaults (0, 0) it is the
    plain peak. ``peak.method`` names the measurement (``MEMORY_METHODS``). A served model
    ("remote") has no memory here to measure: the peak stays None."""
    peak = Peak()
    if device == "remote":
        yield peak
        return
    hf = _hf()
    resettable = hf.reset_peak_memory(device)
    try:
        yield peak
    finally:
        if device.startswith("cuda"):
            raw, peak.method = hf.read_peak_memory(device), "cuda_allocator_peak"
        elif resettable:
            raw, peak.method = hf.read_peak_memory(device), "rss_peak_growth"
        else:
            raw, peak.method = hf.current_memory(device), "rss_growth"
        peak.bytes = weights + max(0, raw - baseline)
