"""Checks run at configure time, before any model loads: each bad input is one ``SpecError``
line (pytest prints ``ERROR: ...`` and exits with code 4) instead of a failure per case."""

from __future__ import annotations

import os
import re
import socket
from typing import Sequence
from urllib.parse import urlparse

from pytest_llmselect.candidates import Candidate
from pytest_llmselect.errors import BackendError, MissingDependency, SpecError

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
_TRUE = ("1", "true", "yes", "on")


def check_device(device: str | None, where: str = "--llm-device") -> None:
    """An unknown device name, or CUDA asked for where there is none, is a ``SpecError``.
    Imports torch only when a CUDA or MPS device is named."""
    if device is None:
        return
    if not _DEVICE.match(device):
        raise SpecError(f"{where} must be cpu, cuda, cuda:N or mps, got {device!r}")
    if device == "cpu":
        return
    try:
        from pytest_llmselect.backends import _hf

        hf = _hf()
        if device == "mps":
            import torch

            if not torch.backends.mps.is_available():
                raise BackendError(f"device {device!r} was requested but MPS is not available")
        else:
            hf.resolve_device(device)
    except (BackendError, MissingDependency) as exc:
        raise SpecError(f"{where}: {exc}; use --llm-device=cpu or leave it unset") from None


def _offline() -> bool:
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except ImportError:
        return True  # the backend will say which extra is missing
    parsed = urlparse(endpoint)
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    if not host:
        return True
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached(cand: Candidate) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return True
    found = try_to_load_from_cache(cand.source, "config.json", revision=cand.revision)
    return isinstance(found, str)


def check_hub_candidates(candidates: Sequence[Candidate]) -> None:
    """A hub id that is neither in the local cache nor downloadable (offline mode, or the
    hub unreachable) is a ``SpecError`` now, not minutes of retries and a traceback per case."""
    missing = [c for c in candidates if c.kind == "hub" and not _cached(c)]
    if not missing:
        return
    names = ", ".join(dict.fromkeys(c.spec for c in missing))  # a model and its configurations: once
    if _offline():
        raise SpecError(f"{names}: not in the local Hugging Face cache, and the hub is switched off "
                        "(HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE); download it first or use a local directory")
    if not _hub_reachable():
        raise SpecError(f"{names}: not in the local Hugging Face cache, and the hub cannot be reached; "
                        "download it first (with network) or use a local directory")
