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
from typing import Any, Callable, Iterable, Sequence, Union

from pytest_llmselect.backends.base import (
    Backend,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from pytest_llmselect.errors import BackendError, CapabilityError, Interrupted, OutOfMemory, PartialBatch, ServerFailed

Request = Union[GenerateRequest, LoglikelihoodRequest]
Result = Union[GenerateResult, LoglikelihoodResult]


@dataclass
class Measures:
    """Accumulated over a group's model work. A result served from the response cache adds what
    was measured when it was computed (its batch's latency, its share of the batch's model
    seconds, its tokens) and counts in ``cache_hits``; reading the cache is never timed."""

    model_seconds: float = 0.0
    requests: int = 0
    batches: int = 0
    unbatched_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latencies: list[float] = field(default_factory=list)        # batch latency: one per request, seconds
    first_token_seconds: list[float] = field(default_factory=list)  # one per generate request
    peak_memory_bytes: int | None = None
    cache_hits: int = 0  # requests served from the response cache (included in ``requests``)
    cache_oldest: float | None = None  # unix time the oldest of those was stored
    memory_method: str | None = None
    # Model seconds of each timed round of the group's work; ``model_seconds`` is their mean
    # (plus any unbatched work done later). Warm-up is run before and counted in neither.
    round_seconds: list[float] = field(default_factory=list)
    warmup_seconds: float = 0.0
    # Per-request latency: seconds of single requests run alone (batch size 1), on a sample.
    request_latencies: list[float] = field(default_factory=list)
    energy_joules: float | None = None  # per round of the group's work, where a counter exists
    # Each request's latency and time to first token are its own (a served model), not its
    # batch's: independent draws, so their percentiles get order-statistic intervals.
    requests_timed_alone: bool = False
    # Why this group was timed again after its first pass (run/retiming.py); None: it was not.
    timing_rounds_reason: str | None = None

    def merge(self, other: "Measures") -> None:
        self.model_seconds += other.model_seconds
        self.requests += other.requests
        self.batches += other.batches
        self.unbatched_requests += other.unbatched_requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.latencies.extend(other.latencies)
        self.first_token_seconds.extend(other.first_token_seconds)
        self.cache_hits += other.cache_hits
        if other.cache_oldest is not None:
            self.cache_oldest = min(self.cache_oldest or other.cache_oldest, other.cache_oldest)
        if other.peak_memory_bytes is not None:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, other.peak_memory_bytes)
        self.memory_method = other.memory_method or self.memory_method
        self.round_seconds.extend(other.round_seconds)
        self.warmup_seconds += other.warmup_seconds
        self.request_latencies.extend(other.request_latencies)
        if other.energy_joules is not None:
            self.energy_joules = (self.energy_joules or 0.0) + other.energy_joules
        self.requests_timed_alone = self.requests_timed_alone or other.requests_timed_alone

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


    def add_cached(self, hits: Sequence[Any]) -> None:
        """Add results served from the cache (``cache.Cached``): each carries its batch's wall
        time and size as measured when it was computed, and, where that run timed several
        rounds, each round's factor: model seconds are then the rounds' mean and the rounds are
        rebuilt, so cost and its interval are the computing run's."""
        self.batches += len({h.batch_id for h in hits})
        stored = [h.created for h in hits if getattr(h, "created", None) is not None]
        if stored:
            self.cache_oldest = min([*stored, *([self.cache_oldest] if self.cache_oldest is not None else [])])
        peaks = [h.peak_memory_bytes for h in hits if getattr(h, "peak_memory_bytes", None) is not None]
        if peaks:  # what the computing run measured: constraints on memory hold on a cached re-run
            self.peak_memory_bytes = max([self.peak_memory_bytes or 0, *peaks])
            self.memory_method = self.memory_method or next(
                (h.memory_method for h in hits if getattr(h, "memory_method", None)), None)
        lengths = {len(h.round_factors) if h.round_factors else 0 for h in hits}
        k = lengths.pop() if len(lengths) == 1 else 0
        per_round = [0.0] * k
        for h in hits:
            share = h.batch_seconds / max(h.batch_size, 1)
            if k:
                for i, f in enumerate(h.round_factors):
                    per_round[i] += share * f
            else:
                self.model_seconds += share
            self.requests += 1
            self.cache_hits += 1
            self.latencies.append(h.batch_seconds)
            r = h.result
            self.input_tokens += r.input_tokens
            if isinstance(r, GenerateResult):
                self.output_tokens += r.output_tokens
                if r.first_token_seconds is not None:
                    self.first_token_seconds.append(r.first_token_seconds)
        if k:
            self.model_seconds += sum(per_round) / k
            if not self.round_seconds:
                self.round_seconds = per_round
            elif len(self.round_seconds) == k:  # computed and cached parts timed alike: add round by round
                self.round_seconds = [a + b for a, b in zip(self.round_seconds, per_round)]


