"""How many loaded models may stay in memory at once: ``--llm-max-memory`` and the
least-recently-used rule behind it.

Pure: no pytest, no torch, no I/O. The model pool (``run/pool.py``) measures or estimates each
model's footprint (its weights' bytes) and asks ``evictions`` which loaded models to free before
the next one loads.

``auto`` (the default) is the largest footprint among the run's candidates, so peak memory is
no higher than running the largest candidate alone, while several smaller ones stay loaded
together (a race's stages then reload nothing that fits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from pytest_llmselect.errors import SpecError

_SIZE = re.compile(r"[0-9]+(\.[0-9]+)?\s*[A-Za-z]{0,3}", re.ASCII)

__all__ = ["MemoryBudget", "parse_max_memory", "evictions", "budget_bytes", "format_bytes"]


@dataclass(frozen=True)
class MemoryBudget:
    """``--llm-max-memory``: ``limit`` bytes, or None for ``auto`` (the largest candidate's footprint)."""

    limit: int | None = None

    def text(self) -> str:
        return "auto" if self.limit is None else format_bytes(self.limit)


def format_bytes(n: int) -> str:
    for unit, size in (("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n}B"


def parse_max_memory(value: object) -> MemoryBudget:
    """``auto`` (or empty), or a size with an optional unit: ``2GB``, ``500MB``, ``1.5GiB``,
    ``123456`` (bytes); decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units, any case.
    Anything else, or zero, is a ``SpecError`` naming the value."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "auto"):
        return MemoryBudget(None)
    from pydantic import ByteSize, TypeAdapter, ValidationError

    size = -1
    if _SIZE.fullmatch(text):  # pydantic's own pattern accepts trailing words ("2 GB extra")
        try:
            size = int(TypeAdapter(ByteSize).validate_python(text))
        except (ValidationError, ValueError, OverflowError):
            pass
    if size <= 0:
        raise SpecError(f"--llm-max-memory must be 'auto' or a size such as 2GB or 500MB, got {value!r}")
    return MemoryBudget(size)


def budget_bytes(budget: MemoryBudget, footprints: Iterable[int | None]) -> int | None:
    """The budget in bytes: its limit, or for ``auto`` the largest known footprint (None when
    none is known yet: then each model is loaded alone)."""
    if budget.limit is not None:
        return budget.limit
    known = [f for f in footprints if f is not None]
    return max(known) if known else None


def evictions(loaded: Sequence[tuple[str, int | None]], need: int | None, budget: int | None) -> list[str]:
    """Which of ``loaded`` (name, footprint; least recently used first) to free so that a model
    of footprint ``need`` fits within ``budget`` beside the rest: the least recently used first,
    as few as that takes. An unknown footprint (None) or budget fits beside nothing: all go.
    A model larger than the budget alone still loads, alone."""
    if need is None or budget is None or any(f is None for _, f in loaded):
        return [name for name, _ in loaded]
    held = sum(f for _, f in loaded if f is not None)
    out: list[str] = []
    for name, f in loaded:
        if held + need <= budget:
            break
        out.append(name)
        held -= f or 0
    return out
