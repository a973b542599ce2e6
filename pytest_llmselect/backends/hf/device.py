"""Where the transformers backend's tensors live: the device and dtype a candidate runs in,
waiting for queued device work, padded batches, and recognising an out-of-memory error."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from pytest_llmselect.errors import BackendError, OutOfMemory

__all__ = ["DTYPES", "is_oom", "out_of_memory_as", "pad", "resolve_device", "resolve_dtype", "synchronize"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def is_oom(exc: BaseException) -> bool:
    """CUDA's out-of-memory error, or the CPU allocator's (a RuntimeError naming the allocation)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


@contextlib.contextmanager
def out_of_memory_as(message: str) -> Iterator[None]:
    """An out-of-memory error inside the block becomes ``OutOfMemory(message)``; others pass."""
    try:
        yield
    except RuntimeError as exc:
        if not is_oom(exc):
            raise
        raise OutOfMemory(message) from exc


def resolve_device(device: str | None) -> torch.device:
    """``None`` means CUDA when available, else CPU; an unusable device is a ``BackendError``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str):
        raise BackendError(
            f"device must be a str such as 'cpu' or 'cuda:0', got {device!r} of type {type(device).__name__}"
        )
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise BackendError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} was requested but CUDA is not available")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise BackendError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    return resolved


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype | str:
    """``None`` means bfloat16 on CUDA and float32 elsewhere; ``"auto"`` defers to the checkpoint."""
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype == "auto":
        return "auto"
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise BackendError(f"dtype must be one of 'auto', {', '.join(map(repr, DTYPES))}, got {dtype!r}")


def synchronize(device: str | torch.device) -> None:
    """Wait for queued device work, so a clock read afterwards means something."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pad(rows: list[list[int]], pad_id: int, device: torch.device, *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` as one (ids, attention mask) pair of tensors on ``device``, padded to the longest row."""
    width = max(len(r) for r in rows)
    ids = [([pad_id] * (width - len(r)) + r) if left else (r + [pad_id] * (width - len(r))) for r in rows]
    mask = [([0] * (width - len(r)) + [1] * len(r)) if left else ([1] * len(r) + [0] * (width - len(r))) for r in rows]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)