def _length(req: Request) -> int:
    if isinstance(req, GenerateRequest):
        return sum(len(m.content) for m in req.messages) if req.messages is not None else len(req.prompt)
    return len(req.context) + len(req.continuation)


def _gen_key(req: GenerateRequest) -> tuple:
    return (req.max_new_tokens, req.stop, req.is_chat)


def _by_kind(requests: Iterable[Request]) -> list[list[Request]]:
    """Distinct requests, split by kind (and generation settings), longest first."""
    unique = list(dict.fromkeys(requests))
    by_kind: dict[tuple, list[Request]] = {}
    for req in unique:
        key = ("gen", *_gen_key(req)) if isinstance(req, GenerateRequest) else ("ll",)
        by_kind.setdefault(key, []).append(req)
    return [sorted(by_kind[key], key=_length, reverse=True) for key in sorted(by_kind, key=repr)]


def plan_batches(requests: Iterable[Request], batch_size: int) -> list[list[Request]]:
    """Distinct requests, split by kind (and generation settings), longest first, in batches."""
    return [group[i:i + batch_size] for group in _by_kind(requests) for i in range(0, len(group), batch_size)]


AUTO_START = 512  # --llm-batch-size=auto tries this many requests in one batch first


@dataclass
class BatchSizer:
    """The largest batch to try next. After an out-of-memory error the batch is split in half and
    retried, and the smaller size sticks for the later batches (longest requests come first, so
    what fits them fits the rest). ``auto`` starts at ``AUTO_START``, as lm-evaluation-harness's
    ``auto`` searches down from a large size. ``splits`` counts the out-of-memory retries."""

    size: int
    auto: bool = False
    splits: int = 0

    @classmethod
    def of(cls, batch_size: int | str) -> "BatchSizer":
        return cls(AUTO_START, auto=True) if batch_size == "auto" else cls(int(batch_size))


OnBatch = Callable[[Sequence[Request], Sequence[Result], float], None]
# Called with each request's result as soon as it arrives, by a backend whose requests end
# separately (``answers_separately``: a served model), on the backend's own thread.
OnResult = Callable[[Request, Result], None]


def _call(backend: Backend, batch: Sequence[Request], on_result: OnResult | None) -> Sequence[Result]:
    """One batch through the backend; ``on_result`` goes to a backend that answers separately."""
    extra = {"on_result": on_result} if on_result is not None and getattr(backend, "answers_separately", False) \
        else {}
    if isinstance(batch[0], GenerateRequest):
        return backend.generate(batch, batch_size=len(batch), **extra)  # type: ignore[call-arg]
    return backend.loglikelihood(batch, batch_size=len(batch), **extra)  # type: ignore[call-arg]


