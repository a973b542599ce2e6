"""Batched model work for one (task, candidate) group, and what it measured.

The session gathers every request the group's cases will make, hands them here
once, and later cases are served from the results. Requests are sorted by length
and cut into batches here (not only inside the backend) so each batch can be timed:
a request's latency is the wall time of the batch that served it, which is what a
caller of a batched server experiences. A served backend, whose requests run
concurrently one by one, reports each request's own latency instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence, Union

from pytest_llmselect.backends.base import (
    Backend,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)

Request = Union[GenerateRequest, LoglikelihoodRequest]
Result = Union[GenerateResult, LoglikelihoodResult]


@dataclass
class Measures:
    """Accumulated over a group's model work (never over cache hits)."""

    model_seconds: float = 0.0
    requests: int = 0
    batches: int = 0
    unbatched_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latencies: list[float] = field(default_factory=list)        # one per request, seconds
    first_token_seconds: list[float] = field(default_factory=list)  # one per generate request
    peak_memory_bytes: int | None = None

    def merge(self, other: "Measures") -> None:
        self.model_seconds += other.model_seconds
        self.requests += other.requests
        self.batches += other.batches
        self.unbatched_requests += other.unbatched_requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.latencies.extend(other.latencies)
        self.first_token_seconds.extend(other.first_token_seconds)
        if other.peak_memory_bytes is not None:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, other.peak_memory_bytes)

    def add_batch(self, seconds: float, results: Sequence[Result]) -> None:
        self.model_seconds += seconds
        self.batches += 1
        self.requests += len(results)
        for r in results:
            self.latencies.append(seconds if r.latency_seconds is None else r.latency_seconds)
            if isinstance(r, GenerateResult):
                self.input_tokens += r.input_tokens
                self.output_tokens += r.output_tokens
                if r.first_token_seconds is not None:
                    self.first_token_seconds.append(r.first_token_seconds)
            else:
                self.input_tokens += r.input_tokens


def _length(req: Request) -> int:
    if isinstance(req, GenerateRequest):
        return sum(len(m.content) for m in req.messages) if req.messages is not None else len(req.prompt)
    return len(req.context) + len(req.continuation)


def _gen_key(req: GenerateRequest) -> tuple:
    return (req.max_new_tokens, req.stop, req.is_chat)


def plan_batches(requests: Iterable[Request], batch_size: int) -> list[list[Request]]:
    """Distinct requests, split by kind (and generation settings), longest first, in batches."""
    unique = list(dict.fromkeys(requests))
    by_kind: dict[tuple, list[Request]] = {}
    for req in unique:
        key = ("gen", *_gen_key(req)) if isinstance(req, GenerateRequest) else ("ll",)
        by_kind.setdefault(key, []).append(req)
    batches: list[list[Request]] = []
    for key in sorted(by_kind, key=repr):
        group = sorted(by_kind[key], key=_length, reverse=True)
        batches.extend(group[i:i + batch_size] for i in range(0, len(group), batch_size))
    return batches


def run_requests(
    backend: Backend,
    requests: Sequence[Request],
    *,
    batch_size: int,
    measures: Measures,
) -> dict[Request, Result]:
    """Run ``requests`` in length-sorted batches; results keyed by request."""
    out: dict[Request, Result] = {}
    for batch in plan_batches(requests, batch_size):
        # Results come back as Python values, so on a GPU the clock stops after the device finished.
        start = time.perf_counter()
        if isinstance(batch[0], GenerateRequest):
            results: Sequence[Result] = backend.generate(batch, batch_size=len(batch))
        else:
            results = backend.loglikelihood(batch, batch_size=len(batch))
        measures.add_batch(time.perf_counter() - start, results)
        out.update(zip(batch, results))
    return out
