"""Backends behind one protocol, looked up lazily so importing the package stays cheap."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from pytest_llmselect.errors import MissingDependency

if TYPE_CHECKING:
    from pytest_llmselect.backends.base import Backend
    from pytest_llmselect.candidates import Candidate


def _hf():
    try:
        from pytest_llmselect.backends import hf
    except ImportError as exc:  # torch / transformers missing
        raise MissingDependency(
            f"the transformers backend needs torch and transformers ({exc.name or exc} is missing): "
            "pip install 'pytest-llmselect[hf]'"
        ) from None
    return hf


def resolve_source(cand: "Candidate") -> str:
    """Where the weights are; for a zoo model this trains it on first use (cached by recipe)."""
    if cand.kind == "zoo":
        from pytest_llmselect.zoo import zoo_path

        return str(zoo_path(cand.source))
    return cand.source


def load_backend(cand: "Candidate", *, device: str | None = None, dtype: str | None = None,
                 source: str | None = None) -> "Backend":
    """Load ``cand``'s model; candidate settings win over session-wide ``device``/``dtype``."""
    hf = _hf()
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


@contextlib.contextmanager
def peak_memory(device: str) -> Iterator[Peak]:
    """Peak memory of the work inside the block: CUDA allocator peak after a reset on GPU;
    on CPU the process's resident-set high-water mark (cannot be reset, so it is an upper bound)."""
    hf = _hf()
    peak = Peak()
    hf.reset_peak_memory(device)
    try:
        yield peak
    finally:
        peak.bytes = hf.read_peak_memory(device)