@dataclass(frozen=True)
class RequestFailed:
    """The result slot of a request that could not run; the case that asks for it fails with
    ``error`` (one line) and the other requests of its batch keep their results.
    ``capability``: the message of a ``CapabilityError`` (the candidate cannot do what the
    case asks), so the case fails with that one line and no traceback."""

    error: str
    capability: str | None = None
    unreachable: bool = False  # a served model's server failed it (``ServerFailed``): the case is not run
    reason: str | None = None  # why, for the report's "not run" line
    interrupted: bool = False  # cancelled by Ctrl-C before its answer came


def run_requests(
    backend: Backend,
    requests: Sequence[Request],
    *,
    batch_size: int | BatchSizer,
    measures: Measures,
    on_batch: OnBatch | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_result: OnResult | None = None,
) -> dict[Request, Result | RequestFailed]:
    """Run ``requests`` in length-sorted batches; results keyed by request.

    ``on_batch(batch, results, seconds)`` is called after each finished batch (the response cache
    stores it there, so a kill loses at most the batch in flight). An ``OutOfMemory`` from the
    backend splits the batch (see ``BatchSizer``); at batch size 1 it raises ``BackendError``
    with a one-line reason. A ``PartialBatch`` (a served model's requests end separately) keeps
    the finished results and fails only the failed requests, re-sending nothing. Any other
    failure of a batch is split in halves down to the request
    that cannot run (an empty context on a model with no BOS/EOS token, a tokenizer error),
    which gets a ``RequestFailed``: one bad request costs only its own case.
    ``on_progress(done, total)`` gets the batches finished and the batches planned so far (the
    plan grows when a batch is split), after each batch. ``on_result(request, result)``: each
    result as it arrives, from a backend that answers requests separately (a served model:
    the response cache keeps each answer at once, so a kill loses only the requests in flight).
    """
    sizer = batch_size if isinstance(batch_size, BatchSizer) else BatchSizer(batch_size)
    out: dict[Request, Result | RequestFailed] = {}
    groups = _by_kind(requests)
    done = 0
    for index, group in enumerate(groups):
        i = 0
        while i < len(group):
            batch = group[i:i + sizer.size]
            # Results come back as Python values, so on a GPU the clock stops after the device finished.
            start = time.perf_counter()
            try:
                results: Sequence[Result] = _call(backend, batch, on_result)
            except OutOfMemory as exc:
                if len(batch) == 1:
                    raise BackendError(f"out of memory even at batch size 1 ({exc})") from exc
                sizer.size = max(1, len(batch) // 2)
                sizer.splits += 1
                continue
            except PartialBatch as exc:
                out.update(_keep_finished(batch, exc, time.perf_counter() - start, measures, on_batch))
            except Exception as exc:  # noqa: BLE001 - one request that cannot run must not cost the others
                out.update(_isolate(backend, batch, measures, on_batch, on_result) if len(batch) > 1
                           else {batch[0]: _failed(exc)})
            else:
                seconds = time.perf_counter() - start
                measures.add_batch(seconds, results)
                out.update(zip(batch, results))
                if on_batch is not None:
                    on_batch(batch, results, seconds)
            i += len(batch)
            done += 1
            if on_progress is not None:
                left = -(-(len(group) - i) // sizer.size) + sum(-(-len(g) // sizer.size) for g in groups[index + 1:])
                on_progress(done, done + left)
    return out


def _failed(exc: Exception) -> RequestFailed:
    lines = str(exc).strip().splitlines()
    return RequestFailed(f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": "),
                         capability=str(exc) if isinstance(exc, CapabilityError) else None,
                         unreachable=isinstance(exc, ServerFailed),
                         reason=exc.reason if isinstance(exc, ServerFailed) else None,
                         interrupted=isinstance(exc, Interrupted))


def _keep_finished(batch: Sequence[Request], exc: PartialBatch, seconds: float, measures: Measures,
                   on_batch: OnBatch | None) -> dict[Request, Result | RequestFailed]:
    """A batch whose requests ended separately: the finished ones are kept (measured, cached)
    as a whole batch would be, each failed one gets its own ``RequestFailed``."""
    done = [(r, o) for r, o in zip(batch, exc.outcomes) if not isinstance(o, BaseException)]
    if done:
        measures.add_batch(seconds, [o for _, o in done])
        if on_batch is not None:
            on_batch([r for r, _ in done], [o for _, o in done], seconds)
    out: dict[Request, Result | RequestFailed] = dict(done)
    out.update((r, _failed(o)) for r, o in zip(batch, exc.outcomes) if isinstance(o, BaseException))
    return out


def _isolate(backend: Backend, batch: list[Request], measures: Measures,
             on_batch: OnBatch | None, on_result: OnResult | None = None) -> dict[Request, Result | RequestFailed]:
    """Run a batch of two or more that failed as two halves, recursively, down to the
    requests that fail on their own."""
    half = len(batch) // 2
    out: dict[Request, Result | RequestFailed] = {}
    for part in (batch[:half], batch[half:]):
        start = time.perf_counter()
        try:
            out.update(_run_batch(backend, part, measures, on_batch, on_result))
        except PartialBatch as exc:
            out.update(_keep_finished(part, exc, time.perf_counter() - start, measures, on_batch))
        except Exception as exc:  # noqa: BLE001
            out.update({part[0]: _failed(exc)} if len(part) == 1
                       else _isolate(backend, part, measures, on_batch, on_result))
    return out


def _run_batch(backend: Backend, batch: list[Request], measures: Measures,
               on_batch: OnBatch | None, on_result: OnResult | None = None) -> dict[Request, Result]:
    start = time.perf_counter()
    results = _call(backend, batch, on_result)
    seconds = time.perf_counter() - start
    measures.add_batch(seconds, results)
    if on_batch is not None:
        on_batch(batch, results, seconds)
    return dict(zip(batch, results))


def warm_up(backend: Backend, requests: Sequence[Request], batch_size: int | BatchSizer) -> float:
    """Run the first (largest) batch of each kind of request, untimed: lazy initialisation and
    first allocations land here instead of on whichever candidate happens to run first. At most
    32 requests a kind (a served model's "batch" is the whole group); a ``BatchSizer`` is shared,
    so an out-of-memory split found here holds for the timed rounds too."""
    size = min(32, batch_size.size if isinstance(batch_size, BatchSizer) else batch_size)
    seen: set[tuple] = set()
    scratch = Measures()
    for batch in plan_batches(requests, size):
        kind = type(batch[0]), getattr(batch[0], "max_new_tokens", None)
        if kind not in seen:
            seen.add(kind)
            run_requests(backend, batch, batch_size=batch_size, measures=scratch)
    return scratch.model_seconds


def combine_rounds(rounds: list[Measures], timed: bool) -> Measures:
    """One round's counts, the mean model seconds of the timed rounds, and the first timed
    round's latencies: the round whose results (and batch times) a response cache stores, so a
    cached re-run reports the same latency figures."""
    last = rounds[-1]
    if not timed:
        return last
    last.round_seconds = [m.model_seconds for m in rounds]
    last.model_seconds = sum(last.round_seconds) / len(rounds)
    last.latencies = list(rounds[0].latencies)
    last.first_token_seconds = list(rounds[0].first_token_seconds)
    energies = [m.energy_joules for m in rounds]
    last.energy_joules = None if None in energies else sum(energies) / len(rounds)  # type: ignore[arg-type]
    return last


def request_latencies(backend: Backend, requests: Sequence[Request], sample: int) -> list[float]:
    """Seconds of ``sample`` requests, each run alone (batch size 1): what one caller waits when
    requests are served one at a time. Evenly spaced over the distinct requests, so the same
    cases are sampled on every run."""
    unique = list(dict.fromkeys(requests))
    picked = unique if sample >= len(unique) else [unique[i * len(unique) // sample] for i in range(sample)]
    scratch = Measures()
    for req in picked:
        run_requests(backend, [req], batch_size=1, measures=scratch)
    return list(scratch.latencies)
