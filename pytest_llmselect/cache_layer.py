"""The session's side of the response cache (``cache.py``): opens the file on first use,
identifies each loaded model once, serves hits and stores what is computed, batch by batch or,
for a served model, answer by answer as each arrives. Any failure (unwritable folder, locked
or corrupt file) is one warning line and the cache switches off; the run goes on.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pytest_llmselect.backends.base import ModelInfo
from pytest_llmselect.cache import Cached, ResponseCache, model_identity
from pytest_llmselect.engine import OnBatch, Request, Result

__all__ = ["CacheLayer"]


class CacheLayer:
    """The session's side of the cache, between it and the backend: opens the file on first use,
    identifies each loaded model once, serves hits and stores each computed batch. Any failure
    (unwritable folder, locked or corrupt file) is one ``warn`` line and the cache switches off;
    the run goes on. ``path`` ``None`` means off."""

    def __init__(self, path: Path | None, mode: str, warn: Callable[[str], None], *,
                 max_age_s: float | None = None) -> None:
        self.path, self.mode, self._warn = path, mode, warn
        self.max_age_s = max_age_s  # served models' answers older than this are sent again
        self._cache: ResponseCache | None = None
        self._opened = False
        self._keys: dict[str, tuple[str, dict[str, Any]] | None] = {}

    def _open(self) -> ResponseCache | None:
        if not self._opened:
            self._opened = True
            if self.path is not None and self.mode != "off":
                try:
                    self._cache = ResponseCache(self.path, self.mode)
                except FileNotFoundError:
                    pass  # --llm-cache=read and nothing cached yet: every request is a miss
                except (OSError, sqlite3.Error) as exc:
                    self._problem(exc)
        return self._cache

    def _problem(self, exc: BaseException) -> None:
        self._warn(f"cannot use the response cache {self.path} ({getattr(exc, 'strerror', None) or exc}); "
                   "the run goes on without it")
        self._cache = None

    def lookup(self, name: str, source: str, info: ModelInfo, requests: Sequence[Request]
               ) -> tuple[dict[Request, Cached], OnBatch | None]:
        """Cached results among ``requests`` of the model ``name`` loaded from ``source``, and the
        callback that stores each batch computed for the others (``None``: nothing is stored)."""
        cache = self._open()
        if cache is None:
            return {}, None
        try:
            if name not in self._keys:
                identity = model_identity(source, info.extra, dtype=info.dtype, device=info.device, memo=cache)
                self._keys[name] = None if identity is None else (cache.model_key(identity), identity)
            keyed = self._keys[name]
            if keyed is None:
                return {}, None  # cannot tell this model from another: never cache it
            key, identity = keyed
            max_age = self.max_age_s if "served" in identity else None
            hits = cache.get_many(key, requests, max_age_s=max_age)
        except (OSError, sqlite3.Error) as exc:
            self._problem(exc)
            return {}, None
        store = _Store(self, key, identity, f"{name} ({source})", max_age) if cache.writable else None
        return hits, store

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None


class _Store:
    """Stores each batch computed for one group (an ``OnBatch``), then, once its timed rounds
    are known, how each round compares with the one stored (``rounds``)."""

    def __init__(self, layer: CacheLayer, key: str, identity: dict[str, Any], label: str,
                 max_age_s: float | None = None) -> None:
        self._layer, self._key, self._identity, self._label = layer, key, identity, label
        self._max_age_s = max_age_s
        self.batch_ids: list[str] = []
        self._alone: dict[Request, str] = {}  # answers stored one by one, by the batch id each got

    def __call__(self, batch: Sequence[Request], results: Sequence[Result], seconds: float) -> None:
        supersede = [(r, self._alone.pop(r)) for r in batch if r in self._alone]
        gone = {old for _, old in supersede}
        self._put(batch, results, seconds, supersede)
        self.batch_ids = [b for b in self.batch_ids if b not in gone] if gone else self.batch_ids

    def one(self, request: Request, result: Result) -> None:
        """Keep one answer the moment it arrives (a batch of one, timed by its own round trip)."""
        seconds = getattr(result, "latency_seconds", None) or 0.0
        batch_id = self._put([request], [result], seconds, ())
        if batch_id is not None:
            self._alone[request] = batch_id

    def _put(self, batch: Sequence[Request], results: Sequence[Result], seconds: float,
             supersede: Sequence[tuple[Request, str]]) -> str | None:
        cache = self._layer._cache
        if cache is None:
            return None
        try:
            replace = None if self._max_age_s is None else time.time() - self._max_age_s
            batch_id = cache.put_batch(self._key, self._identity, self._label, list(zip(batch, results)), seconds,
                                       replace_before=replace, supersede=supersede)
        except (OSError, sqlite3.Error) as exc:
            self._layer._problem(exc)
            return None
        if batch_id is not None:
            self.batch_ids.append(batch_id)
        return batch_id

    def rounds(self, factors: Sequence[float]) -> None:
        cache = self._layer._cache
        if cache is None:
            return
        try:
            cache.put_rounds(self.batch_ids, factors)
        except (OSError, sqlite3.Error) as exc:
            self._layer._problem(exc)

    def memory(self, peak_memory_bytes: int | None, method: str | None) -> None:
        """Keep the group's peak memory with its stored batches, for a cached re-run's constraints."""
        cache = self._layer._cache
        if cache is None:
            return
        try:
            cache.put_memory(self.batch_ids, peak_memory_bytes, method)
        except (OSError, sqlite3.Error) as exc:
            self._layer._problem(exc)
